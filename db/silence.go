package db

import (
	"database/sql/driver"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"time"

	"github.com/go-sql-driver/mysql"
)

// DefaultTimeout is the Config.Timeout of a zero Config: longer than any
// statement of the audit takes on a healthy server (the longest, reading a
// million rows' first packet or writing a chunk of 1000 rows, takes well
// under a second), short enough that a server that stopped answering is
// noticed within the minute.
const DefaultTimeout = 30 * time.Second

// ErrNoAnswer reports that the server said nothing for Config.Timeout
// while a call waited for it: it is stopped (SIGSTOP, a frozen VM), or the
// network between drops packets without a reset. The connection was given
// up; the server's state is what it would be after any lost connection.
var ErrNoAnswer = errors.New("db: the server did not answer")

// silence is how a Store knows that a connection failed because the server
// said nothing for the timeout: go-sql-driver/mysql logs the deadline it
// hit to the connector's logger and returns a bare ErrInvalidConn, so the
// logger notes when that happened and explain ties the two together.
type silence struct {
	timeout time.Duration
	last    atomic.Int64 // UnixNano of the last deadline hit; 0: none
}

// Print is mysql.Logger's: the driver calls it with the error that ended a
// connection (and with warnings, which are dropped, as before).
func (s *silence) Print(v ...any) {
	for _, x := range v {
		if err, ok := x.(error); ok && errors.Is(err, os.ErrDeadlineExceeded) {
			s.last.Store(time.Now().UnixNano())
		}
	}
}

// recently is how long after the driver logged a deadline a lost
// connection is blamed on it: the driver returns its error right after
// logging, so a second is ample and does not blame an unrelated later loss.
const recently = time.Second

// explain returns err wrapped in ErrNoAnswer when the server's silence
// caused it, as cause (err before its password was removed, whose chain is
// whole) tells, and err itself otherwise.
func (s *silence) explain(cause, err error) error {
	if s == nil || err == nil || errors.Is(cause, ErrNoAnswer) {
		return err
	}
	lost := errors.Is(cause, mysql.ErrInvalidConn) || errors.Is(cause, driver.ErrBadConn)
	if last := s.last.Load(); errors.Is(cause, os.ErrDeadlineExceeded) ||
		lost && last != 0 && time.Since(time.Unix(0, last)) < recently {
		return fmt.Errorf("%w within %s: %w", ErrNoAnswer, s.timeout, err)
	}
	return err
}
