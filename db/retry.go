package db

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/go-sql-driver/mysql"
)

// Why a failed chunk of WriteSizes may be written again.
//
// A chunk is one guarded UPDATE in one transaction. When the transaction
// fails before COMMIT has returned, the server rolled it back (a deadlock
// rolls back the whole transaction; after a lock wait timeout or a lost
// connection WriteSizes rolls back, or the server does when the connection
// closes), so none of its rows changed and writing the chunk again is safe.
//
// A failure of COMMIT itself is ambiguous: the connection may have been lost
// after the server committed but before the answer arrived. Writing the chunk
// again is still safe because the UPDATE is idempotent: it sets the same
// sizes and the same verified time under the same guard (live, path
// unchanged), so a row that was written already is written with the same
// values, and a row the application changed in between is left alone either
// way. The only cost is in the count: a row written by the first COMMIT and
// changed by the application before the retry is not counted.

// MySQL and MariaDB error numbers that make a chunk worth trying again.
const (
	erLockWaitTimeout          = 1205 // ER_LOCK_WAIT_TIMEOUT: another transaction held a row too long
	erLockDeadlock             = 1213 // ER_LOCK_DEADLOCK: the server rolled the transaction back
	erConnectionKilled         = 1927 // ER_CONNECTION_KILLED (MariaDB): KILL, shutdown
	erClientInteractionTimeout = 4031 // ER_CLIENT_INTERACTION_TIMEOUT (MySQL 8): idle connection closed
)

// backoff says how often and how patiently a failed operation is tried again.
type backoff struct {
	attempts int           // tries in all, the first included
	first    time.Duration // pause after the first failure; doubled after each
	max      time.Duration // longest pause
}

// writeRetry is the policy of WriteSizes for one chunk: four attempts, with
// pauses of 100ms, 200ms and 400ms between them. Only one audit writes at a
// time (see Store.Lock), so there is no crowd of writers to spread out with
// jitter.
var writeRetry = backoff{attempts: 4, first: 100 * time.Millisecond, max: 400 * time.Millisecond}

// pause returns the wait after failed attempt number n (1-based).
func (b backoff) pause(n int) time.Duration {
	d := b.first
	for i := 1; i < n && d < b.max; i++ {
		d *= 2
	}
	return min(d, b.max)
}

// do calls op until it succeeds, fails with an error that is not retryable,
// has been called b.attempts times, or ctx is done; it returns the number of
// calls and op's last error. Before each pause it calls onRetry, when not nil,
// with the failure, the number of the attempt that failed and the pause. A
// ctx that ends during a pause ends do at once with an error that matches
// both ctx.Err() and op's last error.
func (b backoff) do(ctx context.Context, op func() error, onRetry func(err error, attempt int, wait time.Duration)) (int, error) {
	for attempt := 1; ; attempt++ {
		err := op()
		if err == nil {
			return attempt, nil
		}
		if ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
			return attempt, fmt.Errorf("%w: %w", ctx.Err(), err)
		}
		if attempt >= b.attempts || !retryable(err) {
			return attempt, err
		}
		wait := b.pause(attempt)
		if onRetry != nil {
			onRetry(err, attempt, wait)
		}
		timer := time.NewTimer(wait)
		select {
		case <-timer.C:
		case <-ctx.Done():
			timer.Stop()
			return attempt, fmt.Errorf("%w while waiting to retry: %w", ctx.Err(), err)
		}
	}
}

// retryable reports whether err is a failure after which the same
// transaction may simply be run again: a lock wait timeout, a deadlock or a
// lost connection. Anything else the server answered (a syntax error, a
// missing privilege, a constraint) would fail the same way again, a
// cancelled context means stop, and a lost Lock (whose connection broke, so
// its error wraps a connection error) means another audit may be writing.
func retryable(err error) bool {
	if errors.Is(err, ErrLockLost) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		switch me.Number {
		case erLockWaitTimeout, erLockDeadlock, erConnectionKilled, erClientInteractionTimeout:
			return true
		}
		return false
	}
	return connectionLost(err)
}

// connectionLost reports whether err says the connection broke: the driver
// found it dead before sending (driver.ErrBadConn), lost it while waiting for
// an answer (mysql.ErrInvalidConn, io.EOF), or could not reach the server
// (*net.OpError).
func connectionLost(err error) bool {
	if errors.Is(err, driver.ErrBadConn) || errors.Is(err, mysql.ErrInvalidConn) ||
		errors.Is(err, sql.ErrConnDone) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return true
	}
	var oe *net.OpError
	return errors.As(err, &oe)
}
