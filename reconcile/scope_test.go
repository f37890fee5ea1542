package reconcile_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spf13/afero"

	"sessaudit/db"
	"sessaudit/reconcile"
	"sessaudit/scanner"
)

// scopeShare has a case of every outcome, in several workspaces, including
// rows whose stored path names another workspace's directory.
func scopeShare(t *testing.T) (afero.Fs, func() *fakeStore) {
	t.Helper()
	fsys := afero.NewMemMapFs()
	writeTree(t, fsys, map[string]string{
		"workspace_1/session_a/f":      "1",
		"workspace_1/session_orphan/f": "22",
		"workspace_2/session_x/f":      "333",  // claimed by a row of workspace 7: conflict
		"workspace_2/session_b/f":      "4444", // verified
		"workspace_3/session_gone/f":   "5",    // soft-deleted
		"workspace_3/session_u/f":      "66",   // unlinked
		"workspace_4":                  "a file",
		"workspace_5/session_c/f":      "7",
		"workspace_6/session_d/f":      "8",
		"workspace_6/stray":            "",
		"lost+found/":                  "",
		"workspace_07/session_z/f":     "",
	})
	rows := []db.Row{
		live(1, 1, "a", str("/mnt/efs/workspace_1/session_a")),
		live(2, 1, "m", str("/mnt/efs/workspace_1/session_m")), // missing
		live(3, 2, "b", str("/mnt/efs/workspace_2/session_b")),
		live(4, 7, "x", str("/mnt/efs/workspace_2/session_x")), // conflict, named from workspace 7
		live(5, 7, "y", str("/mnt/efs/workspace_7/../etc")),    // unsafe, belongs to 7
		deleted(live(6, 3, "gone", str("/mnt/efs/workspace_3/session_gone"))),
		live(7, 3, "u", nil),
		live(8, 5, "c", str("/mnt/efs//workspace_5/session_c/")), // verified through a path that needs cleaning
		live(9, 8, "c2", str("/mnt/efs/workspace_5/session_c")),  // and a second claim from workspace 8: conflict
		live(10, 6, "d", str("/mnt/efs/workspace_6/session_d")),
		deleted(live(11, 9, "old", str("/mnt/efs/workspace_9/session_old"))), // cleaned
		live(12, 9, "cloud", nil),                                            // no_path
		live(13, 12, "lone", str("/mnt/efs/workspace_12/session_lone")),      // the only row of workspace 12, missing
	}
	for i := range rows {
		rows[i].InstanceIndex = intp(int(rows[i].WorkspaceID % 2))
	}
	return fsys, func() *fakeStore { return &fakeStore{rows: slices.Clone(rows)} }
}

// verdicts renders every outcome of a report, findings or not, from the
// summary counts and the findings.
func findingSet(rep *reconcile.Report) map[string]int {
	out := map[string]int{}
	for _, s := range outcomes(rep) {
		out[s]++
	}
	return out
}

func TestShardsMakeOneRun(t *testing.T) {
	fsys, newStore := scopeShare(t)
	whole := newStore()
	want := audit(t, fsys, whole, func(c *reconcile.Config) { c.InstanceCount = 2 })
	if want.Summary.Outcomes[reconcile.Conflict] != 2 || want.Summary.Outcomes[reconcile.Verified] != 3 {
		t.Fatalf("the fixture lost its cases: %v", want.Summary.Outcomes)
	}
	for _, n := range []uint64{1, 2, 3, 4} {
		got := map[string]int{}
		written := map[uint64]int64{}
		outcomes := map[reconcile.Outcome]int{}
		rows, sessions := 0, 0
		for i := range n {
			store := newStore()
			rep := audit(t, fsys, store, func(c *reconcile.Config) {
				c.InstanceCount = 2
				c.Scope = scanner.AllWorkspaces().InShard(scanner.Shard{Index: i, Count: n})
			})
			for f, k := range findingSet(rep) {
				got[f] += k
			}
			maps.Copy(written, store.written)
			for o, k := range rep.Summary.Outcomes {
				outcomes[o] += k
			}
			rows += rep.Summary.Rows
			sessions += rep.Summary.Sessions
		}
		if !maps.Equal(got, findingSet(want)) {
			t.Errorf("%d shards: findings %v, want %v", n, got, findingSet(want))
		}
		if !maps.Equal(written, whole.written) {
			t.Errorf("%d shards: written %v, want %v", n, written, whole.written)
		}
		if !maps.Equal(outcomes, want.Summary.Outcomes) || rows != want.Summary.Rows || sessions != want.Summary.Sessions {
			t.Errorf("%d shards: outcomes %v rows %d sessions %d, want %v %d %d",
				n, outcomes, rows, sessions, want.Summary.Outcomes, want.Summary.Rows, want.Summary.Sessions)
		}
	}
}

