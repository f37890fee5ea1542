package reconcile_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spf13/afero"

	"sessaudit/db"
	"sessaudit/reconcile"
)

// makeTree writes n files of size bytes each, spread over two levels of
// subdirectories, under dir.
func makeTree(t *testing.T, dir string, n, size int) {
	t.Helper()
	data := make([]byte, size)
	for i := range n {
		p := filepath.Join(dir, "Default", fmt.Sprintf("d%d", i%7), fmt.Sprintf("f%d", i))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Error(err)
			return
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Error(err)
			return
		}
	}
}

// replaceFs replaces a session directory with a freshly written one of
// another size when the session is looked at by name, from the look
// number `from` on (1 is the mount check before the walk; 2 the look just
// before the write); with once, only at that look.
type replaceFs struct {
	afero.Fs
	t        *testing.T
	session  string
	from     int32
	once     bool
	looks    atomic.Int32
	replaced atomic.Int32
	mu       sync.Mutex
}

func (f *replaceFs) LstatIfPossible(name string) (os.FileInfo, bool, error) {
	if name == f.session {
		n := f.looks.Add(1)
		if n == f.from || (!f.once && n > f.from) {
			f.mu.Lock()
			spare := fmt.Sprintf("%s.new%d", f.session, n)
			makeTree(f.t, spare, 30, 100)
			if err := os.RemoveAll(f.session); err != nil {
				f.t.Error(err)
			}
			if err := os.Rename(spare, f.session); err != nil {
				f.t.Error(err)
			}
			f.replaced.Add(1)
			f.mu.Unlock()
		}
	}
	return f.Fs.(afero.Lstater).LstatIfPossible(name)
}

// A directory replaced between the measurement and the write is measured
// again, and the new tree's whole size is written, never the old one
// (issue 9, defect 1).
func TestAuditMeasuresAReplacedDirectoryAgain(t *testing.T) {
	dir := t.TempDir()
	session := filepath.Join(dir, "workspace_1/session_a")
	makeTree(t, session, 10, 100) // 1000 bytes; the replacement has 3000
	fsys := &replaceFs{Fs: afero.NewOsFs(), t: t, session: session, from: 2, once: true}
	store := &fakeStore{rows: []db.Row{live(1, 1, "a", str("/mnt/efs/workspace_1/session_a"))}}
	rep := audit(t, fsys, store, func(c *reconcile.Config) { c.Root = dir })
	if fsys.replaced.Load() != 1 {
		t.Fatalf("replaced %d times, want 1", fsys.replaced.Load())
	}
	if got := store.written[1]; got != 3000 || rep.Summary.Outcomes[reconcile.Verified] != 1 {
		t.Fatalf("written %v, outcomes %v; want the replacement's 3000 bytes, verified", store.written, rep.Summary.Outcomes)
	}
}

// A directory that is replaced again and again is left for a later run:
// recent, not written.
func TestAuditLeavesADirectoryThatKeepsChanging(t *testing.T) {
	dir := t.TempDir()
	session := filepath.Join(dir, "workspace_1/session_a")
	makeTree(t, session, 10, 100)
	fsys := &replaceFs{Fs: afero.NewOsFs(), t: t, session: session, from: 2}
	store := &fakeStore{rows: []db.Row{live(1, 1, "a", str("/mnt/efs/workspace_1/session_a"))}}
	rep := audit(t, fsys, store, func(c *reconcile.Config) { c.Root = dir })
	if len(store.written) != 0 {
		t.Fatalf("wrote %v for a directory replaced at every look", store.written)
	}
	if rep.Summary.Outcomes[reconcile.Recent] != 1 || rep.Summary.Findings != 0 {
		t.Fatalf("outcomes %v, want it recent and no finding", rep.Summary.Outcomes)
	}
}

