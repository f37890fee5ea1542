package scanner_test

import (
	"context"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/spf13/afero"

	"sessaudit/scanner"
)

// listTree has sessions of several shapes and entries outside the layout.
var listTree = tree{
	"workspace_1/session_a/creds.json":           "{}",
	"workspace_1/session_a/Default/Cache/data_1": "0123456789",
	"workspace_1/session_b/":                     "",
	"workspace_1/notes.txt":                      "x",
	"workspace_2/session_c/pre-key-1.json":       "{...}",
	"workspace_2/session_d/x/y/z":                "deep",
	"workspace_abc/session_e/f":                  "f",
	"lost+found/":                                "",
}

// collect runs a walk-like function and returns its entries by path,
// failing the test on an error or an entry reported twice.
func collect(t *testing.T, run func(fn func(scanner.Entry) error) error) map[string]scanner.Entry {
	t.Helper()
	var mu sync.Mutex
	out := map[string]scanner.Entry{}
	err := run(func(e scanner.Entry) error {
		mu.Lock()
		defer mu.Unlock()
		if _, dup := out[e.Path]; dup {
			t.Errorf("%s reported twice", e.Path)
		}
		out[e.Path] = e
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// checkList compares List with Walk on the same tree: the same entries, the
// sessions unmeasured, with the Identity of the directory Walk measured and
// its own modification time.
func checkList(t *testing.T, fsys afero.Fs, root string, cfg scanner.Config) {
	t.Helper()
	ctx := context.Background()
	walked := walk(t, fsys, root, cfg)
	listed := collect(t, func(fn func(scanner.Entry) error) error { return scanner.List(ctx, fsys, root, cfg, fn) })
	if got, want := slices.Sorted(maps.Keys(listed)), slices.Sorted(maps.Keys(walked)); !slices.Equal(got, want) {
		t.Fatalf("List paths = %q, Walk paths = %q", got, want)
	}
	for p, w := range walked {
		l := listed[p]
		if l.Kind != w.Kind || l.WorkspaceID != w.WorkspaceID || l.SessionID != w.SessionID {
			t.Errorf("%s: List gave kind %d ws %d sid %q, Walk kind %d ws %d sid %q", p, l.Kind, l.WorkspaceID, l.SessionID, w.Kind, w.WorkspaceID, w.SessionID)
		}
		if w.Kind != scanner.KindSession {
			if l.ListedOnly {
				t.Errorf("%s: ListedOnly on a %d entry", p, l.Kind)
			}
			continue
		}
		if !l.ListedOnly || l.Usage != (scanner.Usage{}) || l.Err != nil {
			t.Errorf("%s: List gave ListedOnly %t usage %+v err %v, want ListedOnly, no usage, no error", p, l.ListedOnly, l.Usage, l.Err)
		}
		if !l.Identity.Same(w.Identity) {
			t.Errorf("%s: List identity %s, Walk measured %s", p, l.Identity, w.Identity)
		}
		fi, err := lstatFs(fsys, filepath.Join(root, filepath.FromSlash(p)))
		if err != nil {
			t.Fatal(err)
		}
		want := fi.ModTime()
		if ct, ok := changeTimeOf(fi); ok && ct.After(want) {
			want = ct
		}
		if !l.Newest.Equal(want) {
			t.Errorf("%s: Newest %v, want the directory's own latest of mtime and ctime %v", p, l.Newest, want)
		}
	}
}

func lstatFs(fsys afero.Fs, p string) (os.FileInfo, error) {
	if l, ok := fsys.(afero.Lstater); ok {
		fi, _, err := l.LstatIfPossible(p)
		return fi, err
	}
	return fsys.Stat(p)
}

func TestListAgreesWithWalk(t *testing.T) {
	t.Run("memmap", func(t *testing.T) {
		checkList(t, memTree(t, listTree), memRoot, scanner.Config{})
	})
	forEachOS(t, func(t *testing.T, impl osImpl) {
		root := osTree(t, listTree)
		// A link named like a session is unrecognized, never followed.
		if err := os.Symlink(filepath.Join(root, "workspace_1/session_a"), filepath.Join(root, "workspace_2/session_link")); err != nil {
			t.Fatal(err)
		}
		// A file inside the session directory is newer than the
		// directory: List gives the directory's own time, not the newest
		// inside.
		ahead := time.Now().Add(72 * time.Hour)
		if err := os.Chtimes(filepath.Join(root, "workspace_1/session_a/Default/Cache/data_1"), ahead, ahead); err != nil {
			t.Fatal(err)
		}
		fsys, cfg := impl.fs(t, faults{}, scanner.Config{})
		checkList(t, fsys, root, cfg)
	})
}

// TestMeasureEachAgreesWithWalk: each session measured alone is what Walk
// measures; a path with nothing there is skipped, a link reported as
// unrecognized.
func TestMeasureEachAgreesWithWalk(t *testing.T) {
	check := func(t *testing.T, fsys afero.Fs, root string, cfg scanner.Config) {
		walked := walk(t, fsys, root, cfg)
		var rels []string
		for p, e := range walked {
			if e.Kind == scanner.KindSession {
				rels = append(rels, p)
			}
		}
		rels = append(rels, "workspace_1/session_gone", "workspace_9/session_gone", "workspace_1/session_link")
		got := collect(t, func(fn func(scanner.Entry) error) error {
			return scanner.MeasureEach(context.Background(), fsys, root, rels, cfg, fn)
		})
		for _, p := range rels {
			g, w := got[p], walked[p]
			switch {
			case p == "workspace_1/session_link":
				if g.Kind != scanner.KindUnrecognized || g.Reason == "" {
					t.Errorf("%s: kind %d reason %q, want unrecognized with a reason", p, g.Kind, g.Reason)
				}
			case w.Kind == 0:
				if g.Kind != 0 {
					t.Errorf("%s: reported %+v for nothing there", p, g)
				}
			case g.Kind != scanner.KindSession || g.Usage != w.Usage || !g.Identity.Same(w.Identity) || g.ListedOnly || g.Err != nil,
				// MemMapFs moves a directory's time when it is opened.
				scanner.Native(fsys) && !g.Newest.Equal(w.Newest):
				t.Errorf("%s: MeasureEach gave %+v, Walk %+v", p, g, w)
			}
		}
	}
	t.Run("memmap", func(t *testing.T) {
		// MemMapFs has no links: a file stands where a directory is expected.
		tr := tree{"workspace_1/session_link": "not a directory"}
		for k, v := range listTree {
			tr[k] = v
		}
		fsys := memTree(t, tr)
		check(t, fsys, memRoot, scanner.Config{})
	})
	forEachOS(t, func(t *testing.T, impl osImpl) {
		root := osTree(t, listTree)
		if err := os.Symlink(filepath.Join(root, "workspace_1/session_a"), filepath.Join(root, "workspace_1/session_link")); err != nil {
			t.Fatal(err)
		}
		fsys, cfg := impl.fs(t, faults{}, scanner.Config{})
		check(t, fsys, root, cfg)
	})
}

// orderTree is many small sessions over a few workspaces.
func orderTree() (tree, []string) {
	tr := tree{}
	var rels []string
	for ws := 1; ws <= 3; ws++ {
		for s := 0; s < 8; s++ {
			rel := scanner.SessionPath(uint64(ws), string(rune('a'+s)))
			tr[rel+"/creds.json"] = "{}"
			rels = append(rels, rel)
		}
	}
	// An order that is neither by path nor by workspace.
	slices.SortFunc(rels, func(a, b string) int { return int(a[len(a)-1]) - int(b[len(b)-1]) })
	return tr, rels
}

// TestMeasureEachOrder: with one worker, sessions are measured and reported
// in the order given; cancelled after k sessions, what was reported is whole
// and is exactly the first k of that order.
func TestMeasureEachOrder(t *testing.T) {
	tr, rels := orderTree()
	check := func(t *testing.T, fsys afero.Fs, root string, cfg scanner.Config) {
		cfg.Workers = 1
		walked := walk(t, fsys, root, cfg)
		var got []string
		err := scanner.MeasureEach(context.Background(), fsys, root, rels, cfg, func(e scanner.Entry) error {
			got = append(got, e.Path)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, rels) {
			t.Fatalf("measured in the order %q, want %q", got, rels)
		}
		for _, k := range []int{1, 5, len(rels) - 1} {
			ctx, cancel := context.WithCancel(context.Background())
			var got []string
			err := scanner.MeasureEach(ctx, fsys, root, rels, cfg, func(e scanner.Entry) error {
				if e.Usage != walked[e.Path].Usage {
					t.Errorf("%s: usage %+v after a cancellation, want %+v", e.Path, e.Usage, walked[e.Path].Usage)
				}
				got = append(got, e.Path)
				if len(got) >= k {
					cancel()
				}
				return nil
			})
			cancel()
			if !errors.Is(err, context.Canceled) {
				t.Errorf("k=%d: err %v, want context.Canceled", k, err)
			}
			if !slices.Equal(got, rels[:k]) {
				t.Errorf("k=%d: measured %q, want the first %d of %q", k, got, k, rels)
			}
		}
	}
	t.Run("memmap", func(t *testing.T) { check(t, memTree(t, tr), memRoot, scanner.Config{}) })
	forEachOS(t, func(t *testing.T, impl osImpl) {
		root := osTree(t, tr)
		fsys, cfg := impl.fs(t, faults{}, scanner.Config{})
		check(t, fsys, root, cfg)
	})
}

func TestMeasureEachRefusesABadPath(t *testing.T) {
	fsys := memTree(t, listTree)
	err := scanner.MeasureEach(context.Background(), fsys, memRoot, []string{"workspace_1/session_a", "workspace_1/../x"}, scanner.Config{}, func(scanner.Entry) error { return nil })
	if err == nil {
		t.Fatal("MeasureEach accepted workspace_1/../x")
	}
}

// TestListThenMeasureEachCountsEachSessionOnce: a budgeted audit lists the
// scope, then measures some of it, with one Progress. Progress then counts
// every session directory once, as found by List, and as done only those
// MeasureEach measured, so that a progress line reads "sized k of n".
func TestListThenMeasureEachCountsEachSessionOnce(t *testing.T) {
	check := func(t *testing.T, fsys afero.Fs, root string, cfg scanner.Config) {
		ctx := context.Background()
		prog := &scanner.Progress{}
		cfg.Progress = prog
		var rels []string
		listed := collect(t, func(fn func(scanner.Entry) error) error { return scanner.List(ctx, fsys, root, cfg, fn) })
		for p, e := range listed {
			if e.Kind == scanner.KindSession {
				rels = append(rels, p)
			}
		}
		if got, want := prog.Sessions.Load(), int64(len(rels)); got != want {
			t.Fatalf("after List: Progress.Sessions %d, want %d", got, want)
		}
		if got := prog.SessionsDone.Load(); got != 0 {
			t.Errorf("after List: Progress.SessionsDone %d, want 0: nothing was measured", got)
		}
		slices.Sort(rels)
		some := rels[:len(rels)-1]
		collect(t, func(fn func(scanner.Entry) error) error { return scanner.MeasureEach(ctx, fsys, root, some, cfg, fn) })
		if got, want := prog.Sessions.Load(), int64(len(rels)); got != want {
			t.Errorf("after MeasureEach: Progress.Sessions %d, want %d (each session once)", got, want)
		}
		if got, want := prog.SessionsDone.Load(), int64(len(some)); got != want {
			t.Errorf("after MeasureEach: Progress.SessionsDone %d, want %d (those measured)", got, want)
		}
	}
	t.Run("memmap", func(t *testing.T) { check(t, memTree(t, listTree), memRoot, scanner.Config{}) })
	forEachOS(t, func(t *testing.T, impl osImpl) {
		root := osTree(t, listTree)
		fsys, cfg := impl.fs(t, faults{}, scanner.Config{})
		check(t, fsys, root, cfg)
	})
}
