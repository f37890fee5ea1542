package db

import (
	"context"
	"database/sql"
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
// statement in its own transaction. WriteSizes returns the number of rows
// written (matched by the guard, whether or not their values changed). On an
// error it rolls back the chunk at hand and returns the rows of the chunks
// already committed with the error. When an id appears more than once in a
// chunk, its first entry wins.
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

func (s *Store) writeChunk(ctx context.Context, chunk []SizeUpdate, verifiedAt time.Time) (int, error) {
	q, args := s.updateStatement(chunk, verifiedAt)
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, s.redact.errorf("begin size update of %s: %w", s.table, err)
	}
	n, err := execUpdate(ctx, tx, q, args)
	if err != nil {
		_ = tx.Rollback()
		return 0, s.redact.errorf("update sizes of %d rows of %s: %w", len(chunk), s.table, err)
	}
	if err := tx.Commit(); err != nil {
		return 0, s.redact.errorf("commit sizes of %d rows of %s: %w", len(chunk), s.table, err)
	}
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
