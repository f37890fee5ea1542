package db

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"
)

// WriteSizes writes the measured sizes of batch to session_file_size_bytes
// and verifiedAt to session_storage_verified_at, and touches no other column.
// A row is written only while it is live (deleted_at IS NULL, when the table
// has that column) and its session_storage_path still equals, byte for byte,
// the StoragePath the update carries; other rows are left alone and not
// counted.
//
// The batch is written in chunks of Config.BatchSize rows, each one UPDATE
// statement in its own transaction, so a row is either written whole or not
// at all. WriteSizes returns the number of rows written (matched by the
// guard, whether or not their values changed). When an id appears more than
// once in a chunk, its first entry wins.
//
// A chunk that fails with a lost connection, a lock wait timeout or a
// deadlock is written again, up to four attempts in all with pauses of 100ms,
// 200ms and 400ms (Config.OnRetry hears of each); retry.go says why that is
// safe. Any other error, the last attempt's error, or the end of ctx stops
// WriteSizes: it returns the rows of the chunks already committed with the
// error, and later chunks are not tried.
//
// While the Store holds a Lock, WriteSizes checks before each attempt that
// the lock is still held, and stops with an error matching ErrLockLost when
// it is not.
func (s *Store) WriteSizes(ctx context.Context, batch []SizeUpdate, verifiedAt time.Time) (written int, err error) {
	for chunk := range slices.Chunk(batch, s.batchSize) {
		n, err := s.writeChunk(ctx, chunk, verifiedAt)
		if err != nil {
			return written, err
		}
		written += n
	}
	return written, nil
}

// writeChunk writes one chunk, trying again as writeRetry allows. Errors are
// classified before the password is removed from them: removing it may cut
// the server's error out of the chain.
func (s *Store) writeChunk(ctx context.Context, chunk []SizeUpdate, verifiedAt time.Time) (int, error) {
	var n int
	onRetry := func(err error, attempt int, wait time.Duration) {
		if s.onRetry != nil {
			s.onRetry(s.redact.errorf("%w", err), attempt, wait)
		}
	}
	attempts, err := writeRetry.do(ctx, func() error {
		if err := s.checkLocks(ctx); err != nil {
			return fmt.Errorf("update sizes of %d rows of %s: %w", len(chunk), s.table, err)
		}
		var err error
		n, err = s.writeChunkOnce(ctx, chunk, verifiedAt)
		return err
	}, onRetry)
	switch {
	case err == nil:
		return n, nil
	case attempts > 1:
		return 0, s.redact.errorf("%w (attempt %d of %d)", err, attempts, writeRetry.attempts)
	default:
		return 0, s.redact.errorf("%w", err)
	}
}

// writeChunkOnce runs the UPDATE of one chunk in one transaction, on a
// connection of its own: when the outcome of the transaction is unknown (the
// COMMIT or the ROLLBACK failed), the connection is closed rather than
// returned to the pool, where a transaction left open on the server would be
// committed by the next BEGIN.
func (s *Store) writeChunkOnce(ctx context.Context, chunk []SizeUpdate, verifiedAt time.Time) (n int, err error) {
	q, args := s.updateStatement(chunk, verifiedAt)
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return 0, fmt.Errorf("begin size update of %s: %w", s.table, err)
	}
	clean := false
	defer func() {
		if clean {
			conn.Close()
		} else {
			discard(conn)
		}
	}()
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("begin size update of %s: %w", s.table, err)
	}
	n, err = execUpdate(ctx, tx, q, args)
	if err != nil {
		clean = tx.Rollback() == nil
		return 0, fmt.Errorf("update sizes of %d rows of %s: %w", len(chunk), s.table, err)
	}
	if err := tx.Commit(); err != nil {
		// The server may have committed before the connection broke; the
		// retry is safe all the same (see retry.go), but this connection's
		// state is unknown.
		return 0, fmt.Errorf("commit sizes of %d rows of %s: %w", len(chunk), s.table, err)
	}
	clean = true
	return n, nil
}

func execUpdate(ctx context.Context, tx *sql.Tx, q string, args []any) (int, error) {
	res, err := tx.ExecContext(ctx, q, args...)
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, err
	}
	return int(n), nil
}

// updateStatement builds the guarded UPDATE of one chunk:
//
//	UPDATE t SET session_file_size_bytes = CASE id WHEN ? THEN ? ... END,
//	  session_storage_verified_at = ?
//	WHERE id IN (?, ...) AND deleted_at IS NULL
//	  AND BINARY session_storage_path = CASE id WHEN ? THEN ? ... END
//
// BINARY makes the path comparison exact whatever the column's collation.
func (s *Store) updateStatement(chunk []SizeUpdate, verifiedAt time.Time) (string, []any) {
	args := make([]any, 0, 5*len(chunk)+1)
	var q strings.Builder
	q.WriteString("UPDATE ")
	q.WriteString(s.quoted)
	q.WriteString(" SET session_file_size_bytes = CASE id")
	for _, u := range chunk {
		q.WriteString(" WHEN ? THEN ?")
		args = append(args, u.ID, u.SizeBytes)
	}
	q.WriteString(" END, session_storage_verified_at = ?")
	args = append(args, verifiedAt)
	q.WriteString(" WHERE id IN (")
	for i, u := range chunk {
		if i > 0 {
			q.WriteString(",")
		}
		q.WriteString("?")
		args = append(args, u.ID)
	}
	q.WriteString(")")
	if s.columns["deleted_at"] {
		q.WriteString(" AND deleted_at IS NULL")
	}
	q.WriteString(" AND BINARY session_storage_path = CASE id")
	for _, u := range chunk {
		q.WriteString(" WHEN ? THEN ?")
		args = append(args, u.ID, u.StoragePath)
	}
	q.WriteString(" END")
	return q.String(), args
}
