package scanner_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spf13/afero"

	"sessaudit/scanner"
)

// rewriteFs runs rewrite before a file is looked at by name (the second
// look at a file modified moments before the walk reached it: the first
// comes with its directory's listing).
type rewriteFs struct {
	afero.Fs
	path    string
	mu      sync.Mutex
	looks   int
	rewrite func(look int)
}

func (f *rewriteFs) LstatIfPossible(name string) (os.FileInfo, bool, error) {
	if name == f.path {
		f.mu.Lock()
		f.looks++
		f.rewrite(f.looks)
		f.mu.Unlock()
	}
	return f.Fs.(afero.Lstater).LstatIfPossible(name)
}

// A file modified moments before it was measured counts once it stood
// still for scanner.FileSettle: a file caught between its truncation and
// its last write (Node's writeFile, which Baileys uses) is never counted at
// the size it had then, and one that changes at every look leaves the
// session Changed. The looks again are filesystem calls, counted.
func TestMeasureWaitsForAFileBeingRewritten(t *testing.T) {
	const rel = "workspace_1/session_a"
	full := strings.Repeat("x", 1000)
	tests := []struct {
		name        string
		rewrite     func(fsys afero.Fs, path string, look int)
		wantSize    int64
		wantChanged string
		wantLooks   int
	}{
		{
			name:      "at rest since it was read",
			rewrite:   func(afero.Fs, string, int) {},
			wantSize:  3,
			wantLooks: 1,
		},
		{
			name: "its write completes after it was read",
			rewrite: func(fsys afero.Fs, path string, look int) {
				if look == 1 {
					writeFile(t, fsys, path, full)
				}
			},
			wantSize:  1000,
			wantLooks: 2,
		},
		{
			name: "rewritten at every look",
			rewrite: func(fsys afero.Fs, path string, look int) {
				writeFile(t, fsys, path, full[:look])
			},
			wantSize:    5, // as last seen
			wantChanged: "rewritten",
			wantLooks:   5,
		},
		{
			name: "removed before it was looked at again",
			rewrite: func(fsys afero.Fs, path string, look int) {
				if err := fsys.Remove(path); err != nil {
					t.Error(err)
				}
			},
			wantSize:    0,
			wantChanged: "vanished",
			wantLooks:   1,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			base := memTree(t, tree{rel + "/creds.json": "abc"}) // modified just now: looked at again
			path := filepath.Join(memRoot, rel, "creds.json")
			fsys := &rewriteFs{Fs: base, path: path, rewrite: func(look int) { tc.rewrite(base, path, look) }}
			prog := &scanner.Progress{}
			e, err := scanner.Measure(context.Background(), fsys, memRoot, rel, scanner.Config{Progress: prog})
			if err != nil {
				t.Fatal(err)
			}
			if e.Usage.Size != tc.wantSize {
				t.Errorf("size %d, want %d", e.Usage.Size, tc.wantSize)
			}
			if tc.wantChanged == "" && e.Changed != "" || !strings.Contains(e.Changed, tc.wantChanged) {
				t.Errorf("changed %q, want %q", e.Changed, tc.wantChanged)
			}
			if fsys.looks != tc.wantLooks {
				t.Errorf("the file was looked at again %d times, want %d", fsys.looks, tc.wantLooks)
			}
			// The same measurement of the tree at rest, for its calls.
			rest := memTree(t, tree{rel + "/creds.json": "abc"})
			setTimes(t, rest, memRoot, time.Now().Add(-time.Hour))
			restProg := &scanner.Progress{}
			if _, err := scanner.Measure(context.Background(), rest, memRoot, rel, scanner.Config{Progress: restProg}); err != nil {
				t.Fatal(err)
			}
			if got, want := prog.Calls.Load(), restProg.Calls.Load()+int64(tc.wantLooks); got != want {
				t.Errorf("fs_ops %d, want %d: the tree at rest's %d and one per look again", got, want, restProg.Calls.Load())
			}
		})
	}
}

func writeFile(t *testing.T, fsys afero.Fs, path, content string) {
	t.Helper()
	if err := afero.WriteFile(fsys, path, []byte(content), 0o644); err != nil {
		t.Error(err)
	}
}

// rewriteInPlace rewrites path with size bytes every period until ctx is
// done, as Node's writeFile does: open with O_TRUNC, then write in two
// chunks with a pause before each (Node writes at most 512 KiB per call, a
// thread-pool round trip apart). It returns how many rewrites it made, and
// how many stalled (torn for longer than FileSettle, which a loaded machine
// can make the pauses).
func rewriteInPlace(ctx context.Context, t *testing.T, path string, size int, period, pause time.Duration) (n, stalled int) {
	data := make([]byte, size)
	for ctx.Err() == nil {
		start := time.Now()
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
		if err != nil {
			t.Error(err)
			return n, stalled
		}
		time.Sleep(pause)
		_, err = f.Write(data[:size/2])
		time.Sleep(pause)
		if err == nil {
			_, err = f.Write(data[size/2:])
		}
		if time.Since(start) > scanner.FileSettle {
			stalled++
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			t.Error(err)
			return n, stalled
		}
		n++
		select {
		case <-time.After(period):
		case <-ctx.Done():
		}
	}
	return n, stalled
}

