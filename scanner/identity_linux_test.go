package scanner_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/spf13/afero"

	"sessaudit/scanner"
)

// TestOsSessionReplaced removes a session directory (rm -rf) and creates it
// again while the walk measures it, between the opening and the listing of
// one of its subdirectories: the entry says it changed, and (natively, where
// the birth time tells a reused inode number apart) its Identity is not
// that of the directory there now.
func TestOsSessionReplaced(t *testing.T) { forEachOS(t, testOsSessionReplaced) }

func testOsSessionReplaced(t *testing.T, impl osImpl) {
	root := osTree(t, tree{
		"workspace_1/session_a/f":     "x",
		"workspace_1/session_a/sub/g": "yy",
		"workspace_1/session_b/h":     "zzz",
	})
	sess := filepath.Join(root, "workspace_1", "session_a")
	sub := filepath.Join(sess, "sub")
	replace := func() error {
		if err := os.RemoveAll(sess); err != nil {
			return err
		}
		writeTree(t, afero.NewOsFs(), sess, tree{"new": "new content"})
		return nil
	}
	settle(t)
	fsys, cfg := impl.fs(t, faults{list: map[string]func() error{sub: replace}}, scanner.Config{})
	entries := walk(t, fsys, root, cfg)
	e := entries["workspace_1/session_a"]
	if e.Err != nil || e.Changed == "" {
		t.Fatalf("session_a = Err %v, Changed %q; want no error and a change", e.Err, e.Changed)
	}
	if e.Usage.Files != 1 || e.Usage.Dirs != 2 {
		t.Errorf("session_a usage %+v, want what was listed: 1 file, 2 dirs", e.Usage)
	}
	now, err := lookupOne(t, fsys, root, "workspace_1/session_a", cfg)
	if err != nil {
		t.Fatal(err)
	}
	if impl.native && e.Identity.Same(now) {
		t.Errorf("identity measured %v is Same as the one there now %v", e.Identity, now)
	}
	b := entries["workspace_1/session_b"]
	bNow, err := lookupOne(t, fsys, root, "workspace_1/session_b", cfg)
	if err != nil {
		t.Fatal(err)
	}
	if b.Err != nil || b.Changed != "" || !b.Identity.Same(bNow) || b.Identity == (scanner.Identity{}) {
		t.Errorf("session_b = Err %v, Changed %q, Identity %v (now %v); want unchanged, the same", b.Err, b.Changed, b.Identity, bNow)
	}
}

// TestOsSessionCtimeMoved adds and removes a file directly in a session
// directory while it is measured: its change time moves, which the entry
// reports as a change, with its sizes.
func TestOsSessionCtimeMoved(t *testing.T) { forEachOS(t, testOsSessionCtimeMoved) }

func testOsSessionCtimeMoved(t *testing.T, impl osImpl) {
	root := osTree(t, tree{
		"workspace_1/session_a/f":     "x",
		"workspace_1/session_a/sub/g": "yy",
	})
	sess := filepath.Join(root, "workspace_1", "session_a")
	before := ctime(t, sess)
	touch := func() error {
		// Timestamps may be as coarse as a clock tick: change until the
		// change shows.
		for ctime(t, sess) == before {
			tmp := filepath.Join(sess, "tmp")
			if err := os.WriteFile(tmp, nil, 0o644); err != nil {
				return err
			}
			if err := os.Remove(tmp); err != nil {
				return err
			}
		}
		return nil
	}
	f := faults{list: map[string]func() error{filepath.Join(sess, "sub"): touch}}
	fsys, cfg := impl.fs(t, f, scanner.Config{})
	e := walk(t, fsys, root, cfg)["workspace_1/session_a"]
	if e.Err != nil || e.Changed == "" || e.Usage.Files != 2 || e.Usage.Size != 3 {
		t.Errorf("session_a = Err %v, Changed %q, Usage %+v; want a change and 2 files, 3 bytes", e.Err, e.Changed, e.Usage)
	}
}

func ctime(t *testing.T, path string) syscall.Timespec {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Lstat(path, &st); err != nil {
		t.Fatal(err)
	}
	return st.Ctim
}

// TestOsLookup: LookupMany of one session gives fs.ErrNotExist when
// nothing is there and ErrNotSessionDir when something other than a real
// directory is, and the Identity a walk gave for an unchanged session.
func TestOsLookup(t *testing.T) { forEachOS(t, testOsLookup) }

func testOsLookup(t *testing.T, impl osImpl) {
	root := osTree(t, tree{"workspace_1/session_a/f": "x", "workspace_2/session_b/f": "x", "elsewhere/session_c/": ""})
	symlink(t, filepath.Join(root, "elsewhere", "session_c"), filepath.Join(root, "workspace_1", "session_link"))
	symlink(t, "elsewhere", filepath.Join(root, "workspace_3"))
	fsys, cfg := impl.fs(t, faults{}, scanner.Config{})
	for rel, want := range map[string]error{
		"workspace_1/session_none": fs.ErrNotExist,
		"workspace_9/session_a":    fs.ErrNotExist,
		"workspace_1/session_link": scanner.ErrNotSessionDir,
		"workspace_3/session_c":    scanner.ErrNotSessionDir,
		"workspace_1/f":            scanner.ErrNotSessionDir,
	} {
		if _, err := lookupOne(t, fsys, root, rel, cfg); !errors.Is(err, want) {
			t.Errorf("LookupMany(%s) = %v, want %v", rel, err, want)
		}
	}
	// A tree written moments ago is not settled: it may be one being
	// copied in or deleted.
	for rel, e := range walk(t, fsys, root, cfg) {
		if strings.HasPrefix(rel, "workspace_") && e.Kind == scanner.KindSession && !strings.Contains(e.Changed, "moments before") {
			t.Errorf("%s written just now: Changed %q, want it unsettled", rel, e.Changed)
		}
	}
	settle(t)
	entries := walk(t, fsys, root, cfg)
	for _, rel := range []string{"workspace_1/session_a", "workspace_2/session_b"} {
		id, err := lookupOne(t, fsys, root, rel, cfg)
		if err != nil {
			t.Fatal(err)
		}
		if e := entries[rel]; !e.Identity.Same(id) || e.Changed != "" {
			t.Errorf("%s: walk Identity %v, Changed %q; LookupMany %v", rel, e.Identity, e.Changed, id)
		}
	}
	a, _ := lookupOne(t, fsys, root, "workspace_1/session_a", cfg)
	b, _ := lookupOne(t, fsys, root, "workspace_2/session_b", cfg)
	if a.Same(b) {
		t.Errorf("two directories are the Same: %v, %v", a, b)
	}
}
