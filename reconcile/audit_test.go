package reconcile_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spf13/afero"

	"sessaudit/db"
	"sessaudit/reconcile"
	"sessaudit/scanner"
	"sessaudit/scanner/faultfs"
)

const root = "/share"

// fakeStore is a RowStore over a slice, applying the same guard as the real
// store: a row is written only while it is live and holds the path read.
type fakeStore struct {
	rows    []db.Row
	written map[uint64]int64
	linked  map[uint64]string // paths written by WritePaths (backfill_test.go)
	calls   int
	// beforeWrite runs just before WriteSizes applies a batch.
	beforeWrite func(s *fakeStore)
}

// Rows returns what the database would: the rows of the selected
// workspaces and, with CrossPrefix, every row whose stored path is not
// plainly under its own workspace.
func (s *fakeStore) Rows(_ context.Context, sel db.Selection) ([]db.Row, error) {
	var out []db.Row
	for _, r := range s.rows {
		own := (!sel.Listed || slices.Contains(sel.Workspaces, r.WorkspaceID)) &&
			(sel.ShardCount == 0 || r.WorkspaceID%sel.ShardCount == sel.ShardIndex)
		cross := sel.CrossPrefix != "" && r.StoragePath != nil &&
			!strings.HasPrefix(*r.StoragePath, strings.TrimSuffix(sel.CrossPrefix, "/")+"/workspace_"+strconv.FormatUint(r.WorkspaceID, 10)+"/")
		if own || cross {
			out = append(out, r)
		}
	}
	return out, nil
}

func (s *fakeStore) Sample(_ context.Context, n int) ([]db.Row, error) {
	var out []db.Row
	for i := len(s.rows) - 1; i >= 0 && len(out) < n; i-- {
		if r := s.rows[i]; r.Live() && r.StoragePath != nil {
			out = append(out, r)
		}
	}
	return out, nil
}

func (s *fakeStore) WriteSizes(_ context.Context, batch []db.SizeUpdate, verifiedAt time.Time) (int, error) {
	s.calls++
	if s.beforeWrite != nil {
		s.beforeWrite(s)
	}
	if s.written == nil {
		s.written = map[uint64]int64{}
	}
	n := 0
	for _, u := range batch {
		for i, r := range s.rows {
			if r.ID == u.ID && r.Live() && r.StoragePath != nil && *r.StoragePath == u.StoragePath {
				s.written[u.ID] = u.SizeBytes
				s.rows[i].VerifiedAt = &verifiedAt
				n++
			}
		}
	}
	return n, nil
}

func str(s string) *string { return &s }

var longAgo = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func live(id, ws uint64, session string, path *string) db.Row {
	return db.Row{ID: id, WorkspaceID: ws, SessionID: session, StoragePath: path, CreatedAt: &longAgo, UpdatedAt: &longAgo}
}

func deleted(r db.Row) db.Row {
	r.DeletedAt = &longAgo
	return r
}

