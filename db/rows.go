package db

import (
	"cmp"
	"context"
	"database/sql"
	"slices"
	"strings"
	"time"
)

// maxInList bounds the number of workspace ids in one query.
const maxInList = 1000

// Rows returns every row of the table, live and soft-deleted, ordered by id;
// when workspaces is not empty, only the rows of those workspaces. It reads
// only the columns Row holds.
func (s *Store) Rows(ctx context.Context, workspaces []uint64) ([]Row, error) {
	if len(workspaces) == 0 {
		return s.rows(ctx, nil)
	}
	ws := slices.Clone(workspaces)
	slices.Sort(ws)
	ws = slices.Compact(ws)
	var all []Row
	for chunk := range slices.Chunk(ws, maxInList) {
		rows, err := s.rows(ctx, chunk)
		if err != nil {
			return nil, err
		}
		all = append(all, rows...)
	}
	if len(ws) > maxInList {
		slices.SortFunc(all, func(a, b Row) int { return cmp.Compare(a.ID, b.ID) })
	}
	return all, nil
}

// rows runs one SELECT, for the given workspaces or, when nil, for all.
func (s *Store) rows(ctx context.Context, workspaces []uint64) ([]Row, error) {
	var q strings.Builder
	q.WriteString("SELECT id, workspace_id, session_id, session_storage_path")
	for _, c := range optionalColumns {
		q.WriteString(", ")
		if s.columns[c] {
			q.WriteString(c)
		} else {
			q.WriteString("NULL")
		}
	}
	q.WriteString(" FROM ")
	q.WriteString(s.quoted)
	args := make([]any, 0, len(workspaces))
	if len(workspaces) > 0 {
		q.WriteString(" WHERE workspace_id IN (")
		for i, w := range workspaces {
			if i > 0 {
				q.WriteString(",")
			}
			q.WriteString("?")
			args = append(args, w)
		}
		q.WriteString(")")
	}
	q.WriteString(" ORDER BY id")

	rs, err := s.db.QueryContext(ctx, q.String(), args...)
	if err != nil {
		return nil, s.redact.errorf("read rows of %s: %w", s.table, err)
	}
	defer rs.Close()
	var out []Row
	for rs.Next() {
		var (
			r                             Row
			sessionID, path               sql.NullString
			deletedAt, createdAt, updated sql.NullTime
			instance                      sql.NullInt64
		)
		// The order of the last four follows optionalColumns.
		if err := rs.Scan(&r.ID, &r.WorkspaceID, &sessionID, &path, &deletedAt, &createdAt, &updated, &instance); err != nil {
			return nil, s.redact.errorf("read rows of %s: %w", s.table, err)
		}
		r.SessionID = sessionID.String
		if path.Valid {
			r.StoragePath = &path.String
		}
		r.DeletedAt = timePtr(deletedAt)
		r.CreatedAt = timePtr(createdAt)
		r.UpdatedAt = timePtr(updated)
		if instance.Valid {
			i := int(instance.Int64)
			r.InstanceIndex = &i
		}
		out = append(out, r)
	}
	if err := rs.Err(); err != nil {
		return nil, s.redact.errorf("read rows of %s: %w", s.table, err)
	}
	return out, nil
}

func timePtr(t sql.NullTime) *time.Time {
	if !t.Valid {
		return nil
	}
	return &t.Time
}
