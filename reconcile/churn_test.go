package reconcile_test

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

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
