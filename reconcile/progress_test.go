package reconcile_test

import (
	"context"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spf13/afero"

	"sessaudit/db"
	"sessaudit/reconcile"
	"sessaudit/scanner"
)

// openCountFs counts the opens of one directory.
type openCountFs struct {
	afero.Fs
	dir    string
	opened atomic.Int32
}

func (f *openCountFs) OpenFile(name string, flag int, perm os.FileMode) (afero.File, error) {
	if name == f.dir {
		f.opened.Add(1)
	}
	return f.Fs.OpenFile(name, flag, perm)
}

// TestAuditProgressCountsARemeasuredSessionOnce: a session changed moments
// before the walk is measured again after the quiet wait (settle). The
// walk's Progress, which the progress line reads, counts it once (its
// sessions, entries and bytes are those of the share, not of the
// measurements), while its Calls, the report's fs_ops, count the calls of
// both measurements: EFS bills every one.
func TestAuditProgressCountsARemeasuredSessionOnce(t *testing.T) {
	for _, tc := range []struct {
		name   string
		budget time.Duration
	}{{"walk", 0}, {"budget", time.Hour}} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			a := filepath.Join(dir, "workspace_1/session_a")
			makeTree(t, a, 10, 100)
			makeTree(t, filepath.Join(dir, "workspace_2/session_b"), 5, 100)
			// Session a changes now, an entry added to it, moments before
			// the audit's walk.
			if err := os.WriteFile(filepath.Join(a, "new"), make([]byte, 100), 0o644); err != nil {
				t.Fatal(err)
			}
			// What one walk of the share counts and calls, and one
			// measurement of session a, through afero as the audit's.
			ctx := context.Background()
			ref := &openCountFs{Fs: afero.NewOsFs()}
			walked, measured := &scanner.Progress{}, &scanner.Progress{}
			if err := scanner.Walk(ctx, ref, dir, scanner.Config{Progress: walked}, func(scanner.Entry) error { return nil }); err != nil {
				t.Fatal(err)
			}
			if _, err := scanner.Measure(ctx, ref, dir, "workspace_1/session_a", scanner.Config{Progress: measured}); err != nil {
				t.Fatal(err)
			}
			fsys := &openCountFs{Fs: afero.NewOsFs(), dir: a}
			store := &fakeStore{rows: []db.Row{
				live(1, 1, "a", str("/mnt/efs/workspace_1/session_a")),
				live(2, 2, "b", str("/mnt/efs/workspace_2/session_b")),
			}}
			prog := &scanner.Progress{}
			rep := audit(t, fsys, store, func(c *reconcile.Config) {
				c.Root = dir
				c.Walk.Progress = prog
				c.MaxDuration = tc.budget
			})
			if n := fsys.opened.Load(); n < 2 {
				t.Fatalf("session a opened %d times: it was not measured again, the test tests nothing", n)
			}
			if got := store.written[1]; got != 1100 {
				t.Fatalf("written %v, want session a's 1100 bytes: outcomes %v", store.written, rep.Summary.Outcomes)
			}
			for _, c := range []struct {
				what      string
				got, want int64
			}{
				{"Sessions", prog.Sessions.Load(), 2},
				{"SessionsDone", prog.SessionsDone.Load(), 2},
				{"Entries", prog.Entries.Load(), walked.Entries.Load()},
				{"Bytes", prog.Bytes.Load(), walked.Bytes.Load()},
			} {
				if c.got != c.want {
					t.Errorf("Progress.%s %d, want %d: each session counted once", c.what, c.got, c.want)
				}
			}
			if got, want := rep.Summary.FSOps, walked.Calls.Load()+measured.Calls.Load(); got < want {
				t.Errorf("fs_ops %d, less than one walk's %d calls and one measurement's %d: the second measurement's calls are not counted",
					got, walked.Calls.Load(), measured.Calls.Load())
			}
			if got := rep.Summary.FSOps; got != prog.Calls.Load() {
				t.Errorf("fs_ops %d, Progress.Calls %d", got, prog.Calls.Load())
			}
		})
	}
}
