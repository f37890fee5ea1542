package db_test

import (
	"context"
	"slices"
	"testing"

	"sessaudit/db"
	"sessaudit/db/dbtest"
)

// TestSessionRows: every row that may refer to a session directory is
// returned, whatever lexical form its stored path takes, live or deleted,
// and rows that cannot refer to it are mostly not.
func TestSessionRows(t *testing.T) {
	dsn := newDB(t)
	dbtest.Exec(t, dsn, `INSERT INTO whatsapp_accounts
  (id, uuid, workspace_id, session_id, session_storage_path, created_by, deleted_at) VALUES
  (1,  'u1',  2, 'a1',     '/mnt/efs/workspace_2/session_a',        1, NULL),
  (2,  'u2',  2, 'a2',     '/mnt/efs//workspace_2/./session_a/',    1, NOW()),
  (3,  'u3',  7, 'x',      '/mnt/efs/workspace_2/session_a',        1, NULL),
  (4,  'u4',  2, 'a_b',    NULL,                                    1, NULL),
  (5,  'u5',  2, 'axb',    NULL,                                    1, NULL),
  (6,  'u6',  2, 'c',      '/mnt/efs/workspace_2/session_c',        1, NULL),
  (7,  'u7',  3, 'a',      NULL,                                    1, NOW()),
  (8,  'u8',  2, 'q',      '/mnt/efs/workspace_2/session_a_b',      1, NULL),
  (9,  'u9',  2, 'r',      '/mnt/efs/workspace_2/session_a%b',      1, NULL),
  (10, 'u10', 2, 'a%b',    NULL,                                    1, NULL),
  (11, 'u11', 2, 's',      '/other/workspace_2/session_a',          1, NULL),
  (12, 'u12', 22, 'a12',   '/mnt/efs/workspace_22/session_a',       1, NULL)`)
	s := open(t, db.Config{DSN: dsn})
	tests := []struct {
		name string
		ws   uint64
		id   string
		// want must be returned; may, or not.
		want, may []uint64
	}{
		{"stored paths in any lexical form, live or deleted, any row's workspace", 2, "a", []uint64{1, 2, 3, 11}, []uint64{8, 9}},
		{"NULL path by workspace and session id; _ is no wildcard", 2, "a_b", []uint64{4, 8}, nil},
		{"% is no wildcard", 2, "a%b", []uint64{9, 10}, nil},
		{"another workspace's NULL-path row", 3, "a", []uint64{7}, nil},
		{"workspace 2 is not 22", 22, "a", []uint64{12}, nil},
		{"an id that is not UTF-8", 2, "a\xffb", nil, []uint64{4, 5, 8, 9, 10}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rows, err := s.SessionRows(context.Background(), tc.ws, tc.id)
			if err != nil {
				t.Fatalf("SessionRows: %v", err)
			}
			var got []uint64
			for _, r := range rows {
				got = append(got, r.ID)
			}
			for _, id := range tc.want {
				if !slices.Contains(got, id) {
					t.Errorf("row %d missing from %v", id, got)
				}
			}
			for _, id := range got {
				if !slices.Contains(tc.want, id) && !slices.Contains(tc.may, id) {
					t.Errorf("row %d should not be in %v", id, got)
				}
			}
		})
	}
}
