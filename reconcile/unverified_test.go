package reconcile_test

import (
	"context"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spf13/afero"

	"sessaudit/db"
	"sessaudit/reconcile"
	"sessaudit/scanner/faultfs"
)

// unverifiedNow is the fixed time the visibility tests audit at.
var unverifiedNow = time.Date(2030, 1, 10, 12, 0, 0, 0, time.UTC)

// verifiedAgo is a live row with a path verified d before unverifiedNow
// (never, when d < 0) and created a year before it.
func verifiedAgo(id, ws uint64, session string, d time.Duration) db.Row {
	created := unverifiedNow.AddDate(-1, 0, 0)
	r := db.Row{ID: id, WorkspaceID: ws, SessionID: session, StoragePath: str("/mnt/efs/workspace_" + strconv.FormatUint(ws, 10) + "/session_" + session),
		CreatedAt: &created, UpdatedAt: &created}
	if d >= 0 {
		at := unverifiedNow.Add(-d)
		r.VerifiedAt = &at
	}
	return r
}

// unverifiedAudit audits at unverifiedNow with --max-unverified 48h (or
// maxUnverified when it is not 0).
func unverifiedAudit(t *testing.T, fsys afero.Fs, store *fakeStore, mutate func(*reconcile.Config)) *reconcile.Report {
	t.Helper()
	return audit(t, fsys, store, func(c *reconcile.Config) {
		c.Now = func() time.Time { return unverifiedNow }
		c.MaxUnverified = 48 * time.Hour
		if mutate != nil {
			mutate(c)
		}
	})
}

func findingOf(rep *reconcile.Report, kind reconcile.Outcome, id uint64) *reconcile.Finding {
	for i, f := range rep.Findings {
		if f.Kind == kind && slices.Contains(f.RowIDs, id) {
			return &rep.Findings[i]
		}
	}
	return nil
}

// A row whose directory is there but that was not verified for longer than
// MaxUnverified is a finding, unverified, with how long and why; a row
// verified now, verified lately, whose directory is missing, with no
// stored path, or in a conflict (its own finding) is not.
func TestAuditUnverified(t *testing.T) {
	created := unverifiedNow.Add(-time.Hour)
	youngNever := verifiedAgo(7, 1, "young", -1)
	youngNever.CreatedAt, youngNever.UpdatedAt = &created, &created
	// A table without created_at: a never verified row goes by
	// updated_at, which is never later than its creation.
	noCreated := verifiedAgo(8, 1, "nocreated", -1)
	old := unverifiedNow.Add(-72 * time.Hour)
	noCreated.CreatedAt, noCreated.UpdatedAt = nil, &old
	unlinked := live(9, 1, "unlinked", nil)
	base := afero.NewMemMapFs()
	writeTree(t, base, map[string]string{
		"workspace_1/session_ok/f":             "1",
		"workspace_1/session_bad/Default/f":    "1",
		"workspace_1/session_lately/Default/f": "1",
		"workspace_1/session_never/Default/f":  "1",
		"workspace_1/session_young/Default/f":  "1",
		"workspace_1/session_nocreated/D/f":    "1",
		"workspace_1/session_unlinked/f":       "1",
		"workspace_1/session_conflict/f":       "1",
		"workspace_2/session_c/f":              "1",
	})
	fsys := faultfs.New(base,
		faultfs.Rule{Match: func(p string) bool {
			return strings.HasSuffix(p, "/Default") || strings.HasSuffix(p, "/D")
		}, Err: syscall.EIO},
		faultfs.Rule{Match: func(p string) bool { return p == filepath.Join(root, "workspace_2") }, Ops: faultfs.OpOpen, Err: syscall.EACCES},
	)
	conflictA, conflictB := verifiedAgo(10, 1, "conflict", 96*time.Hour), verifiedAgo(11, 1, "conflict", time.Hour)
	store := &fakeStore{rows: []db.Row{
		verifiedAgo(1, 1, "ok", 30*24*time.Hour),   // verified by this run
		verifiedAgo(2, 1, "bad", 72*time.Hour),     // unreadable for three days
		verifiedAgo(3, 1, "lately", 47*time.Hour),  // unreadable, but verified within 48h
		verifiedAgo(4, 1, "never", -1),             // unreadable, created a year ago, never verified
		verifiedAgo(5, 1, "gone", 30*24*time.Hour), // missing, not unverified
		verifiedAgo(6, 2, "c", 50*time.Hour),       // its workspace cannot be listed
		youngNever, noCreated, unlinked, conflictA, conflictB,
	}}
	rep := unverifiedAudit(t, fsys, store, nil)
	want := []string{
		"conflict workspace_1/session_conflict [10 11]",
		"missing workspace_1/session_gone [5]",
		"unlinked workspace_1/session_unlinked [9]",
		"unreadable workspace_1/session_bad [2]",
		"unreadable workspace_1/session_lately [3]",
		"unreadable workspace_1/session_never [4]",
		"unreadable workspace_1/session_nocreated [8]",
		"unreadable workspace_1/session_young [7]",
		"unreadable workspace_2/session_c [6]",
		"unverified workspace_1/session_bad [2]",
		"unverified workspace_1/session_never [4]",
		"unverified workspace_1/session_nocreated [8]",
		"unverified workspace_2/session_c [6]",
	}
	if got := outcomes(rep); !slices.Equal(got, want) {
		t.Errorf("findings:\n got %q\nwant %q", got, want)
	}
	if got := rep.Summary.Outcomes[reconcile.Unverified]; got != 4 {
		t.Errorf("outcomes[unverified] = %d, want 4", got)
	}
	if got := rep.Summary.MaxUnverifiedSeconds; got != 48*3600 {
		t.Errorf("summary's max_unverified_seconds %v, want 172800", got)
	}
	if rep.Summary.Findings != len(want) {
		t.Errorf("summary counts %d findings, want %d", rep.Summary.Findings, len(want))
	}
	if store.written[1] != 1 {
		t.Errorf("written %v, want row 1 verified", store.written)
	}
	for id, wants := range map[uint64][]string{
		2: {"not verified for 3d 0h", "since 2030-01-07T12:00:00Z", "unreadable", "input/output error"},
		4: {"never verified", "created 2029-01-10T12:00:00Z", "unreadable"},
		8: {"never verified", "updated 2030-01-07T12:00:00Z", "3d 0h"},
		6: {"not verified for 2d 2h", "unreadable", "workspace directory could not be listed"},
	} {
		f := findingOf(rep, reconcile.Unverified, id)
		if f == nil {
			continue // reported above
		}
		for _, w := range wants {
			if !strings.Contains(f.Detail, w) {
				t.Errorf("row %d: detail %q does not say %q", id, f.Detail, w)
			}
		}
		if f.SizeBytes != nil {
			t.Errorf("row %d: an unverified finding carries a size (%d): none was verified", id, *f.SizeBytes)
		}
	}

	t.Run("MaxUnverified 0 turns it off", func(t *testing.T) {
		store := &fakeStore{rows: slices.Clone(store.rows)}
		rep := unverifiedAudit(t, fsys, store, func(c *reconcile.Config) { c.MaxUnverified = 0 })
		if n := rep.Summary.Outcomes[reconcile.Unverified]; n != 0 {
			t.Errorf("%d unverified with MaxUnverified 0", n)
		}
	})
}

