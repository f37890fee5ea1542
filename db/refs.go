package db

import (
	"context"
	"strings"

	"sessaudit/scanner"
)

// SessionRows returns, live and soft-deleted, ordered by id, every row that
// may refer to the session directory workspace_<workspace>/session_<id>:
// each row with a NULL session_storage_path and that workspace_id and
// session_id, and each row whose session_storage_path holds
// "workspace_<workspace>/" and, after it, "session_<id>".
//
// It is a superset. A stored path that refers to the directory holds both
// names as they are, whatever `//`, `/./` or trailing `/` it has besides;
// LIKE compares by the column's collation, often without regard to case,
// which only adds rows; and bytes of id that are not UTF-8, which no
// utf8mb4 column can hold or be compared with, match anything. The caller
// maps each stored path as the audit does and decides which rows really
// refer to the directory.
func (s *Store) SessionRows(ctx context.Context, workspace uint64, id string) ([]Row, error) {
	ws := scanner.WorkspaceName(workspace)
	var q strings.Builder
	s.selectRows(&q)
	q.WriteString(" WHERE (session_storage_path IS NULL AND workspace_id = ? AND session_id LIKE ? ESCAPE '!')")
	q.WriteString(" OR session_storage_path LIKE ? ESCAPE '!' ORDER BY id")
	return s.query(ctx, 0, q.String(), workspace, likeFragment(id), "%"+likeEscape(ws+"/")+"%"+likeFragment(scanner.SessionName(id))+"%")
}

// likeFragment escapes s for a LIKE pattern with ESCAPE '!', with every run
// of bytes that are not UTF-8 made a % wildcard.
func likeFragment(s string) string {
	return strings.ToValidUTF8(likeEscape(s), "%")
}
