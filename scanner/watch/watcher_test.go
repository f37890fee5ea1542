package watch

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// patience bounds how long a test waits for an event that must come; it
// fails the test, it is not a measurement.
const patience = 10 * time.Second

// harness runs a Watcher over a real temporary tree.
type harness struct {
	t       *testing.T
	root    string
	w       *Watcher
	keys    chan string
	mu      sync.Mutex
	errs    []string
	spent   int
	touched map[string]int
}

func newHarness(t *testing.T, tree []string, cfg Config) *harness {
	t.Helper()
	// The root is a directory of its own, which a test may replace.
	h := &harness{t: t, root: filepath.Join(t.TempDir(), "share"), keys: make(chan string, 1<<16), touched: map[string]int{}}
	if err := os.Mkdir(h.root, 0o755); err != nil {
		t.Fatal(err)
	}
	h.mkdirs(tree...)
	cfg.Root = h.root
	cfg.Touched = func(key string) {
		h.mu.Lock()
		h.touched[key]++
		h.mu.Unlock()
		h.keys <- key
	}
	cfg.Exhausted = func(int) {
		h.mu.Lock()
		h.spent++
		h.mu.Unlock()
	}
	cfg.OnError = func(rel string, err error) {
		h.mu.Lock()
		h.errs = append(h.errs, rel+": "+err.Error())
		h.mu.Unlock()
	}
	w, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.w = w
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan error, 1)
	go func() { stopped <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-stopped; !errors.Is(err, context.Canceled) {
			t.Errorf("Run = %v, want context.Canceled", err)
		}
		h.mu.Lock()
		defer h.mu.Unlock()
		if len(h.errs) > 0 {
			t.Errorf("errors reported: %q", h.errs)
		}
	})
	h.resync()
	return h
}

func (h *harness) resync() {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	if err := h.w.Resync(ctx); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) path(rel string) string { return filepath.Join(h.root, filepath.FromSlash(rel)) }

// mkdirs makes directories; a path ending in a name with a dot is a file.
func (h *harness) mkdirs(rels ...string) {
	h.t.Helper()
	for _, rel := range rels {
		if strings.Contains(filepath.Base(rel), ".") {
			h.write(rel, "x")
			continue
		}
		if err := os.MkdirAll(h.path(rel), 0o755); err != nil {
			h.t.Fatal(err)
		}
	}
}

func (h *harness) write(rel, content string) {
	h.t.Helper()
	if err := os.MkdirAll(filepath.Dir(h.path(rel)), 0o755); err != nil {
		h.t.Fatal(err)
	}
	if err := os.WriteFile(h.path(rel), []byte(content), 0o644); err != nil {
		h.t.Fatal(err)
	}
}

// waitKey waits until key is touched; other keys may come first.
func (h *harness) waitKey(key string) {
	h.t.Helper()
	deadline := time.After(patience)
	for {
		select {
		case k := <-h.keys:
			if k == key {
				return
			}
		case <-deadline:
			h.t.Fatalf("no event for %s within %v", key, patience)
		}
	}
}

// sync makes sure every event raised so far has been handled: it writes a
// marker in a watched session and waits for its key. Events of one inotify
// instance are delivered in order, so this holds when nothing else touches
// that session.
func (h *harness) sync(marker string) {
	h.t.Helper()
	h.write(marker+"/sync.txt", "x")
	h.waitKey(sessionOf(marker))
}

func sessionOf(rel string) string {
	parts := strings.SplitN(rel, "/", 3)
	return parts[0] + "/" + parts[1]
}

func (h *harness) wasTouched(key string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.touched[key] > 0
}

