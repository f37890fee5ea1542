package scanner_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"sessaudit/scanner"
)

// These tests stop walks of the real filesystem, by a timeout or a
// cancellation, in the middle of a directory read, on every implementation.

// stall returns an open hook that blocks until the test ends, as a call to
// a server that stopped answering does, and a channel that is closed when
// the first call arrives.
func stall(t *testing.T) (hook func() error, arrived <-chan struct{}) {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	in := make(chan struct{})
	var once sync.Once
	return func() error {
		once.Do(func() { close(in) })
		<-release
		return nil
	}, in
}

func TestOsIOTimeout(t *testing.T) { forEachOS(t, testOsIOTimeout) }

func testOsIOTimeout(t *testing.T, impl osImpl) {
	tr := tree{
		"workspace_1/session_a/f":         "xy",
		"workspace_1/session_b/Default/f": "xy",
		"workspace_2/session_c/f":         "xy",
	}
	tests := []struct {
		name, stall string // relative to the root
		want        map[string]string
	}{
		{"inside a session", "workspace_1/session_b/Default", map[string]string{
			"workspace_1/session_a": "ok", "workspace_1/session_b": "timeout", "workspace_2/session_c": "ok"}},
		{"a session", "workspace_1/session_a", map[string]string{
			"workspace_1/session_a": "timeout", "workspace_1/session_b": "ok", "workspace_2/session_c": "ok"}},
		{"a workspace", "workspace_2", map[string]string{
			"workspace_1/session_a": "ok", "workspace_1/session_b": "ok", "workspace_2": "timeout"}},
	}
	for _, tc := range tests {
		for _, workers := range []int{1, 8} {
			t.Run(fmt.Sprintf("%s/workers %d", tc.name, workers), func(t *testing.T) {
				root := osTree(t, tr)
				hook, _ := stall(t)
				fsys, cfg := impl.fs(t, faults{open: map[string]func() error{filepath.Join(root, tc.stall): hook}},
					scanner.Config{Workers: workers, IOTimeout: 50 * time.Millisecond})
				diffStrings(t, timeoutOutcomes(t, fsys, root, cfg), tc.want)
			})
		}
	}
	t.Run("the root", func(t *testing.T) {
		root := osTree(t, tr)
		hook, _ := stall(t)
		fsys, cfg := impl.fs(t, faults{open: map[string]func() error{root: hook}}, scanner.Config{IOTimeout: 50 * time.Millisecond})
		err := scanner.Walk(context.Background(), fsys, root, cfg, func(scanner.Entry) error { return nil })
		if !errors.Is(err, scanner.ErrIOTimeout) {
			t.Errorf("Walk = %v, want an error wrapping ErrIOTimeout", err)
		}
	})
	t.Run("measure", func(t *testing.T) {
		root := osTree(t, tr)
		hook, _ := stall(t)
		fsys, cfg := impl.fs(t, faults{open: map[string]func() error{filepath.Join(root, "workspace_1/session_b/Default"): hook}},
			scanner.Config{IOTimeout: 50 * time.Millisecond})
		e, err := scanner.Measure(context.Background(), fsys, root, "workspace_1/session_b", cfg)
		if err != nil || !errors.Is(e.Err, scanner.ErrIOTimeout) || e.Usage != (scanner.Usage{}) {
			t.Errorf("Measure = Err %v, Usage %+v, %v; want ErrIOTimeout and zero usage", e.Err, e.Usage, err)
		}
	})
}

func TestOsCancel(t *testing.T) { forEachOS(t, testOsCancel) }

