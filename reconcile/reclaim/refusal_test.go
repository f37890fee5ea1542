package reclaim

import (
	"strings"
	"testing"
	"time"

	"sessaudit/db"
	"sessaudit/reconcile"
)

// TestRefusal: which rows found just before a move forbid it.
func TestRefusal(t *testing.T) {
	path := func(s string) *string { return &s }
	deleted := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	orphan := Candidate{Path: "workspace_2/session_a", WorkspaceID: 2, SessionID: "a", Kind: reconcile.Orphan}
	softDeleted := orphan
	softDeleted.Kind = reconcile.SoftDeleted
	tests := []struct {
		name  string
		c     Candidate
		rows  []db.Row
		want  string // "" or a part of the reason
		cause string
	}{
		{"no rows", orphan, nil, "", ""},
		{"a row for another directory", orphan, []db.Row{{ID: 1, WorkspaceID: 2, StoragePath: path("/mnt/efs/workspace_2/session_ab")}}, "", ""},
		{"a NULL-path row of another session", orphan, []db.Row{{ID: 1, WorkspaceID: 2, SessionID: "A"}}, "", ""},
		{"a live row, lexically different", orphan, []db.Row{{ID: 1, WorkspaceID: 7, StoragePath: path("/mnt/efs//workspace_2/./session_a/")}}, "live row 1", CauseRow},
		{"a soft-deleted row, for an orphan", orphan, []db.Row{{ID: 1, WorkspaceID: 2, SessionID: "a", DeletedAt: &deleted}}, "soft-deleted row 1", CauseRow},
		{"a soft-deleted row, for soft_deleted", softDeleted, []db.Row{{ID: 1, WorkspaceID: 2, SessionID: "a", DeletedAt: &deleted}}, "", ""},
		{"a live NULL-path row, for soft_deleted", softDeleted, []db.Row{{ID: 1, WorkspaceID: 2, SessionID: "a"}}, "live row 1", CauseRow},
		{"an unsafe path naming it", softDeleted, []db.Row{{ID: 1, WorkspaceID: 2, StoragePath: path("/other/workspace_2/session_a"), DeletedAt: &deleted}}, "unsafe", CauseUnsafePath},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := refusal("/mnt/efs", tc.c, tc.rows)
			if (tc.want == "") != (got.reason == "") || !strings.Contains(got.reason, tc.want) || got.cause != tc.cause {
				t.Errorf("refusal = %q (%s), want %q (%s)", got.reason, got.cause, tc.want, tc.cause)
			}
		})
	}
}