func TestWorkspacesMakeOneRun(t *testing.T) {
	fsys, newStore := scopeShare(t)
	whole := newStore()
	want := findingSet(audit(t, fsys, whole, nil))
	// Entries of the root outside the layout belong to no workspace: only
	// a run over all workspaces (or shard 0) reports them.
	for f := range want {
		if strings.HasPrefix(f, "unrecognized lost+found") || strings.HasPrefix(f, "unrecognized workspace_07") {
			delete(want, f)
		}
	}
	got := map[string]int{}
	written := map[uint64]int64{}
	for ws := range uint64(13) {
		store := newStore()
		rep := audit(t, fsys, store, func(c *reconcile.Config) { c.Scope = scanner.OnlyWorkspaces(ws) })
		for f, k := range findingSet(rep) {
			got[f] += k
		}
		maps.Copy(written, store.written)
	}
	if !maps.Equal(got, want) {
		t.Errorf("single workspaces: findings %v, want %v", got, want)
	}
	if !maps.Equal(written, whole.written) {
		t.Errorf("single workspaces: written %v, want %v", written, whole.written)
	}
	// Workspace 2 alone sees the conflict a row of workspace 7 makes.
	rep := audit(t, fsys, newStore(), func(c *reconcile.Config) { c.Scope = scanner.OnlyWorkspaces(2) })
	if got := outcomes(rep); !slices.Contains(got, "conflict workspace_2/session_x [4]") {
		t.Errorf("workspace 2: findings %q, want the conflict of row 4", got)
	}
}

func TestReconcileOneSessionAgreesWithTheAudit(t *testing.T) {
	fsys, newStore := scopeShare(t)
	whole := audit(t, fsys, newStore(), nil)
	byPath := map[string][]string{}
	for _, f := range whole.Findings {
		if f.Path != "" && f.Kind != reconcile.Unrecognized {
			byPath[f.Path] = append(byPath[f.Path], string(f.Kind))
		}
	}
	keys := []string{"workspace_1/session_a", "workspace_1/session_m", "workspace_1/session_orphan", "workspace_2/session_x",
		"workspace_2/session_b", "workspace_3/session_gone", "workspace_3/session_u", "workspace_5/session_c", "workspace_6/session_d"}
	for _, key := range keys {
		store := newStore()
		r := reconcile.NewReconciler(fsys, store, reconcile.Config{Root: root, PathPrefix: "/mnt/efs", MinAge: time.Hour,
			Now: func() time.Time { return time.Now().Add(48 * time.Hour) }})
		res, err := r.Reconcile(context.Background(), key)
		if err != nil {
			t.Fatalf("Reconcile(%s): %v", key, err)
		}
		var got []string
		for _, v := range res.Verdicts {
			if v.Kind.IsFinding() {
				got = append(got, string(v.Kind))
			}
		}
		if !slices.Equal(got, byPath[key]) {
			t.Errorf("Reconcile(%s) findings %v, the audit's %v", key, got, byPath[key])
		}
		if key == "workspace_2/session_b" && (res.RowsWritten != 1 || store.written[3] != 4) {
			t.Errorf("Reconcile(%s) wrote %v (%d rows), want row 3 = 4", key, store.written, res.RowsWritten)
		}
		if key != "workspace_2/session_b" && key != "workspace_1/session_a" && key != "workspace_6/session_d" && len(store.written) > 0 {
			t.Errorf("Reconcile(%s) wrote %v", key, store.written)
		}
	}
}

func TestReconcileRefusesOutOfScope(t *testing.T) {
	fsys, newStore := scopeShare(t)
	store := newStore()
	r := reconcile.NewReconciler(fsys, store, reconcile.Config{Root: root, PathPrefix: "/mnt/efs",
		Scope: scanner.AllWorkspaces().InShard(scanner.Shard{Index: 0, Count: 2})})
	if _, err := r.Reconcile(context.Background(), "workspace_1/session_a"); !errors.Is(err, reconcile.ErrOutOfScope) {
		t.Fatalf("err = %v, want ErrOutOfScope", err)
	}
	if len(store.written) != 0 {
		t.Fatalf("wrote %v outside the scope", store.written)
	}
	if _, err := r.Reconcile(context.Background(), "workspace_1/../x"); err == nil {
		t.Fatal("a key that is not a session path was accepted")
	}
}