func testOsCancel(t *testing.T, impl osImpl) {
	tr, want := manySessions()
	root := osTree(t, tr)
	// complete fails the test for a session reported as failed by the
	// cancellation, or measured only in part.
	complete := func(t *testing.T, entries []scanner.Entry) {
		t.Helper()
		for _, e := range entries {
			if errors.Is(e.Err, context.Canceled) {
				t.Errorf("%q delivered with Err %v: a cancelled walk must not report sessions as failed", e.Path, e.Err)
			}
			if w, ok := want[e.Path]; ok && e.Err == nil && e.Usage.Files != w.Usage.Files {
				t.Errorf("%q delivered with %d files, want %d: measured in part", e.Path, e.Usage.Files, w.Usage.Files)
			}
		}
	}
	collect := func(ctx context.Context, t *testing.T, f faults, workers int) ([]scanner.Entry, error) {
		fsys, cfg := impl.fs(t, f, scanner.Config{Workers: workers, IOTimeout: -1})
		var mu sync.Mutex
		var entries []scanner.Entry
		err := scanner.Walk(ctx, fsys, root, cfg, func(e scanner.Entry) error {
			mu.Lock()
			entries = append(entries, e)
			mu.Unlock()
			return nil
		})
		return entries, err
	}

	for _, workers := range []int{1, 64} {
		t.Run(fmt.Sprint("already cancelled/workers ", workers), func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			for range 20 {
				entries, err := collect(ctx, t, faults{}, workers)
				if !errors.Is(err, context.Canceled) {
					t.Fatalf("Walk = %v, want context.Canceled", err)
				}
				complete(t, entries)
			}
		})
		t.Run(fmt.Sprint("cancelled while a directory is read/workers ", workers), func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			// session_3 is d/d/d deep: cancel while d/d is opened, and
			// count whether d/d/d is opened after that.
			sub := filepath.Join(root, "workspace_0/session_3/d/d")
			var after atomic.Int64
			entries, err := collect(ctx, t, faults{open: map[string]func() error{
				sub:                     func() error { cancel(); return nil },
				filepath.Join(sub, "d"): func() error { after.Add(1); return nil },
			}}, workers)
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("Walk = %v, want context.Canceled", err)
			}
			complete(t, entries)
			if n := after.Load(); n != 0 {
				t.Errorf("a directory was opened %d times after the walk was cancelled", n)
			}
		})
		t.Run(fmt.Sprint("cancelled while a call hangs/workers ", workers), func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			hook, arrived := stall(t)
			go func() { <-arrived; cancel() }()
			start := time.Now()
			entries, err := collect(ctx, t, faults{open: map[string]func() error{filepath.Join(root, "workspace_3/session_5/d"): hook}}, workers)
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("Walk = %v, want context.Canceled", err)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("stop took %v", d)
			}
			complete(t, entries)
		})
		t.Run(fmt.Sprint("cancelled by fn/workers ", workers), func(t *testing.T) {
			for range 10 {
				fsys, cfg := impl.fs(t, faults{}, scanner.Config{Workers: workers})
				complete(t, walkCancelledByFn(t, fsys, root, cfg))
			}
		})
	}
}

// TestOsDeepBeyondPathMax measures a session whose deepest file has a path
// longer than PATH_MAX: the native walk opens each directory relative to its
// parent and never resolves a long path.
func TestOsDeepBeyondPathMax(t *testing.T) {
	root := osTree(t, tree{"workspace_1/session_deep/": "", "workspace_1/session_small/f": "x"})
	const depth = 30
	name := strings.Repeat("d", 200)
	fd, err := unix.Open(filepath.Join(root, "workspace_1", "session_deep"), unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	for range depth {
		if err := unix.Mkdirat(fd, name, 0o755); err != nil {
			t.Fatal(err)
		}
		next, err := unix.Openat(fd, name, unix.O_RDONLY|unix.O_DIRECTORY, 0)
		unix.Close(fd)
		if err != nil {
			t.Fatal(err)
		}
		fd = next
	}
	f, err := unix.Openat(fd, "leaf", unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := unix.Write(f, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	unix.Close(f)
	var st unix.Stat_t
	if err := unix.Fstatat(fd, "leaf", &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		t.Fatal(err)
	}
	unix.Close(fd)
	if n := len(root) + depth*(len(name)+1); n <= unix.PathMax {
		t.Fatalf("deepest path is %d bytes, not beyond PATH_MAX", n)
	}
	// 31 dirs × 2048 + 4096 + 2048
	wantDeep := scanner.Usage{Size: 5, Allocated: st.Blocks * 512, Metered: 69632, Files: 1, Dirs: depth + 1}

	for _, impl := range osImpls {
		t.Run(impl.name, func(t *testing.T) {
			fsys, cfg := impl.fs(t, faults{}, scanner.Config{})
			entries := walk(t, fsys, root, cfg)
			deep, small := entries["workspace_1/session_deep"], entries["workspace_1/session_small"]
			if small.Err != nil || small.Usage.Files != 1 {
				t.Errorf("session_small = Err %v, Usage %+v", small.Err, small.Usage)
			}
			if !impl.native {
				// A path longer than PATH_MAX cannot be opened by name:
				// the afero walk can only say it could not measure.
				if !errors.Is(deep.Err, syscall.ENAMETOOLONG) || deep.Usage != (scanner.Usage{}) {
					t.Errorf("session_deep = Err %v, Usage %+v; want ENAMETOOLONG and zero usage", deep.Err, deep.Usage)
				}
				return
			}
			if deep.Err != nil || deep.Usage != wantDeep {
				t.Errorf("session_deep = Err %v, Usage %+v; want %+v", deep.Err, deep.Usage, wantDeep)
			}
			e, err := scanner.Measure(context.Background(), fsys, root, "workspace_1/session_deep", cfg)
			if err != nil || e.Err != nil || e.Usage != wantDeep {
				t.Errorf("Measure = Err %v, Usage %+v, %v; want %+v", e.Err, e.Usage, err, wantDeep)
			}
		})
	}
}