// writeTree writes files (path → content; a path ending in "/" is an empty
// directory) under root.
func writeTree(t *testing.T, fsys afero.Fs, files map[string]string) {
	t.Helper()
	if err := fsys.MkdirAll(root, 0o755); err != nil {
		t.Fatal(err)
	}
	for p, content := range files {
		full := filepath.Join(root, p)
		if strings.HasSuffix(p, "/") {
			if err := fsys.MkdirAll(full, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := fsys.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := afero.WriteFile(fsys, full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// outcome is one expected result, rendered compactly: "kind path rows".
func outcomes(rep *reconcile.Report) []string {
	var out []string
	for _, f := range rep.Findings {
		out = append(out, fmt.Sprintf("%s %s %v", f.Kind, f.Path, f.RowIDs))
	}
	sort.Strings(out)
	return out
}

func audit(t *testing.T, fsys afero.Fs, store *fakeStore, mutate func(*reconcile.Config)) *reconcile.Report {
	t.Helper()
	cfg := reconcile.Config{
		Root: root, PathPrefix: "/mnt/efs", MinAge: time.Hour, MaxMissingRatio: 1,
		// Everything written by the test is two days old by this clock.
		Now: func() time.Time { return time.Now().Add(48 * time.Hour) },
	}
	if mutate != nil {
		mutate(&cfg)
	}
	rep, err := reconcile.Audit(context.Background(), fsys, store, cfg)
	if err != nil {
		t.Fatalf("Audit: %v", err)
	}
	return rep
}

func TestAuditOutcomes(t *testing.T) {
	tests := []struct {
		name    string
		files   map[string]string
		rows    []db.Row
		want    []string // findings, "kind path [row ids]"
		written map[uint64]int64
		counts  map[reconcile.Outcome]int // non-finding outcomes to check
	}{
		{
			name:    "verified",
			files:   map[string]string{"workspace_1/session_a/creds.json": "12345", "workspace_1/session_a/Default/x": "abc"},
			rows:    []db.Row{live(1, 1, "a", str("/mnt/efs/workspace_1/session_a"))},
			written: map[uint64]int64{1: 8},
			counts:  map[reconcile.Outcome]int{reconcile.Verified: 1},
		},
		{
			name:    "verified through a path that needs cleaning",
			files:   map[string]string{"workspace_1/session_a/f": "1"},
			rows:    []db.Row{live(1, 1, "a", str("/mnt/efs//workspace_1/./session_a/"))},
			written: map[uint64]int64{1: 1},
		},
		{
			name:    "empty session is size 0",
			files:   map[string]string{"workspace_1/session_a/": ""},
			rows:    []db.Row{live(1, 1, "a", str("/mnt/efs/workspace_1/session_a"))},
			written: map[uint64]int64{1: 0},
		},
		{
			name:  "missing",
			files: map[string]string{"workspace_1/session_other/f": "1"},
			rows: []db.Row{
				live(1, 1, "a", str("/mnt/efs/workspace_1/session_a")),
				live(2, 1, "other", str("/mnt/efs/workspace_1/session_other")),
			},
			want:    []string{"missing workspace_1/session_a [1]"},
			written: map[uint64]int64{2: 1},
		},
		{
			name:  "missing workspace",
			files: map[string]string{"workspace_2/session_b/f": "1"},
			rows: []db.Row{
				live(1, 1, "a", str("/mnt/efs/workspace_1/session_a")),
				live(2, 2, "b", str("/mnt/efs/workspace_2/session_b")),
			},
			want:    []string{"missing workspace_1/session_a [1]"},
			written: map[uint64]int64{2: 1},
		},
		{
			name:  "orphan",
			files: map[string]string{"workspace_1/session_a/f": "12"},
			want:  []string{"orphan workspace_1/session_a []"},
		},
		{
			name:  "soft deleted",
			files: map[string]string{"workspace_1/session_a/f": "12"},
			rows:  []db.Row{deleted(live(1, 1, "a", str("/mnt/efs/workspace_1/session_a")))},
			want:  []string{"soft_deleted workspace_1/session_a [1]"},
		},
		{
			name:  "soft deleted with no path refers to its conventional directory",
			files: map[string]string{"workspace_1/session_a/f": "12"},
			rows:  []db.Row{deleted(live(1, 1, "a", nil))},
			want:  []string{"soft_deleted workspace_1/session_a [1]"},
		},
		{
			name:  "a live row wins over a deleted one",
			files: map[string]string{"workspace_1/session_a/f": "12"},
			rows: []db.Row{
				deleted(live(1, 1, "a-old", str("/mnt/efs/workspace_1/session_a"))),
				live(2, 1, "a", str("/mnt/efs/workspace_1/session_a")),
			},
			written: map[uint64]int64{2: 2},
		},
		{
			name:  "unlinked",
			files: map[string]string{"workspace_1/session_a/f": "12"},
			rows:  []db.Row{live(1, 1, "a", nil)},
			want:  []string{"unlinked workspace_1/session_a [1]"},
		},
		{
			name:   "no path and no directory",
			rows:   []db.Row{live(1, 1, "a", nil)},
			counts: map[reconcile.Outcome]int{reconcile.NoPath: 1},
		},
		{
			name:   "cleaned",
			rows:   []db.Row{deleted(live(1, 1, "a", str("/mnt/efs/workspace_1/session_a")))},
			counts: map[reconcile.Outcome]int{reconcile.Cleaned: 1},
		},
		{
			name:  "conflict: two live rows",
			files: map[string]string{"workspace_1/session_a/f": "12"},
			rows: []db.Row{
				live(1, 1, "a", str("/mnt/efs/workspace_1/session_a")),
				live(2, 1, "a2", str("/mnt/efs/workspace_1/session_a")),
			},
			want: []string{"conflict workspace_1/session_a [1 2]"},
		},
		{
			name:  "conflict: a row and an unlinked row",
			files: map[string]string{"workspace_1/session_a/f": "12"},
			rows: []db.Row{
				live(1, 1, "x", str("/mnt/efs/workspace_1/session_a")),
				live(2, 1, "a", nil),
			},
			want: []string{"conflict workspace_1/session_a [1 2]"},
		},
		{
			name:  "conflict: path in another workspace",
			files: map[string]string{"workspace_1/session_a/f": "12"},
			rows:  []db.Row{live(1, 2, "a", str("/mnt/efs/workspace_1/session_a"))},
			want:  []string{"conflict workspace_1/session_a [1]"},
		},
		{
			name: "unsafe paths are never looked up",
			rows: []db.Row{
				live(1, 1, "a", str("/mnt/efs/../etc/passwd")),
				live(2, 1, "b", str("workspace_1/session_b")),
				live(3, 1, "c", str("/elsewhere/workspace_1/session_c")),
				live(4, 1, "d", str("/mnt/efs/workspace_1/session_d/Default")),
			},
			want: []string{"unsafe_path  [1]", "unsafe_path  [2]", "unsafe_path  [3]", "unsafe_path  [4]"},
		},
		{
			name: "unrecognized",
			files: map[string]string{
				"lost+found/x": "", ".snapshot/y": "", "workspace_abc/z": "", "workspace_07/session_a/f": "",
				"workspace_1/tmp": "", "workspace_1/notes/": "", "stray.txt": "", "workspace_1/session_file": "",
			},
			want: []string{
				"unrecognized .snapshot []", "unrecognized lost+found []", "unrecognized stray.txt []",
				"unrecognized workspace_07 []", "unrecognized workspace_1/notes []", "unrecognized workspace_1/session_file []",
				"unrecognized workspace_1/tmp []", "unrecognized workspace_abc []",
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fsys := afero.NewMemMapFs()
			writeTree(t, fsys, tc.files)
			store := &fakeStore{rows: tc.rows}
			rep := audit(t, fsys, store, nil)
			if got := outcomes(rep); !slices.Equal(got, tc.want) {
				t.Errorf("findings:\n got %q\nwant %q", got, tc.want)
			}
			if len(store.written) != len(tc.written) {
				t.Errorf("written %v, want %v", store.written, tc.written)
			}
			for id, size := range tc.written {
				if got, ok := store.written[id]; !ok || got != size {
					t.Errorf("row %d written %d (%v), want %d", id, got, ok, size)
				}
			}
			for o, n := range tc.counts {
				if rep.Summary.Outcomes[o] != n {
					t.Errorf("outcome %s counted %d, want %d", o, rep.Summary.Outcomes[o], n)
				}
			}
			if rep.Summary.Findings != len(tc.want) || !rep.Summary.Complete {
				t.Errorf("summary findings %d complete %v", rep.Summary.Findings, rep.Summary.Complete)
			}
		})
	}
}

// Every directory and every row gets exactly one outcome.
func TestAuditCountsEveryThingOnce(t *testing.T) {
	fsys := afero.NewMemMapFs()
	writeTree(t, fsys, map[string]string{
		"workspace_1/session_a/f": "1", "workspace_1/session_b/f": "1", "workspace_1/session_c/f": "1",
		"workspace_2/session_d/f": "1", "workspace_2/session_e/f": "1",
	})
	rows := []db.Row{
		live(1, 1, "a", str("/mnt/efs/workspace_1/session_a")),          // verified
		deleted(live(2, 1, "b", str("/mnt/efs/workspace_1/session_b"))), // soft_deleted
		live(3, 2, "d", nil), // unlinked
		live(4, 2, "x", str("/mnt/efs/workspace_2/session_x")), // missing
		deleted(live(5, 2, "y", nil)),                          // cleaned
		live(6, 3, "z", nil),                                   // no_path
	}
	rep := audit(t, fsys, &fakeStore{rows: rows}, nil)
	total := 0
	for _, n := range rep.Summary.Outcomes {
		total += n
	}
	// 6 rows + 2 directories without rows (c orphan, e orphan), where a
	// directory and its rows share one outcome: a, b, d.
	if want := 8; total != want {
		t.Errorf("outcomes total %d, want %d: %v", total, want, rep.Summary.Outcomes)
	}
}

func TestAuditGracePeriod(t *testing.T) {
	// The audit runs two hours after the tree was written, by its clock:
	// no time is set back (a change time cannot be; see
	// TestAuditGraceCountsChangeTimes for a real copy).
	now := time.Now().Add(2 * time.Hour)
	fsys := afero.NewMemMapFs()
	writeTree(t, fsys, map[string]string{"workspace_1/session_new/f": "1", "workspace_1/session_old/f": "1",
		"workspace_1/session_touched/f": "1"})
	// Changed just now by the audit's clock: a session directory, and a
	// file deep inside a session, which makes it young though the
	// directory is old.
	for _, p := range []string{"workspace_1/session_new", "workspace_1/session_touched/f"} {
		if err := fsys.Chtimes(filepath.Join(root, p), now, now); err != nil {
			t.Fatal(err)
		}
	}
	recentRow := live(1, 1, "fresh", str("/mnt/efs/workspace_1/session_fresh"))
	recentRow.CreatedAt = &now
	updatedRow := live(2, 1, "upd", str("/mnt/efs/workspace_1/session_upd"))
	updatedRow.UpdatedAt = &now
	store := &fakeStore{rows: []db.Row{recentRow, updatedRow, live(3, 1, "gone", str("/mnt/efs/workspace_1/session_gone"))}}
	rep := audit(t, fsys, store, func(c *reconcile.Config) { c.Now = func() time.Time { return now } })
	want := []string{"missing workspace_1/session_gone [3]", "orphan workspace_1/session_old []"}
	if got := outcomes(rep); !slices.Equal(got, want) {
		t.Errorf("findings:\n got %q\nwant %q", got, want)
	}
	if got := rep.Summary.Outcomes[reconcile.Recent]; got != 4 {
		t.Errorf("recent %d, want 4 (two directories, two rows)", got)
	}
	// The report says which (issue 9, defect 13).
	var recent []string
	for _, f := range rep.Recent {
		recent = append(recent, fmt.Sprintf("%s %v", f.Path, f.RowIDs))
	}
	wantRecent := []string{"workspace_1/session_fresh [1]", "workspace_1/session_new []", "workspace_1/session_touched []", "workspace_1/session_upd [2]"}
	if !slices.Equal(recent, wantRecent) {
		t.Errorf("recent list %q, want %q", recent, wantRecent)
	}
}

func TestAuditRefusesWhenTooManyMissing(t *testing.T) {
	fsys := afero.NewMemMapFs()
	writeTree(t, fsys, map[string]string{"workspace_1/session_a/f": "1"})
	store := &fakeStore{rows: []db.Row{
		live(1, 1, "a", str("/mnt/efs/workspace_1/session_a")),
		live(2, 1, "b", str("/mnt/efs/workspace_1/session_b")),
		live(3, 1, "c", str("/mnt/efs/workspace_1/session_c")),
	}}
	cfg := reconcile.Config{Root: root, PathPrefix: "/mnt/efs", MaxMissingRatio: 0.5}
	rep, err := reconcile.Audit(context.Background(), fsys, store, cfg)
	if !errors.Is(err, reconcile.ErrTooManyMissing) {
		t.Fatalf("err = %v, want ErrTooManyMissing", err)
	}
	if rep != nil || store.calls != 0 {
		t.Fatalf("report %v, %d writes; want nothing", rep, store.calls)
	}
	// An empty root, the unmounted case, is refused the same way.
	empty := afero.NewMemMapFs()
	writeTree(t, empty, nil)
	if _, err := reconcile.Audit(context.Background(), empty, store, cfg); !errors.Is(err, reconcile.ErrTooManyMissing) {
		t.Fatalf("empty root: err = %v, want ErrTooManyMissing", err)
	}
	// At exactly the ratio, the audit goes on.
	cfg.MaxMissingRatio = 2.0 / 3
	if _, err := reconcile.Audit(context.Background(), fsys, store, cfg); err != nil {
		t.Fatalf("at the ratio: %v", err)
	}
}

func TestAuditDryRunWritesNothing(t *testing.T) {
	fsys := afero.NewMemMapFs()
	writeTree(t, fsys, map[string]string{"workspace_1/session_a/f": "1"})
	store := &fakeStore{rows: []db.Row{live(1, 1, "a", str("/mnt/efs/workspace_1/session_a"))}}
	rep := audit(t, fsys, store, func(c *reconcile.Config) { c.DryRun = true })
	if store.calls != 0 || rep.Summary.RowsWritten != 0 || !rep.Summary.DryRun {
		t.Fatalf("dry run wrote: calls %d, summary %+v", store.calls, rep.Summary)
	}
	if rep.Summary.Outcomes[reconcile.Verified] != 1 {
		t.Fatalf("dry run still classifies: %v", rep.Summary.Outcomes)
	}
}

func TestAuditWorkspaceFilter(t *testing.T) {
	fsys := afero.NewMemMapFs()
	writeTree(t, fsys, map[string]string{"workspace_1/session_a/f": "1", "workspace_2/session_b/f": "1", "junk": ""})
	store := &fakeStore{rows: []db.Row{
		live(1, 1, "a", str("/mnt/efs/workspace_1/session_a")),
		live(2, 2, "x", str("/mnt/efs/workspace_2/session_x")),
	}}
	rep := audit(t, fsys, store, func(c *reconcile.Config) { c.Scope = scanner.OnlyWorkspaces(1) })
	if got := outcomes(rep); len(got) != 0 {
		t.Errorf("findings outside the filter: %q", got)
	}
	if store.written[1] != 1 || len(store.written) != 1 {
		t.Errorf("written %v", store.written)
	}
}

// A session whose measurement fails is unreadable: not missing, not
// written; the rest of the audit completes.
func TestAuditUnreadable(t *testing.T) {
	base := afero.NewMemMapFs()
	writeTree(t, base, map[string]string{
		"workspace_1/session_a/f": "1", "workspace_1/session_bad/Default/f": "1",
		"workspace_2/session_c/f": "1", "workspace_3/session_orphan_maybe/f": "1",
	})
	fsys := faultfs.New(base,
		faultfs.Rule{Path: "workspace_1/session_bad/Default", Err: syscall.EIO},
		faultfs.Rule{Match: func(p string) bool { return p == filepath.Join(root, "workspace_2") }, Ops: faultfs.OpOpen, Err: syscall.EACCES},
		faultfs.Rule{Match: func(p string) bool { return p == filepath.Join(root, "workspace_3") }, Ops: faultfs.OpOpen, Err: syscall.ESTALE},
	)
	store := &fakeStore{rows: []db.Row{
		live(1, 1, "a", str("/mnt/efs/workspace_1/session_a")),
		live(2, 1, "bad", str("/mnt/efs/workspace_1/session_bad")),
		live(3, 2, "c", str("/mnt/efs/workspace_2/session_c")),
		live(4, 2, "gone", str("/mnt/efs/workspace_2/session_gone")),
	}}
	rep := audit(t, fsys, store, nil)
	want := []string{
		"unreadable workspace_1/session_bad [2]",
		"unreadable workspace_2/session_c [3]",
		"unreadable workspace_2/session_gone [4]",
		"unreadable workspace_3 []",
	}
	if got := outcomes(rep); !slices.Equal(got, want) {
		t.Errorf("findings:\n got %q\nwant %q", got, want)
	}
	if len(store.written) != 1 || store.written[1] != 1 {
		t.Errorf("written %v, want only row 1", store.written)
	}
}

// A row the application changes between the read and the write is left alone.
func TestAuditConcurrentApplicationWrite(t *testing.T) {
	fsys := afero.NewMemMapFs()
	writeTree(t, fsys, map[string]string{"workspace_1/session_a/f": "1", "workspace_1/session_b/f": "1", "workspace_1/session_c/f": "1"})
	store := &fakeStore{rows: []db.Row{
		live(1, 1, "a", str("/mnt/efs/workspace_1/session_a")),
		live(2, 1, "b", str("/mnt/efs/workspace_1/session_b")),
		live(3, 1, "c", str("/mnt/efs/workspace_1/session_c")),
	}}
	store.beforeWrite = func(s *fakeStore) {
		s.rows[0].StoragePath = str("/mnt/efs/workspace_1/session_moved")
		s.rows[1] = deleted(s.rows[1])
	}
	rep := audit(t, fsys, store, nil)
	if len(store.written) != 1 || store.written[3] != 1 {
		t.Errorf("written %v, want only row 3", store.written)
	}
	if rep.Summary.RowsWritten != 1 || rep.Summary.RowsChanged != 2 {
		t.Errorf("summary written %d changed %d", rep.Summary.RowsWritten, rep.Summary.RowsChanged)
	}
}

func intp(i int) *int { return &i }

func TestAuditInstances(t *testing.T) {
	fsys := afero.NewMemMapFs()
	writeTree(t, fsys, map[string]string{
		"workspace_4/session_a/f": "1234", "workspace_5/session_b/f": "12", "workspace_6/session_orphan/f": "1",
	})
	a := live(1, 4, "a", str("/mnt/efs/workspace_4/session_a"))
	a.InstanceIndex = intp(0) // 4 % 4
	b := live(2, 5, "b", str("/mnt/efs/workspace_5/session_b"))
	b.InstanceIndex = intp(2) // 5 % 4 = 1: misrouted
	c := live(3, 5, "c", str("/mnt/efs/workspace_5/session_c"))
	c.InstanceIndex = intp(1) // missing
	d := live(4, 7, "d", nil) // no index: misrouted
	store := &fakeStore{rows: []db.Row{a, b, c, d}}
	rep := audit(t, fsys, store, func(c *reconcile.Config) { c.InstanceCount = 4; c.PerInstance = true })

	want := []string{
		"misrouted  [4]",
		"misrouted workspace_5/session_b [2]",
		"missing workspace_5/session_c [3]",
		"orphan workspace_6/session_orphan []",
	}
	if got := outcomes(rep); !slices.Equal(got, want) {
		t.Errorf("findings:\n got %q\nwant %q", got, want)
	}
	// Misrouted comes on top of the storage outcome: row 2 is still written.
	if store.written[2] != 2 || store.written[1] != 4 {
		t.Errorf("written %v", store.written)
	}
	got := map[string]reconcile.InstanceSummary{}
	for _, is := range rep.Summary.Instances {
		got[is.Instance] = is
	}
	wantInst := map[string]reconcile.InstanceSummary{
		"0":          {Instance: "0", Rows: 1, Sessions: 1, Bytes: 4, MeteredBytes: 4096 + 2*2048},
		"1":          {Instance: "1", Rows: 1, Findings: 1},
		"2":          {Instance: "2", Rows: 1, Sessions: 1, Bytes: 2, MeteredBytes: 4096 + 2*2048, Findings: 1},
		"unassigned": {Instance: "unassigned", Rows: 1, Sessions: 1, Bytes: 1, MeteredBytes: 4096 + 2*2048, Findings: 2},
	}
	if len(got) != len(wantInst) {
		t.Errorf("instances %+v", rep.Summary.Instances)
	}
	for name, w := range wantInst {
		if got[name] != w {
			t.Errorf("instance %s: %+v, want %+v", name, got[name], w)
		}
	}
	if rep.Summary.Instances[0].Instance != "0" || rep.Summary.Instances[len(rep.Summary.Instances)-1].Instance != "unassigned" {
		t.Errorf("instances out of order: %+v", rep.Summary.Instances)
	}
}

// An interrupted audit writes nothing and says it is incomplete.
func TestAuditInterrupted(t *testing.T) {
	base := afero.NewMemMapFs()
	writeTree(t, base, map[string]string{"workspace_1/session_a/f": "1", "workspace_1/session_b/f": "1"})
	stall := make(chan struct{})
	fsys := faultfs.New(base, faultfs.Rule{Path: "session_b", Stall: stall})
	t.Cleanup(fsys.Release)
	store := &fakeStore{rows: []db.Row{live(1, 1, "a", str("/mnt/efs/workspace_1/session_a"))}}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for fsys.Counts().Waiting == 0 {
			time.Sleep(time.Millisecond)
		}
		cancel()
	}()
	cfg := reconcile.Config{Root: root, PathPrefix: "/mnt/efs", MaxMissingRatio: 1}
	rep, err := reconcile.Audit(ctx, fsys, store, cfg)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if rep == nil || rep.Summary.Complete || rep.Summary.Error == "" {
		t.Fatalf("want an incomplete report, got %+v", rep)
	}
	if store.calls != 0 || len(rep.Findings) != 0 {
		t.Fatalf("interrupted audit wrote %d batches, judged %d findings", store.calls, len(rep.Findings))
	}
}

// A directory read that hangs is bounded by the I/O timeout: that session is
// unreadable, its row untouched, and the rest of the audit completes.
func TestAuditStalledRead(t *testing.T) {
	base := afero.NewMemMapFs()
	writeTree(t, base, map[string]string{"workspace_1/session_a/f": "1", "workspace_1/session_hung/Default/f": "1"})
	fsys := faultfs.New(base, faultfs.Rule{Path: "session_hung/Default", Stall: make(chan struct{})})
	t.Cleanup(fsys.Release)
	store := &fakeStore{rows: []db.Row{
		live(1, 1, "a", str("/mnt/efs/workspace_1/session_a")),
		live(2, 1, "hung", str("/mnt/efs/workspace_1/session_hung")),
	}}
	start := time.Now()
	rep := audit(t, fsys, store, func(c *reconcile.Config) { c.Walk.IOTimeout = 100 * time.Millisecond })
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Errorf("audit took %v", elapsed)
	}
	want := []string{"unreadable workspace_1/session_hung [2]"}
	if got := outcomes(rep); !slices.Equal(got, want) {
		t.Errorf("findings:\n got %q\nwant %q", got, want)
	}
	if !strings.Contains(rep.Findings[0].Detail, "timed out") {
		t.Errorf("detail %q does not say it timed out", rep.Findings[0].Detail)
	}
	if len(store.written) != 1 || store.written[1] != 1 {
		t.Errorf("written %v, want only row 1", store.written)
	}
}

// TestAuditCountsFilesystemCalls: the report's fs_ops is the Calls of the
// walk's Progress, the one figure the progress line and the metrics read
// too, and it counts the calls made outside the walk (the mount check,
// the look again at a missing row's path) as well as the walk's.
func TestAuditCountsFilesystemCalls(t *testing.T) {
	tr := map[string]string{
		"workspace_1/session_a/f": "1", "workspace_1/session_b/d/f": "1",
		"workspace_2/session_c/f": "1",
	}
	rows := []db.Row{
		live(1, 1, "a", str("/mnt/efs/workspace_1/session_a")),
		live(2, 2, "x", str("/mnt/efs/workspace_2/session_x")), // missing: looked at again
	}
	for _, tc := range []struct {
		name   string
		budget time.Duration
	}{{"walk", 0}, {"budget", time.Hour}} {
		t.Run(tc.name, func(t *testing.T) {
			fsys := afero.NewMemMapFs()
			writeTree(t, fsys, tr)
			walked := &scanner.Progress{}
			if err := scanner.Walk(context.Background(), fsys, root, scanner.Config{Progress: walked}, func(scanner.Entry) error { return nil }); err != nil {
				t.Fatal(err)
			}
			prog := &scanner.Progress{}
			rep := audit(t, fsys, &fakeStore{rows: rows}, func(c *reconcile.Config) {
				c.Walk.Progress = prog
				c.MaxDuration = tc.budget
			})
			if got, want := rep.Summary.FSOps, prog.Calls.Load(); got != want {
				t.Errorf("fs_ops %d, Progress.Calls %d", got, want)
			}
			if rep.Summary.FSOps <= walked.Calls.Load() {
				t.Errorf("fs_ops %d, no more than the %d calls of the walk alone", rep.Summary.FSOps, walked.Calls.Load())
			}
			// Without a Progress of the caller's, the audit counts with its own.
			rep = audit(t, fsys, &fakeStore{rows: rows}, func(c *reconcile.Config) { c.MaxDuration = tc.budget })
			if rep.Summary.FSOps <= walked.Calls.Load() {
				t.Errorf("without a Progress: fs_ops %d", rep.Summary.FSOps)
			}
		})
	}
}

// noSample is a store with no row to sample: the mount check looks at no
// path, and what the audit asks of the filesystem beyond the walk is the
// look again before the write.
type noSample struct{ *fakeStore }

func (noSample) Sample(context.Context, int) ([]db.Row, error) { return nil, nil }

// TestAuditCountsTheSecondLook: fs_ops counts the look again at every
// verified directory (scanner.LookupMany), not only the walk.
func TestAuditCountsTheSecondLook(t *testing.T) {
	fsys := afero.NewMemMapFs()
	tr := map[string]string{}
	var rows []db.Row
	var rels []string
	for i := range 20 {
		ws, id := uint64(1+i%2), fmt.Sprintf("s%02d", i)
		rel := scanner.SessionPath(ws, id)
		tr[rel+"/f"] = "1"
		rows = append(rows, live(uint64(i+1), ws, id, str("/mnt/efs/"+rel)))
		rels = append(rels, rel)
	}
	writeTree(t, fsys, tr)
	ctx := context.Background()
	walked, looked := &scanner.Progress{}, &scanner.Progress{}
	if err := scanner.Walk(ctx, fsys, root, scanner.Config{Progress: walked}, func(scanner.Entry) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if err := scanner.LookupMany(ctx, fsys, root, rels, scanner.Config{Progress: looked}, func(int, scanner.Identity, error) {}); err != nil {
		t.Fatal(err)
	}
	rep, err := reconcile.Audit(ctx, fsys, noSample{&fakeStore{rows: rows}}, reconcile.Config{
		Root: root, PathPrefix: "/mnt/efs", MinAge: time.Hour, MaxMissingRatio: 1, DryRun: true,
		Now: func() time.Time { return time.Now().Add(48 * time.Hour) },
	})
	if err != nil {
		t.Fatal(err)
	}
	if n := rep.Summary.Outcomes[reconcile.Verified]; n != len(rels) {
		t.Fatalf("%d verified, want %d", n, len(rels))
	}
	if want := walked.Calls.Load() + looked.Calls.Load(); rep.Summary.FSOps < want {
		t.Errorf("fs_ops %d, less than the walk's %d calls and the second look's %d", rep.Summary.FSOps, walked.Calls.Load(), looked.Calls.Load())
	}
}

// slowStore is a fakeStore whose reads and writes take time on a clock
// of the test's.
type slowStore struct {
	*fakeStore
	clock               *time.Time
	readTime, writeTime time.Duration
}

func (s slowStore) Rows(ctx context.Context, sel db.Selection) ([]db.Row, error) {
	*s.clock = s.clock.Add(s.readTime)
	return s.fakeStore.Rows(ctx, sel)
}

func (s slowStore) WriteSizes(ctx context.Context, batch []db.SizeUpdate, verifiedAt time.Time) (int, error) {
	*s.clock = s.clock.Add(s.writeTime)
	return s.fakeStore.WriteSizes(ctx, batch, verifiedAt)
}

func TestAuditPhases(t *testing.T) {
	fsys := afero.NewMemMapFs()
	writeTree(t, fsys, map[string]string{"workspace_1/session_a/f": "1", "workspace_1/session_b/f": "1"})
	clock := time.Now().Add(48 * time.Hour)
	store := slowStore{
		fakeStore: &fakeStore{rows: []db.Row{
			live(1, 1, "a", str("/mnt/efs/workspace_1/session_a")),
			live(2, 1, "b", str("/mnt/efs/workspace_1/session_b")),
		}},
		clock: &clock, readTime: 3 * time.Second, writeTime: 5 * time.Second,
	}
	rep, err := reconcile.Audit(context.Background(), fsys, store, reconcile.Config{
		Root: root, PathPrefix: "/mnt/efs", MinAge: time.Hour, MaxMissingRatio: 1,
		Now: func() time.Time { return clock },
	})
	if err != nil {
		t.Fatal(err)
	}
	// The rows are read while the share is walked: the walk takes as long.
	want := reconcile.Phases{Rows: 3, Walk: 3, Write: 5}
	if got := rep.Summary.Phases; got == nil || *got != want {
		t.Errorf("phases %+v, want %+v", got, want)
	}
	if got := rep.Summary.DurationSeconds; got != 8 {
		t.Errorf("duration %vs, want 8s", got)
	}
}

// failingRows is a fakeStore whose Rows fails.
type failingRows struct{ *fakeStore }

func (failingRows) Rows(context.Context, db.Selection) ([]db.Row, error) {
	return nil, errors.New("connection refused")
}

// TestAuditRowsFailDuringWalk: the rows are read while the share is
// walked; when they cannot be read, the audit fails with that error, not
// the walk's, and writes nothing.
func TestAuditRowsFailDuringWalk(t *testing.T) {
	fsys := afero.NewMemMapFs()
	writeTree(t, fsys, map[string]string{"workspace_1/session_a/f": "1"})
	store := failingRows{&fakeStore{rows: []db.Row{live(1, 1, "a", str("/mnt/efs/workspace_1/session_a"))}}}
	rep, err := reconcile.Audit(context.Background(), fsys, store, reconcile.Config{
		Root: root, PathPrefix: "/mnt/efs", MinAge: time.Hour, MaxMissingRatio: 1,
		Now: func() time.Time { return time.Now().Add(48 * time.Hour) },
	})
	if err == nil || !strings.Contains(err.Error(), "read rows: connection refused") {
		t.Errorf("Audit error = %v, want the rows' error", err)
	}
	if rep != nil {
		t.Errorf("Audit returned a report: %+v", rep.Summary)
	}
	if store.calls != 0 {
		t.Errorf("Audit wrote %d batches", store.calls)
	}
}