func (h *harness) waitWatches(want int) {
	h.t.Helper()
	deadline := time.Now().Add(patience)
	for h.w.Stats().Watches != want {
		if time.Now().After(deadline) {
			h.t.Fatalf("watches = %d, want %d", h.w.Stats().Watches, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestWatcherTouchesTheSessionOfAChange(t *testing.T) {
	tests := []struct {
		name   string
		tree   []string
		change func(h *harness)
		key    string
	}{
		{
			name:   "a file written three levels deep",
			tree:   []string{"workspace_1/session_a/Default/IndexedDB/leveldb"},
			change: func(h *harness) { h.write("workspace_1/session_a/Default/IndexedDB/leveldb/000003.log", "data") },
			key:    "workspace_1/session_a",
		},
		{
			name:   "a file created in a session",
			tree:   []string{"workspace_1/session_a"},
			change: func(h *harness) { h.write("workspace_1/session_a/creds.json", "{}") },
			key:    "workspace_1/session_a",
		},
		{
			name: "a file removed deep down",
			tree: []string{"workspace_1/session_a/Default/Cache/f.bin"},
			change: func(h *harness) {
				if err := os.Remove(h.path("workspace_1/session_a/Default/Cache/f.bin")); err != nil {
					t.Fatal(err)
				}
			},
			key: "workspace_1/session_a",
		},
		{
			name: "a session removed whole",
			tree: []string{"workspace_1/session_a/Default/Cache/f.bin", "workspace_1/session_b"},
			change: func(h *harness) {
				if err := os.RemoveAll(h.path("workspace_1/session_a")); err != nil {
					t.Fatal(err)
				}
			},
			key: "workspace_1/session_a",
		},
		{
			name:   "a session created",
			tree:   []string{"workspace_1"},
			change: func(h *harness) { h.mkdirs("workspace_1/session_new") },
			key:    "workspace_1/session_new",
		},
		{
			name:   "a session created in a workspace created after the start",
			tree:   nil,
			change: func(h *harness) { h.mkdirs("workspace_7/session_new/Default") },
			key:    "workspace_7/session_new",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, tc.tree, Config{})
			tc.change(h)
			h.waitKey(tc.key)
		})
	}
}

func TestWatcherFollowsNewDirectories(t *testing.T) {
	h := newHarness(t, []string{"workspace_1"}, Config{})
	// mkdir -p makes the inner directories before a watch on the outer one
	// can be placed: the walk of a new directory must find them.
	h.mkdirs("workspace_1/session_a/Default/IndexedDB/leveldb")
	h.waitKey("workspace_1/session_a")
	h.waitWatches(6) // root, workspace, session, Default, IndexedDB, leveldb
	h.write("workspace_1/session_a/Default/IndexedDB/leveldb/LOG.old", "x")
	h.waitKey("workspace_1/session_a")
}

func TestWatcherDropsWatchesOfRemovedDirectories(t *testing.T) {
	h := newHarness(t, []string{"workspace_1/session_a/Default/Cache", "workspace_1/session_b"}, Config{})
	h.waitWatches(6)
	if err := os.RemoveAll(h.path("workspace_1/session_a")); err != nil {
		t.Fatal(err)
	}
	h.waitKey("workspace_1/session_a")
	h.waitWatches(3)

	// A directory renamed within a session takes its watches along to the
	// new name.
	h.mkdirs("workspace_1/session_b/old/inner")
	h.waitWatches(5)
	if err := os.Rename(h.path("workspace_1/session_b/old"), h.path("workspace_1/session_b/new")); err != nil {
		t.Fatal(err)
	}
	h.sync("workspace_1/session_b")
	h.waitWatches(5)
	h.write("workspace_1/session_b/new/inner/f.txt", "x")
	h.waitKey("workspace_1/session_b")
}

func TestWatcherIgnoresWorkspacesOutsideItsScope(t *testing.T) {
	h := newHarness(t, []string{"workspace_1/session_a", "workspace_2/session_b/deep", "workspace_3/session_c"},
		Config{Contains: func(ws uint64) bool { return ws%2 == 1 }})
	// root, workspace_1, session_a, workspace_3, session_c: nothing of
	// workspace_2 is watched (nor opened: the walk never descends into it).
	h.waitWatches(5)
	h.write("workspace_2/session_b/deep/f.txt", "x")
	h.mkdirs("workspace_4/session_d/sub") // created after the start, outside too
	h.write("workspace_4/session_d/sub/f.txt", "x")
	h.sync("workspace_1/session_a")
	for _, key := range []string{"workspace_2/session_b", "workspace_4/session_d"} {
		if h.wasTouched(key) {
			t.Errorf("%s is outside the scope but was touched", key)
		}
	}
	h.waitWatches(5)
}

func TestWatcherNeverFollowsSymlinks(t *testing.T) {
	outside := t.TempDir()
	if err := os.MkdirAll(filepath.Join(outside, "session_x", "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	// session_z is touched only by h.sync.
	h := newHarness(t, []string{"workspace_1/session_a", "workspace_1/session_z"}, Config{})
	links := map[string]string{
		"workspace_1/session_a/link": outside,                             // a link inside a session
		"workspace_1/session_l":      filepath.Join(outside, "session_x"), // a session that is a link
		"workspace_9":                outside,                             // a workspace that is a link
	}
	for rel, target := range links {
		if err := os.Symlink(target, h.path(rel)); err != nil {
			t.Fatal(err)
		}
	}
	h.sync("workspace_1/session_z")
	h.resync()
	h.waitWatches(4) // root, workspace_1, session_a, session_z
	// Making the links touched their sessions (a link named session_l is
	// news for the reconciler); a write behind them must not.
	h.mu.Lock()
	clear(h.touched)
	h.mu.Unlock()
	if err := os.WriteFile(filepath.Join(outside, "session_x", "sub", "f.txt"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	h.sync("workspace_1/session_z")
	if h.wasTouched("workspace_1/session_l") || h.wasTouched("workspace_9/session_x") {
		t.Error("a write behind a symbolic link was seen: a link was followed")
	}
}

func TestWatcherBudget(t *testing.T) {
	tree := []string{"workspace_1/session_a/d1/d2", "workspace_1/session_b/d1/d2"}
	h := newHarness(t, tree, Config{MaxWatches: 4})
	st := h.w.Stats()
	if st.Watches != 4 || st.Budget != 4 || st.Unwatched == 0 {
		t.Fatalf("stats %+v: want 4 watches of a budget of 4 and unwatched directories", st)
	}
	h.mu.Lock()
	spent := h.spent
	h.mu.Unlock()
	if spent != 1 {
		t.Fatalf("Exhausted called %d times, want once", spent)
	}
	h.resync()
	if h.w.Stats().Watches != 4 {
		t.Fatalf("watches after a resync = %d, want 4", h.w.Stats().Watches)
	}
	// Freed watches are used again by the next resync.
	if err := os.RemoveAll(h.path("workspace_1/session_a")); err != nil {
		t.Fatal(err)
	}
	h.resync()
	h.waitWatches(4) // root, workspace_1, session_b, session_b/d1
}

func TestWatcherResyncDropsWhatIsGone(t *testing.T) {
	h := newHarness(t, []string{"workspace_1/session_a/sub"}, Config{})
	h.waitWatches(4)
	if err := os.RemoveAll(h.path("workspace_1")); err != nil {
		t.Fatal(err)
	}
	h.resync()
	h.waitWatches(1)
}

func TestDefaultBudget(t *testing.T) {
	tests := []struct {
		text string
		want int
	}{
		{"8192\n", 4096},
		{"524288", 262144},
		{"", fallbackMaxUserWatches / 2},
		{"junk", fallbackMaxUserWatches / 2},
		{"1", 1},
	}
	for _, tc := range tests {
		if got := budgetFrom(tc.text); got != tc.want {
			t.Errorf("budgetFrom(%q) = %d, want %d", tc.text, got, tc.want)
		}
	}
	if DefaultMaxWatches() < 1 {
		t.Error("DefaultMaxWatches < 1")
	}
}
