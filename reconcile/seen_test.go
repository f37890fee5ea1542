package reconcile

import (
	"errors"
	"slices"
	"testing"
	"time"

	"sessaudit/db"
	"sessaudit/scanner"
)

// TestOnePathEach: a directory measured under two paths (renamed while the
// walk ran) is verified for neither, whether its verdicts are listed or kept
// as verified observations; another directory stays verified.
func TestOnePathEach(t *testing.T) {
	path := func(s string) *string { return &s }
	obs := func(p string, id uint64, ino uint64) *Observation {
		return &Observation{Path: p, Workspace: 1,
			Rows: []db.Row{{ID: id, WorkspaceID: 1, StoragePath: path("/mnt/efs/" + p)}},
			at:   seen{kind: scanner.KindSession, m: measurement{id: scanner.Identity{Dev: 1, Ino: ino}}}}
	}
	a, b, c, other := obs("workspace_1/session_a", 1, 7), obs("workspace_1/session_b", 2, 7), obs("workspace_1/session_c", 3, 7), obs("workspace_1/session_d", 4, 8)
	vs := &verdictSet{listed: []Verdict{verifiedVerdict(c)}, verified: []*Observation{a, other, b}}
	onePathEach(vs)

	if len(vs.verified) != 1 || vs.verified[0] != other {
		t.Errorf("verified = %v, want only %s", vs.verified, other.Path)
	}
	const want = "the same directory was measured at workspace_1/session_a and workspace_1/session_b and workspace_1/session_c; judged on a later run"
	recent := map[string]bool{}
	for _, v := range vs.listed {
		if v.Kind != Recent || v.Detail != want || v.measured == nil || len(v.RowIDs) != 1 {
			t.Errorf("%s: %s %q (row ids %v), want recent %q", v.Path, v.Kind, v.Detail, v.RowIDs, want)
		}
		recent[v.Path] = true
	}
	if len(vs.listed) != 3 || !recent[a.Path] || !recent[b.Path] || !recent[c.Path] {
		t.Errorf("listed %v, want a, b and c recent", vs.listed)
	}
}

// TestCountedOutcome: an observation settle keeps as counted gets the one
// verdict appendJudged gives it, with the same rows and path; every other
// observation near the rule (a live row with a path, a row of another
// workspace, a directory there, a workspace not listed, a live row among
// dead ones) is judged as before.
func TestCountedOutcome(t *testing.T) {
	path := func(s string) *string { return &s }
	old := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	gone := &old
	const p = "workspace_1/session_a"
	live := db.Row{ID: 1, WorkspaceID: 1, StoragePath: path("/mnt/efs/" + p), CreatedAt: &old}
	noPath := db.Row{ID: 2, WorkspaceID: 1, SessionID: "a", CreatedAt: &old}
	dead := db.Row{ID: 3, WorkspaceID: 1, StoragePath: path("/mnt/efs/" + p), DeletedAt: gone, CreatedAt: &old}
	deadNoPath := db.Row{ID: 4, WorkspaceID: 1, SessionID: "a", DeletedAt: gone, CreatedAt: &old}
	otherWS := db.Row{ID: 5, WorkspaceID: 2, SessionID: "a", CreatedAt: &old}
	there := seen{kind: scanner.KindSession}
	for _, tc := range []struct {
		name string
		o    Observation
		want Outcome
	}{
		{"one dead row", Observation{Rows: []db.Row{dead}}, Cleaned},
		{"dead rows", Observation{Rows: []db.Row{dead, deadNoPath}}, Cleaned},
		{"a live row without a path", Observation{Rows: []db.Row{noPath}}, NoPath},
		{"a live row with a path", Observation{Rows: []db.Row{live}}, ""},
		{"a live row without a path among dead ones", Observation{Rows: []db.Row{noPath, dead}}, ""},
		{"a live row of another workspace", Observation{Rows: []db.Row{otherWS}}, ""},
		{"a directory there", Observation{Rows: []db.Row{dead}, at: there}, ""},
		{"the workspace not listed", Observation{Rows: []db.Row{dead}, WorkspaceErr: errors.New("EIO")}, ""},
	} {
		o := tc.o
		o.Path, o.Workspace = p, 1
		got := countedOutcome(&o)
		if got != tc.want {
			t.Errorf("%s: countedOutcome = %q, want %q", tc.name, got, tc.want)
		}
		if got == "" {
			continue
		}
		judged := appendJudged(nil, &o, old.Add(time.Hour))
		if len(judged) != 1 {
			t.Fatalf("%s: appendJudged gave %d verdicts, want 1", tc.name, len(judged))
		}
		j, c := judged[0], countedVerdict(&o)
		c.complete()
		if c.Kind != j.Kind || c.Path != j.Path || !slices.Equal(c.RowIDs, j.RowIDs) || *c.WorkspaceID != *j.WorkspaceID ||
			c.there != j.there || c.measured != nil || j.measured != nil || c.Detail != j.Detail {
			t.Errorf("%s: counted verdict %+v, appendJudged's %+v", tc.name, c, j)
		}
	}
}
