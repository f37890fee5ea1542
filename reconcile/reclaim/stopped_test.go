package reclaim

import (
	"testing"
	"time"

	"sessaudit/db"
)

// TestStopped: which rows make a session a --caches candidate. Only live
// rows that refer to the directory count, by the audit's mapping of stored
// paths; one running or unknown status is enough to leave it alone.
func TestStopped(t *testing.T) {
	c := Candidate{Path: "workspace_1/session_a", WorkspaceID: 1, SessionID: "a", Kind: Caches}
	str := func(s string) *string { return &s }
	deleted := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	row := func(id uint64, path, status *string) db.Row {
		return db.Row{ID: id, WorkspaceID: 1, SessionID: "a", StoragePath: path, Status: status}
	}
	soft := func(r db.Row) db.Row { r.DeletedAt = &deleted; return r }
	for _, tc := range []struct {
		name  string
		rows  []db.Row
		ids   []uint64
		pass  string
		cause string
	}{
		{"stopped", []db.Row{row(1, str("/mnt/efs/workspace_1/session_a"), str("disconnected"))}, []uint64{1}, "", ""},
		{"stored path cleaned", []db.Row{row(1, str("/mnt/efs//workspace_1/./session_a/"), str("failed"))}, []uint64{1}, "", ""},
		{"NULL path names its conventional directory", []db.Row{row(1, nil, str("failed"))}, []uint64{1}, "", ""},
		{"no row", nil, nil, PassNoRow, ""},
		{"only soft-deleted rows", []db.Row{soft(row(1, nil, str("connected")))}, nil, PassNoRow, ""},
		{"a row of another directory", []db.Row{row(1, str("/mnt/efs/workspace_1/session_ab"), str("connected"))}, nil, PassNoRow, ""},
		{"connected", []db.Row{row(1, nil, str("connected"))}, nil, PassRunning, ""},
		{"authenticated", []db.Row{row(1, nil, str("authenticated"))}, nil, PassRunning, ""},
		{"qr_scanning", []db.Row{row(1, nil, str("qr_scanning"))}, nil, PassRunning, ""},
		{"one of two runs", []db.Row{row(1, nil, str("failed")), row(2, str("/mnt/efs/workspace_1/session_a"), str("connected"))}, nil, PassRunning, ""},
		{"status unknown", []db.Row{row(1, nil, nil)}, []uint64{1}, PassStatusUnknown, ""},
		{"a soft-deleted row running is not", []db.Row{row(1, nil, str("failed")), soft(row(2, nil, str("connected")))}, []uint64{1}, "", ""},
		{"unsafe stored path", []db.Row{row(1, str("/mnt/efs/workspace_1/../workspace_1/session_a"), str("failed"))}, nil, "", CauseUnsafePath},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ids, pass, why := stopped("/mnt/efs", c, tc.rows)
			if pass != tc.pass || why.cause != tc.cause || len(ids) != len(tc.ids) || (len(ids) > 0 && ids[0] != tc.ids[0]) {
				t.Errorf("stopped = %v, %q, %+v; want %v, %q, cause %q", ids, pass, why, tc.ids, tc.pass, tc.cause)
			}
		})
	}
}