// A wrong --path-prefix is refused, naming the prefix the rows use, before
// anything is written (issue 9, defect 5).
func TestAuditRefusesAWrongPrefix(t *testing.T) {
	fsys, newStore := scopeShare(t)
	store := newStore()
	_, err := reconcile.Audit(context.Background(), fsys, store, reconcile.Config{Root: root, PathPrefix: "/efs", MaxMissingRatio: 0.5})
	if !errors.Is(err, reconcile.ErrWrongPrefix) || !strings.Contains(err.Error(), "stored under /mnt/efs") {
		t.Fatalf("err = %v, want ErrWrongPrefix naming /mnt/efs", err)
	}
	if store.calls != 0 {
		t.Fatalf("%d writes", store.calls)
	}
	// A few junk paths outside the prefix are unsafe rows, not a wrong flag.
	store = &fakeStore{rows: []db.Row{
		live(1, 1, "a", str("/mnt/efs/workspace_1/session_a")),
		live(2, 1, "b", str("/etc/passwd")),
		live(3, 1, "c", str("relative/workspace_1/session_c")),
	}}
	if _, err := reconcile.Audit(context.Background(), fsys, store, reconcile.Config{Root: root, PathPrefix: "/mnt/efs", MaxMissingRatio: 0.5}); err != nil {
		t.Fatalf("junk paths: %v", err)
	}
}

// The mount is judged on the mount, not on a small selection (issue 9,
// defect 6): one legitimately missing row of a workspace is a finding, an
// empty root is refused whatever the selection.
func TestAuditJudgesTheMountNotTheSelection(t *testing.T) {
	fsys, newStore := scopeShare(t)
	store := newStore()
	rep, err := reconcile.Audit(context.Background(), fsys, store, reconcile.Config{Root: root, PathPrefix: "/mnt/efs", MaxMissingRatio: 0.5,
		Scope: scanner.OnlyWorkspaces(12)})
	if err != nil {
		t.Fatalf("workspace 12 with its one row missing: %v", err)
	}
	if got := outcomes(rep); !slices.Equal(got, []string{"missing workspace_12/session_lone [13]"}) {
		t.Fatalf("findings %q, want row 13 missing", got)
	}
	empty := afero.NewMemMapFs()
	writeTree(t, empty, nil)
	for _, scope := range []scanner.Scope{scanner.AllWorkspaces(), scanner.OnlyWorkspaces(2), scanner.AllWorkspaces().InShard(scanner.Shard{Index: 1, Count: 4})} {
		store := newStore()
		_, err := reconcile.Audit(context.Background(), empty, store, reconcile.Config{Root: root, PathPrefix: "/mnt/efs", MaxMissingRatio: 0.5, Scope: scope})
		if !errors.Is(err, reconcile.ErrTooManyMissing) || store.calls != 0 {
			t.Errorf("%s on an empty root: err = %v, %d writes; want ErrTooManyMissing and none", scope, err, store.calls)
		}
	}
}

// A selection that matches nothing is not silent (issue 9, defect 6).
func TestAuditWarnsOnAnEmptySelection(t *testing.T) {
	fsys, newStore := scopeShare(t)
	rep := audit(t, fsys, newStore(), func(c *reconcile.Config) { c.Scope = scanner.OnlyWorkspaces(99) })
	if len(rep.Summary.Warnings) != 1 || !strings.Contains(rep.Summary.Warnings[0], "workspace 99") {
		t.Fatalf("warnings %q, want one naming workspace 99", rep.Summary.Warnings)
	}
	if rep := audit(t, fsys, newStore(), nil); len(rep.Summary.Warnings) != 0 {
		t.Fatalf("whole run warnings %q", rep.Summary.Warnings)
	}
}

// touchFs records every path looked at or opened through it.
type touchFs struct {
	afero.Fs
	mu      sync.Mutex
	touched []string
}

func (f *touchFs) note(name string) {
	f.mu.Lock()
	f.touched = append(f.touched, name)
	f.mu.Unlock()
}

