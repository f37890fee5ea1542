package db

import (
	"cmp"
	"context"
	"path"
	"slices"
	"strings"

	"sessaudit/scanner"
)

// maxInList bounds the number of workspace ids in one query.
const maxInList = 1000

// Selection says which rows Rows reads. The zero Selection reads every row.
//
// A selection is a superset: the caller decides which of the rows it gets
// belong to it. Besides the rows of its workspaces it can ask for every row
// that may name a directory of those workspaces although it belongs to
// another one (CrossPrefix), which a healthy table has few of.
type Selection struct {
	// Workspaces, when Listed, limits the rows to these workspace ids; an
	// empty list then selects none of them.
	Workspaces []uint64
	Listed     bool
	// ShardCount, when > 0, limits the rows to workspace_id % ShardCount
	// == ShardIndex.
	ShardIndex, ShardCount uint64
	// CrossPrefix, when set, also selects every row whose
	// session_storage_path is not NULL and does not begin with
	// CrossPrefix + "/workspace_<its own workspace_id>/": the only rows
	// whose stored path can name a directory of another workspace. It is
	// the share's path as the application stores it.
	CrossPrefix string
}

// limited reports whether the selection reads less than the whole table.
func (sel Selection) limited() bool { return sel.Listed || sel.ShardCount > 0 }

// Rows returns the rows of sel, live and soft-deleted, ordered by id. It
// reads only the columns Row holds.
func (s *Store) Rows(ctx context.Context, sel Selection) ([]Row, error) {
	if !sel.Listed {
		return s.rows(ctx, sel, nil)
	}
	ws := slices.Clone(sel.Workspaces)
	slices.Sort(ws)
	ws = slices.Compact(ws)
	if len(ws) == 0 && sel.CrossPrefix == "" {
		return nil, nil
	}
	if len(ws) <= maxInList {
		return s.rows(ctx, sel, ws)
	}
	// Long lists go in several queries; a row may then come twice (a cross
	// row is selected by each), so keep one of each id.
	var all []Row
	for chunk := range slices.Chunk(ws, maxInList) {
		rows, err := s.rows(ctx, sel, chunk)
		if err != nil {
			return nil, err
		}
		all = append(all, rows...)
	}
	slices.SortFunc(all, func(a, b Row) int { return cmp.Compare(a.ID, b.ID) })
	return slices.CompactFunc(all, func(a, b Row) bool { return a.ID == b.ID }), nil
}

// rows runs one SELECT for sel, with workspaces standing for sel's list.
func (s *Store) rows(ctx context.Context, sel Selection, workspaces []uint64) ([]Row, error) {
	var q strings.Builder
	s.selectRows(&q)
	var args []any
	if sel.limited() {
		var own []string
		if sel.Listed {
			if len(workspaces) == 0 {
				own = append(own, "FALSE")
			} else {
				own = append(own, "workspace_id IN ("+strings.Repeat(",?", len(workspaces))[1:]+")")
				for _, w := range workspaces {
					args = append(args, w)
				}
			}
		}
		if sel.ShardCount > 0 {
			own = append(own, "workspace_id % ? = ?")
			args = append(args, sel.ShardCount, sel.ShardIndex)
		}
		q.WriteString(" WHERE (")
		q.WriteString(strings.Join(own, " AND "))
		q.WriteString(")")
		if sel.CrossPrefix != "" {
			// LIKE compares by the column's collation, often without
			// regard to case: a path it takes for one of the row's own
			// workspace either is one or is unsafe, and both belong to
			// the row's own workspace. Nothing that names another
			// workspace is left out.
			q.WriteString(" OR (session_storage_path IS NOT NULL AND session_storage_path NOT LIKE CONCAT(?, workspace_id, '/%') ESCAPE '!')")
			args = append(args, likeEscape(ownPrefix(sel.CrossPrefix)))
		}
	}
	q.WriteString(" ORDER BY id")
	return s.query(ctx, s.capacity(ctx, sel), q.String(), args...)
}

// capacity guesses how many rows a query of sel reads: the slice that holds a million rows is then allocated once,
// rather than grown and copied a dozen times, which left some 300 MB of
// garbage for the collector while the walk ran. The guess starts from
// the table's row count (an index count, 0.1 s at a million rows): all of
// it for the whole table, a shard's share of it for a shard. A listed
// selection is small and gets none; so does a table that cannot be
// counted (the query then says why).
func (s *Store) capacity(ctx context.Context, sel Selection) int {
	if sel.Listed {
		return 0
	}
	var n int
	if err := s.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+s.quoted).Scan(&n); err != nil {
		return 0
	}
	if sel.ShardCount > 0 {
		n = n/int(sel.ShardCount) + n/100 // and a few rows of other workspaces
	}
	return n
}

// selectRows writes the start of a SELECT of the columns Row holds, in the
// order query scans them, from the table.
func (s *Store) selectRows(q *strings.Builder) {
	q.WriteString("SELECT id, workspace_id, session_id, session_storage_path, session_storage_verified_at")
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
}

// query runs a SELECT of the columns Row holds, in the order rows and
// Sample write them, and scans its rows.
func (s *Store) query(ctx context.Context, capacity int, query string, args ...any) ([]Row, error) {
	rs, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, s.redact.errorf("read rows of %s: %w", s.table, err)
	}
	defer rs.Close()
	out := make([]Row, 0, capacity)
	sc := newRowScanner()
	for rs.Next() {
		r, err := sc.scan(rs)
		if err != nil {
			return nil, s.redact.errorf("read rows of %s: %w", s.table, err)
		}
		out = append(out, r)
	}
	if err := rs.Err(); err != nil {
		return nil, s.redact.errorf("read rows of %s: %w", s.table, err)
	}
	return out, nil
}

// ownPrefix returns the beginning every stored path of a workspace's own
// directories has, up to the id: "<prefix>/workspace_" (see scanner's
// layout).
func ownPrefix(prefix string) string {
	p := path.Clean("/" + prefix)
	if p == "/" {
		p = ""
	}
	return p + "/" + scanner.WorkspacePrefix
}

// likeEscape escapes s for a LIKE pattern with ESCAPE '!'.
func likeEscape(s string) string {
	return strings.NewReplacer("!", "!!", "%", "!%", "_", "!_").Replace(s)
}

// Sample returns up to n of the newest live rows (the highest ids) that
// have a stored path, whatever the selection of the run: what the audit
// judges the prefix and the mount on before it trusts either.
func (s *Store) Sample(ctx context.Context, n int) ([]Row, error) {
	if n <= 0 {
		return nil, nil
	}
	var q strings.Builder
	s.selectRows(&q)
	q.WriteString(" WHERE session_storage_path IS NOT NULL")
	if s.columns["deleted_at"] {
		q.WriteString(" AND deleted_at IS NULL")
	}
	q.WriteString(" ORDER BY id DESC LIMIT ?")
	return s.query(ctx, n, q.String(), n)
}