// A directory that keeps changing under every audit, whose row was
// verified longer ago than MaxUnverified, is recent and unverified: not a
// size written, but a finding (issue 17).
func TestAuditUnverifiedWhileChanging(t *testing.T) {
	dir := t.TempDir()
	session := filepath.Join(dir, "workspace_1/session_a")
	makeTree(t, session, 10, 100)
	fsys := &replaceFs{Fs: afero.NewOsFs(), t: t, session: session, from: 2}
	store := &fakeStore{rows: []db.Row{verifiedAgo(1, 1, "a", 50*time.Hour)}}
	rep := unverifiedAudit(t, fsys, store, func(c *reconcile.Config) { c.Root = dir })
	if len(store.written) != 0 {
		t.Fatalf("wrote %v for a directory replaced at every look", store.written)
	}
	if got, want := outcomes(rep), []string{"unverified workspace_1/session_a [1]"}; !slices.Equal(got, want) {
		t.Fatalf("findings %q, want %q", got, want)
	}
	if rep.Summary.Outcomes[reconcile.Recent] != 1 {
		t.Errorf("outcomes %v: the directory itself is still recent", rep.Summary.Outcomes)
	}
	f := rep.Findings[0]
	for _, w := range []string{"not verified for 2d 2h", "recent: ", "measured"} {
		if !strings.Contains(f.Detail, w) {
			t.Errorf("detail %q does not say %q", f.Detail, w)
		}
	}
}

// A row deferred by the time budget past MaxUnverified is unverified; one
// verified lately is only deferred.
func TestAuditUnverifiedDeferred(t *testing.T) {
	fsys := afero.NewMemMapFs()
	writeTree(t, fsys, map[string]string{"workspace_1/session_old/f": "1", "workspace_1/session_new/f": "1"})
	store := &fakeStore{rows: []db.Row{verifiedAgo(1, 1, "old", 49*time.Hour), verifiedAgo(2, 1, "new", 47*time.Hour)}}
	rep := unverifiedAudit(t, fsys, store, func(c *reconcile.Config) {
		// The budget was spent before the audit began.
		c.MaxDuration, c.BudgetFrom = time.Second, unverifiedNow.Add(-time.Hour)
	})
	if rep.Summary.Outcomes[reconcile.Deferred] != 2 {
		t.Fatalf("outcomes %v, want both deferred", rep.Summary.Outcomes)
	}
	if got, want := outcomes(rep), []string{"unverified workspace_1/session_old [1]"}; !slices.Equal(got, want) {
		t.Fatalf("findings %q, want %q", got, want)
	}
	if d := rep.Findings[0].Detail; !strings.Contains(d, "deferred") || !strings.Contains(d, "time budget") {
		t.Errorf("detail %q does not say it was deferred by the time budget", d)
	}
}

// Watch mode's per-session reconcile reports the same unverified finding
// as the audit.
func TestReconcileUnverified(t *testing.T) {
	base := afero.NewMemMapFs()
	writeTree(t, base, map[string]string{"workspace_1/session_bad/Default/f": "1"})
	fsys := faultfs.New(base, faultfs.Rule{Path: "workspace_1/session_bad/Default", Err: syscall.EIO})
	store := &fakeStore{rows: []db.Row{verifiedAgo(2, 1, "bad", 72*time.Hour)}}
	r := reconcile.NewReconciler(fsys, store, reconcile.Config{Root: root, PathPrefix: "/mnt/efs", MinAge: time.Hour,
		MaxUnverified: 48 * time.Hour, Now: func() time.Time { return unverifiedNow }})
	res, err := r.Reconcile(context.Background(), "workspace_1/session_bad")
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, v := range res.Verdicts {
		kinds = append(kinds, string(v.Kind))
	}
	slices.Sort(kinds)
	if want := []string{"unreadable", "unverified"}; !slices.Equal(kinds, want) {
		t.Errorf("verdicts %q, want %q", kinds, want)
	}
}