func (f *touchFs) Open(name string) (afero.File, error) { f.note(name); return f.Fs.Open(name) }
func (f *touchFs) Stat(name string) (os.FileInfo, error) {
	f.note(name)
	return f.Fs.Stat(name)
}
func (f *touchFs) LstatIfPossible(name string) (os.FileInfo, bool, error) {
	f.note(name)
	return f.Fs.(afero.Lstater).LstatIfPossible(name)
}

// A shard's audit, its mount check included, looks at nothing inside the
// workspaces of other shards: a watcher or pod of one instance never reads
// another's sessions (issues 10 and 11).
func TestShardTouchesNoOtherShard(t *testing.T) {
	fsys, newStore := scopeShare(t)
	spy := &touchFs{Fs: fsys}
	shard := scanner.Shard{Index: 1, Count: 2}
	audit(t, spy, newStore(), func(c *reconcile.Config) { c.Scope = scanner.AllWorkspaces().InShard(shard) })
	if len(spy.touched) == 0 {
		t.Fatal("nothing was touched: the spy sees nothing")
	}
	for _, p := range spy.touched {
		rel, err := filepath.Rel(root, p)
		if err != nil || rel == "." {
			continue
		}
		first, _, _ := strings.Cut(filepath.ToSlash(rel), "/")
		if ws, ok := scanner.ParseWorkspace(first); ok && !shard.Contains(ws) {
			t.Errorf("shard %s touched %s, of workspace %d", shard, rel, ws)
		}
	}
}

// Issue 18, item 12: on a root whose workspace directories are there but
// whose sessions are gone (a restore that brought back the tree's top, a
// mount of the wrong snapshot), a whole run refuses, but the shard runs
// and the shard watchers' rescans reported every row missing. A shard is
// judged on its own rows as a whole run is on all of them; only a list of
// workspaces, a few rows that say nothing of the mount, is not.
func TestAuditShardRefusesWhenItsSessionsAreGone(t *testing.T) {
	fsys := afero.NewMemMapFs()
	tree := map[string]string{}
	var rows []db.Row
	for ws := uint64(1); ws <= 4; ws++ {
		tree[fmt.Sprintf("workspace_%d/", ws)] = ""
		for i := uint64(1); i <= 3; i++ {
			id := 10*ws + i
			rows = append(rows, live(id, ws, fmt.Sprint(id), str(fmt.Sprintf("/mnt/efs/workspace_%d/session_%d", ws, id))))
		}
	}
	tree["workspace_1/session_11/f"] = "1" // one session of twelve is there
	writeTree(t, fsys, tree)
	cfg := func(scope scanner.Scope) reconcile.Config {
		return reconcile.Config{Root: root, PathPrefix: "/mnt/efs", MaxMissingRatio: 0.5, Scope: scope}
	}
	shards := []scanner.Scope{
		scanner.AllWorkspaces(),
		scanner.AllWorkspaces().InShard(scanner.Shard{Index: 0, Count: 2}),
		scanner.AllWorkspaces().InShard(scanner.Shard{Index: 1, Count: 2}),
	}
	for _, scope := range shards {
		store := &fakeStore{rows: slices.Clone(rows)}
		rep, err := reconcile.Audit(context.Background(), fsys, store, cfg(scope))
		if !errors.Is(err, reconcile.ErrTooManyMissing) || rep != nil || store.calls != 0 {
			t.Errorf("audit of %s: err = %v, report %v, %d writes; want ErrTooManyMissing and nothing", scope, err, rep != nil, store.calls)
		}
		// A watcher's rescan is the same audit, through its Reconciler.
		store = &fakeStore{rows: slices.Clone(rows)}
		if _, err := reconcile.NewReconciler(fsys, store, cfg(scope)).Audit(context.Background()); !errors.Is(err, reconcile.ErrTooManyMissing) || store.calls != 0 {
			t.Errorf("rescan of %s: err = %v, %d writes; want ErrTooManyMissing and none", scope, err, store.calls)
		}
	}
	// A listed workspace is not judged on its few rows.
	store := &fakeStore{rows: slices.Clone(rows)}
	rep, err := reconcile.Audit(context.Background(), fsys, store, cfg(scanner.OnlyWorkspaces(2)))
	if err != nil || rep.Summary.Outcomes[reconcile.Missing] != 3 {
		t.Errorf("workspace 2 alone: err = %v, report %v; want its 3 rows missing", err, rep)
	}
}