// A session directory deleted (rm -rf) and replaced in a loop while audits
// run on the native walker: every size written is the whole size of one of
// the two trees, never a part of one (issue 9, defect 1).
func TestAuditUnderChurnWritesOnlyWholeSizes(t *testing.T) {
	dir := t.TempDir()
	session := filepath.Join(dir, "workspace_1/session_a")
	const small, large = 40 * 100, 120 * 100
	makeTree(t, session, 40, 100)
	if err := os.MkdirAll(filepath.Join(dir, "workspace_1/session_b"), 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var swaps atomic.Int64
	wg.Go(func() {
		for i := 0; ctx.Err() == nil; i++ {
			spare := filepath.Join(dir, fmt.Sprintf("spare%d", i))
			n := 40
			if i%2 == 0 {
				n = 120
			}
			makeTree(t, spare, n, 100)
			if err := os.RemoveAll(session); err != nil { // rm -rf, entry by entry
				t.Error(err)
				return
			}
			if err := os.Rename(spare, session); err != nil {
				t.Error(err)
				return
			}
			swaps.Add(1)
			// Pause now and then, as a real session does between a
			// logout and the next login, so that audits meet both a
			// settled tree and one being replaced.
			if i%3 == 2 {
				select {
				case <-time.After(time.Duration(2000+rand.IntN(2000)) * time.Millisecond):
				case <-ctx.Done():
				}
			}
		}
	})
	defer wg.Wait()
	defer stop()

	audit := func() (int64, bool) {
		store := &fakeStore{rows: []db.Row{
			live(1, 1, "a", str("/mnt/efs/workspace_1/session_a")),
			live(2, 1, "b", str("/mnt/efs/workspace_1/session_b")),
		}}
		_, err := reconcile.Audit(context.Background(), afero.NewOsFs(), store, reconcile.Config{
			Root: dir, PathPrefix: "/mnt/efs", MinAge: time.Hour, MaxMissingRatio: 1,
			Now: func() time.Time { return time.Now().Add(48 * time.Hour) },
		})
		if err != nil {
			t.Fatalf("Audit: %v", err)
		}
		size, ok := store.written[1]
		return size, ok
	}
	// Audit until the directory was replaced often enough, within a bound.
	sizes := map[int64]int{}
	wantSwaps, limit := int64(12), 20*time.Second
	if testing.Short() {
		wantSwaps, limit = 6, 10*time.Second
	}
	runs := 0
	for start := time.Now(); swaps.Load() < wantSwaps && time.Since(start) < limit; runs++ {
		if size, ok := audit(); ok {
			sizes[size]++
		}
	}
	stop()
	wg.Wait()
	// The tree stands now: an audit measures it whole, after waiting for
	// it to be quiet if it changed moments ago.
	size, ok := audit()
	if !ok || (size != small && size != large) {
		t.Errorf("after the churn: written %d, %v; want one whole tree, %d or %d", size, ok, small, large)
	}
	for size := range sizes {
		if size != small && size != large {
			t.Errorf("wrote a partial size %d (whole trees are %d and %d); sizes written: %v", size, small, large, sizes)
		}
	}
	t.Logf("%d replacements; sizes written over %d audits during them: %v", swaps.Load(), runs, sizes)
	if swaps.Load() < 2 {
		t.Fatal("the directory was hardly replaced: the test tested nothing")
	}
}

// stallFs plays a deletion that pauses: the first open of vanish fails
// with ENOENT (the walk sees an entry vanish), and at the first look by
// name after the walk, the deletion goes on quietly with remove.
type stallFs struct {
	afero.Fs
	session, vanish, remove string
	opened, looked          atomic.Bool
}

func (f *stallFs) OpenFile(name string, flag int, perm os.FileMode) (afero.File, error) {
	if name == f.vanish && !f.opened.Swap(true) {
		return nil, &os.PathError{Op: "open", Path: name, Err: os.ErrNotExist}
	}
	return f.Fs.OpenFile(name, flag, perm)
}

func (f *stallFs) LstatIfPossible(name string) (os.FileInfo, bool, error) {
	if name == f.session && !f.looked.Swap(true) {
		if err := f.Fs.Remove(f.remove); err != nil {
			return nil, false, err
		}
	}
	return f.Fs.(afero.Lstater).LstatIfPossible(name)
}

// A directory that changed under its first measurement and measures
// differently after the quiet wait is left for a later run, even when the
// second measurement saw no change: a deletion that paused for longer than
// the wait looks settled, but not the same.
func TestAuditTwoMeasurementsMustAgree(t *testing.T) {
	fsys := afero.NewMemMapFs()
	writeTree(t, fsys, map[string]string{
		"workspace_1/session_a/f":       "1",
		"workspace_1/session_a/sub/g":   "22",
		"workspace_1/session_a/other/h": "333",
	})
	session := filepath.Join(root, "workspace_1/session_a")
	spy := &stallFs{Fs: fsys, session: session, vanish: filepath.Join(session, "sub"), remove: filepath.Join(session, "other/h")}
	store := &fakeStore{rows: []db.Row{live(1, 1, "a", str("/mnt/efs/workspace_1/session_a"))}}
	rep := audit(t, spy, store, nil)
	if !spy.opened.Load() || !spy.looked.Load() {
		t.Fatalf("the stall was not played: opened %v, looked %v", spy.opened.Load(), spy.looked.Load())
	}
	if len(store.written) != 0 {
		t.Fatalf("wrote %v after two measurements that differ", store.written)
	}
	if rep.Summary.Outcomes[reconcile.Recent] != 1 {
		t.Fatalf("outcomes %v, want it recent", rep.Summary.Outcomes)
	}
}
