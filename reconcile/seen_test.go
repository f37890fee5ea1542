package reconcile

import (
	"testing"

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
