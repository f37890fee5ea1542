package db

import (
	"context"
	"slices"
	"strings"
	"time"
)

// PathUpdate links a live row that has no session_storage_path to its
// conventional directory: StoragePath is the path to write
// ("<prefix>/workspace_<id>/session_<id>") and SizeBytes the size measured
// there.
type PathUpdate struct {
	ID          uint64
	StoragePath string
	SizeBytes   int64
}

// WritePaths writes, for each row of batch, StoragePath to
// session_storage_path, SizeBytes to session_file_size_bytes and verifiedAt
// to session_storage_verified_at, and touches no other column. A row is
// written only while its session_storage_path is still NULL and it is live
// (deleted_at IS NULL, when the table has that column): a path the
// application wrote meanwhile wins. A path longer than the column holds is
// not written (the server would cut it short, or fail the chunk).
//
// Chunks, transactions, retries, the lock check and the count returned are
// those of WriteSizes.
func (s *Store) WritePaths(ctx context.Context, batch []PathUpdate, verifiedAt time.Time) (written int, err error) {
	fits := s.pathFits()
	batch = slices.DeleteFunc(slices.Clone(batch), func(u PathUpdate) bool { return !fits(u.StoragePath) })
	for chunk := range slices.Chunk(batch, s.batchSize) {
		q, args := s.pathStatement(chunk, verifiedAt)
		n, err := s.writeChunk(ctx, "paths", len(chunk), q, args)
		if err != nil {
			return written, err
		}
		written += n
	}
	return written, nil
}

// pathFits returns whether a path fits session_storage_path. MaxLength
// counts characters for VARCHAR, bytes for the TEXT types on MySQL and
// MariaDB: comparing the byte length is right for the one and cautious for
// the other. A column whose length is not known holds nothing here.
func (s *Store) pathFits() func(string) bool {
	var max int64
	for _, c := range s.schema.Columns {
		if strings.EqualFold(c.Name, "session_storage_path") {
			max = c.MaxLength
		}
	}
	return func(p string) bool { return int64(len(p)) <= max }
}

// pathStatement builds the guarded UPDATE of one chunk, a search tree of
// CASEs as in updateStatement:
//
//	UPDATE t SET session_storage_path = <path by id>,
//	  session_file_size_bytes = <size by id>, session_storage_verified_at = ?
//	WHERE id IN (?, ...) AND deleted_at IS NULL AND session_storage_path IS NULL
func (s *Store) pathStatement(chunk []PathUpdate, verifiedAt time.Time) (string, []any) {
	conv := make([]SizeUpdate, len(chunk))
	for i, u := range chunk {
		conv[i] = SizeUpdate(u)
	}
	rows := uniqueByID(conv)
	b := statement{args: make([]any, 0, 5*len(rows)+2*len(rows)/caseLeaf+3)}
	b.q.WriteString("UPDATE ")
	b.q.WriteString(s.quoted)
	b.q.WriteString(" SET session_storage_path = ")
	b.caseByID(rows, func(u SizeUpdate) any { return u.StoragePath })
	b.q.WriteString(", session_file_size_bytes = ")
	b.caseByID(rows, func(u SizeUpdate) any { return u.SizeBytes })
	b.q.WriteString(", session_storage_verified_at = ?")
	b.args = append(b.args, verifiedAt)
	s.whereLive(&b, rows)
	b.q.WriteString(" AND session_storage_path IS NULL")
	return b.q.String(), b.args
}
