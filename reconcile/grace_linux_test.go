package reconcile_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/afero"

	"sessaudit/db"
	"sessaudit/reconcile"
	"sessaudit/scanner"
)

// copiedShare makes sessions as an operator copies them in with cp -a:
// written elsewhere, dated two days ago, then copied under the root, where
// they keep their modification times and every entry's change time is now.
// session_empty holds directories only. It returns the root and the rows:
// a soft-deleted one for session_softdel, none for the others.
func copiedShare(t *testing.T) (string, []db.Row) {
	t.Helper()
	base := t.TempDir()
	src, root := filepath.Join(base, "elsewhere"), filepath.Join(base, "share")
	files := []string{
		"session_copied/creds.json", "session_copied/Default/Local Storage/leveldb/000005.ldb",
		"session_softdel/creds.json", "session_empty/Default/IndexedDB/",
	}
	for _, f := range files {
		p := filepath.Join(src, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if f[len(f)-1] != '/' {
			if err := os.WriteFile(p, []byte("{}"), 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	old := time.Now().Add(-48 * time.Hour)
	err := filepath.Walk(src, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Chtimes(p, old, old)
	})
	if err != nil {
		t.Fatal(err)
	}
	ws := filepath.Join(root, "workspace_1")
	if err := os.MkdirAll(ws, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"session_copied", "session_softdel", "session_empty"} {
		if out, err := exec.Command("cp", "-a", filepath.Join(src, s), ws).CombinedOutput(); err != nil {
			t.Fatalf("cp -a %s: %v\n%s", s, err, out)
		}
	}
	// What the copy kept: the modification times of two days ago.
	fi, err := os.Stat(filepath.Join(ws, "session_copied", "creds.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !fi.ModTime().Equal(old) {
		t.Fatalf("cp -a gave modification time %v, want %v", fi.ModTime(), old)
	}
	return root, []db.Row{deleted(live(1, 1, "softdel", str("/mnt/efs/workspace_1/session_softdel")))}
}

// TestAuditGraceCountsChangeTimes: sessions copied in with cp -a keep
// modification times two days old, but were changed (ctime) just now: they
// are recent within the grace period, by the clock, and orphan or
// soft_deleted once it has passed, in the audit, a shard run, a run whose
// time budget sized nothing (each directory's own time) and watch mode's
// Reconcile (issue 18 item 6).
func TestAuditGraceCountsChangeTimes(t *testing.T) {
	root, rows := copiedShare(t)
	copied := time.Now()
	const minAge = time.Hour
	sessions := []string{"workspace_1/session_copied", "workspace_1/session_empty", "workspace_1/session_softdel"}

	// A run returns the finding, or the recent verdict, of every session
	// under clock.
	type run func(t *testing.T, clock time.Time) map[string]reconcile.Finding
	auditWith := func(mutate func(*reconcile.Config)) run {
		return func(t *testing.T, clock time.Time) map[string]reconcile.Finding {
			cfg := reconcile.Config{Root: root, PathPrefix: "/mnt/efs", MinAge: minAge, MaxMissingRatio: 1, DryRun: true,
				Now: func() time.Time { return clock }}
			if mutate != nil {
				mutate(&cfg)
			}
			rep, err := reconcile.Audit(context.Background(), afero.NewOsFs(), &fakeStore{rows: slices.Clone(rows)}, cfg)
			if err != nil {
				t.Fatalf("Audit: %v", err)
			}
			got := map[string]reconcile.Finding{}
			for _, f := range append(rep.Findings, rep.Recent...) {
				got[f.Path] = f
			}
			return got
		}
	}
	runs := []struct {
		name string
		run  run
	}{
		{"audit", auditWith(nil)},
		{"shard", auditWith(func(c *reconcile.Config) {
			c.Scope = scanner.AllWorkspaces().InShard(scanner.Shard{Index: 1, Count: 2})
		})},
		{"budget sized nothing", auditWith(func(c *reconcile.Config) {
			// Spent before the audit began.
			c.MaxDuration, c.BudgetFrom = time.Second, c.Now().Add(-time.Minute)
		})},
		{"watch", func(t *testing.T, clock time.Time) map[string]reconcile.Finding {
			r := reconcile.NewReconciler(afero.NewOsFs(), &fakeStore{rows: slices.Clone(rows)}, reconcile.Config{
				Root: root, PathPrefix: "/mnt/efs", MinAge: minAge, DryRun: true, Now: func() time.Time { return clock }})
			got := map[string]reconcile.Finding{}
			for _, key := range sessions {
				res, err := r.Reconcile(context.Background(), key)
				if err != nil {
					t.Fatalf("Reconcile(%s): %v", key, err)
				}
				for _, v := range res.Verdicts {
					got[v.Path] = v.Finding
				}
			}
			return got
		}},
	}
	for _, tc := range runs {
		t.Run(tc.name, func(t *testing.T) {
			within := tc.run(t, copied.Add(2*time.Second))
			for _, s := range sessions {
				if within[s].Kind != reconcile.Recent {
					t.Errorf("2 s after cp -a: %s is %q, want %q", s, within[s].Kind, reconcile.Recent)
				}
			}
			after := tc.run(t, copied.Add(minAge+time.Minute))
			want := map[string]reconcile.Outcome{
				"workspace_1/session_copied": reconcile.Orphan, "workspace_1/session_empty": reconcile.Orphan,
				"workspace_1/session_softdel": reconcile.SoftDeleted,
			}
			for s, w := range want {
				if after[s].Kind != w {
					t.Errorf("past the grace period: %s is %q, want %q", s, after[s].Kind, w)
				}
				// The budgeted run judged each by its directory's own
				// change time: it sized none.
				if unsized := strings.Contains(after[s].Detail, "not sized"); unsized != (tc.name == "budget sized nothing") {
					t.Errorf("%s: detail %q", s, after[s].Detail)
				}
			}
		})
	}
}
