package db_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"sessaudit/db"
	"sessaudit/db/dbtest"
)

// TestWritePaths: only live rows whose path is still NULL get a path, a
// size and a verification time; nothing else changes.
func TestWritePaths(t *testing.T) {
	dsn := newDB(t)
	dbtest.Exec(t, dsn, `INSERT INTO whatsapp_accounts
  (id, uuid, workspace_id, session_id, session_storage_path, created_by, deleted_at) VALUES
  (1, 'u1', 1, 'a', NULL,                            1, NULL),
  (2, 'u2', 1, 'b', '/mnt/efs/workspace_1/session_b', 1, NULL),
  (3, 'u3', 1, 'c', NULL,                            1, '2026-01-01 00:00:00'),
  (4, 'u4', 1, 'd', NULL,                            1, NULL),
  (5, 'u5', 1, 'e', NULL,                            1, NULL)`)
	s := open(t, db.Config{DSN: dsn, BatchSize: 2})
	before := snapshot(t, dsn)
	verifiedAt := time.Date(2026, 2, 3, 4, 5, 6, 0, time.UTC)
	n, err := s.WritePaths(context.Background(), []db.PathUpdate{
		{ID: 1, StoragePath: "/mnt/efs/workspace_1/session_a", SizeBytes: 11},
		{ID: 2, StoragePath: "/mnt/efs/workspace_1/session_x", SizeBytes: 22}, // the application wrote a path meanwhile
		{ID: 3, StoragePath: "/mnt/efs/workspace_1/session_c", SizeBytes: 33}, // soft-deleted
		{ID: 4, StoragePath: "/mnt/efs/workspace_1/session_d", SizeBytes: 0},
		{ID: 5, StoragePath: "/mnt/efs/workspace_1/session_" + strings.Repeat("e", 600), SizeBytes: 55}, // longer than VARCHAR(500)
		{ID: 404, StoragePath: "/mnt/efs/workspace_1/session_z", SizeBytes: 1},
	}, verifiedAt)
	if err != nil || n != 2 {
		t.Fatalf("WritePaths = %d, %v; want 2", n, err)
	}
	after := snapshot(t, dsn)
	want := map[uint64]map[string]string{
		1: {"session_storage_path": "/mnt/efs/workspace_1/session_a", "session_file_size_bytes": "11", "session_storage_verified_at": "2026-02-03 04:05:06"},
		4: {"session_storage_path": "/mnt/efs/workspace_1/session_d", "session_file_size_bytes": "0", "session_storage_verified_at": "2026-02-03 04:05:06"},
	}
	for id, row := range before {
		for col, bv := range row {
			wv, changes := want[id][col]
			switch av := after[id][col]; {
			case changes && av != wv:
				t.Errorf("row %d: %s = %s, want %s", id, col, av, wv)
			case !changes && av != bv:
				t.Errorf("row %d: %s changed from %s to %s", id, col, bv, av)
			}
		}
	}
}