// A real file rewritten in place 5 times a second: every measurement that
// is not Changed counts it whole, natively and through afero. Without the
// second look, about one measurement in twenty caught it torn.
func TestMeasureNeverCountsATornRewrite(t *testing.T) {
	const rel = "workspace_1/session_a"
	const size = 660_000
	root := osTree(t, tree{rel + "/keys/pre-key-1.json": "{}"})
	path := filepath.Join(root, rel, "creds.json")
	if err := os.WriteFile(path, make([]byte, size), 0o600); err != nil {
		t.Fatal(err)
	}
	settle(t) // the tree was made just now: only the file changes
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var rewrites, stalled int
	wg.Go(func() {
		rewrites, stalled = rewriteInPlace(ctx, t, path, size, 200*time.Millisecond, 5*time.Millisecond)
	})
	var torn atomic.Int64
	defer wg.Wait()
	defer stop()
	for _, impl := range []struct {
		name string
		fsys afero.Fs
	}{{"native", afero.NewOsFs()}, {"afero", aferoOsFs{afero.NewOsFs()}}} {
		t.Run(impl.name, func(t *testing.T) {
			// Four at once, each meeting the writer at other moments.
			var mu sync.Mutex
			changed := map[string]int{}
			var measurers sync.WaitGroup
			for range 4 {
				measurers.Go(func() {
					for range 20 {
						e, err := scanner.Measure(context.Background(), impl.fsys, root, rel, scanner.Config{})
						if err != nil {
							t.Error(err)
							return
						}
						mu.Lock()
						changed[e.Changed]++
						mu.Unlock()
						if want := int64(size + 2); e.Changed == "" && e.Usage.Size != want {
							torn.Add(1)
							t.Logf("measured %d bytes, not changed; the session holds %d", e.Usage.Size, want)
						}
					}
				})
			}
			measurers.Wait()
			t.Logf("of 80 measurements, changed: %v", changed)
			if n := changed["a file in it kept being rewritten while it was measured"]; n > 16 {
				t.Errorf("%d of 80 measurements met the file changing at every look: a file rewritten 5 times a second should mostly be measured", n)
			}
		})
	}
	stop()
	wg.Wait()
	if rewrites < 10 {
		t.Fatalf("the file was rewritten %d times: the test tested nothing", rewrites)
	}
	// A rewrite torn for longer than FileSettle looks like a file at rest
	// (the documented limit): each can be met, by each backend, once.
	if n := int(torn.Load()); n > 2*stalled {
		t.Errorf("%d torn sizes measured, and the writer stalled %d times", n, stalled)
	}
}

// A file rewritten in place reads, for a moment inside its truncation,
// empty with its old times (the new size is set before the new times):
// nothing marks it recent. An empty file with old times is looked at once
// more at once, a counted call: one caught truncating then shows its new
// times and counts once it stood still; one that is empty stays empty.
func TestMeasureLooksAgainAtAnEmptyFile(t *testing.T) {
	const rel = "workspace_1/session_a"
	full := strings.Repeat("x", 1000)
	tests := []struct {
		name      string
		rewrite   func(fsys afero.Fs, path string, look int)
		wantSize  int64
		wantLooks int
	}{
		{
			name:      "empty at rest",
			rewrite:   func(afero.Fs, string, int) {},
			wantSize:  0,
			wantLooks: 1,
		},
		{
			name: "listed inside its truncation",
			rewrite: func(fsys afero.Fs, path string, look int) {
				if look == 1 {
					writeFile(t, fsys, path, full)
				}
			},
			wantSize:  1000,
			wantLooks: 2,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			base := memTree(t, tree{rel + "/creds.json": ""})
			setTimes(t, base, memRoot, time.Now().Add(-time.Hour))
			path := filepath.Join(memRoot, rel, "creds.json")
			fsys := &rewriteFs{Fs: base, path: path, rewrite: func(look int) { tc.rewrite(base, path, look) }}
			e, err := scanner.Measure(context.Background(), fsys, memRoot, rel, scanner.Config{})
			if err != nil {
				t.Fatal(err)
			}
			if e.Usage.Size != tc.wantSize || e.Changed != "" {
				t.Errorf("size %d, changed %q; want %d, not changed", e.Usage.Size, e.Changed, tc.wantSize)
			}
			if fsys.looks != tc.wantLooks {
				t.Errorf("the file was looked at again %d times, want %d", fsys.looks, tc.wantLooks)
			}
		})
	}
}
