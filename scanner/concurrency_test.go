package scanner_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"sessaudit/scanner"
)

// manySessions returns a tree of 10 workspaces × 30 sessions in which
// session s of workspace w holds n = (w*31+s) % 7 files of s+1 bytes each,
// nested s % 4 directories deep, and the usage each session must have.
func manySessions() (tree, map[string]result) {
	tr := tree{}
	want := map[string]result{}
	for w := range uint64(10) {
		for s := range 30 {
			rel := fmt.Sprintf("workspace_%d/session_%d", w, s)
			dir := rel + "/" + strings.Repeat("d/", s%4)
			n := int((w*31 + uint64(s)) % 7)
			if n == 0 {
				tr[dir] = ""
			}
			for i := range n {
				tr[fmt.Sprintf("%sf%d", dir, i)] = strings.Repeat("x", s+1)
			}
			// files of s+1 ≤ 30 bytes: 4096 + 2048 each; 1 + s%4 dirs
			size := int64(n * (s + 1))
			want[rel] = result{Kind: scanner.KindSession, WS: w, SID: fmt.Sprint(s), Usage: scanner.Usage{
				Size: size, Allocated: size,
				Metered: int64(n)*6144 + int64(1+s%4)*2048,
				Files:   int64(n), Dirs: int64(1 + s%4),
			}}
		}
	}
	return tr, want
}

func TestWalkWorkersAgree(t *testing.T) {
	tr, want := manySessions()
	fsys := memTree(t, tr)
	for _, workers := range []int{0, 1, 2, 7, 64} {
		t.Run(fmt.Sprint("workers ", workers), func(t *testing.T) {
			diff(t, summarize(walk(t, fsys, memRoot, scanner.Config{Workers: workers})), want)
		})
	}
}

// TestWalkCallbacks checks the contract of fn: calls overlap, and Walk
// returns only after every call has returned.
func TestWalkCallbacks(t *testing.T) {
	tr, want := manySessions()
	fsys := memTree(t, tr)

	t.Run("concurrent", func(t *testing.T) {
		// The first two calls wait for each other: a Walk that called fn
		// one at a time would never let the first one through.
		var arrived sync.WaitGroup
		arrived.Add(2)
		var calls atomic.Int64
		err := scanner.Walk(context.Background(), fsys, memRoot, scanner.Config{Workers: 4}, func(scanner.Entry) error {
			if n := calls.Add(1); n <= 2 {
				arrived.Done()
				done := make(chan struct{})
				go func() { arrived.Wait(); close(done) }()
				select {
				case <-done:
				case <-time.After(10 * time.Second):
					return errors.New("fn was never called concurrently")
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})

	t.Run("all returned before Walk", func(t *testing.T) {
		var inFlight, finished atomic.Int64
		err := scanner.Walk(context.Background(), fsys, memRoot, scanner.Config{Workers: 16}, func(scanner.Entry) error {
			inFlight.Add(1)
			time.Sleep(time.Millisecond)
			finished.Add(1)
			inFlight.Add(-1)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if n := inFlight.Load(); n != 0 {
			t.Errorf("%d calls of fn still running after Walk returned", n)
		}
		if n := finished.Load(); n != int64(len(want)) {
			t.Errorf("fn returned %d times, want %d", n, len(want))
		}
	})
}

func TestWalkCancel(t *testing.T) {
	tr, want := manySessions()
	fsys := memTree(t, tr)
	errStop := errors.New("stop")

	// checkEntries fails the test for an entry that reports the
	// cancellation as if it were a failure of that session, and for a
	// session measured only in part: what a cancelled walk delivers must
	// be complete.
	checkEntries := func(t *testing.T, entries []scanner.Entry) {
		t.Helper()
		for _, e := range entries {
			if errors.Is(e.Err, context.Canceled) {
				t.Errorf("%q delivered with Err %v: a cancelled walk must not report sessions as failed", e.Path, e.Err)
			}
			if w, ok := want[e.Path]; ok && e.Err == nil && e.Usage != w.Usage {
				t.Errorf("%q delivered with usage %+v, want %+v: measured in part", e.Path, e.Usage, w.Usage)
			}
		}
	}

	for _, workers := range []int{1, 64} {
		t.Run(fmt.Sprint("already cancelled/workers ", workers), func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			// Repeat: a select between a free token and a closed Done
			// channel picks either at random.
			for range 50 {
				var mu sync.Mutex
				var entries []scanner.Entry
				err := scanner.Walk(ctx, fsys, memRoot, scanner.Config{Workers: workers}, func(e scanner.Entry) error {
					mu.Lock()
					entries = append(entries, e)
					mu.Unlock()
					return nil
				})
				if !errors.Is(err, context.Canceled) {
					t.Fatalf("Walk = %v, want context.Canceled", err)
				}
				checkEntries(t, entries)
			}
		})

		t.Run(fmt.Sprint("cancelled by fn/workers ", workers), func(t *testing.T) {
			for range 20 {
				checkEntries(t, walkCancelledByFn(t, fsys, memRoot, scanner.Config{Workers: workers}))
			}
		})

		t.Run(fmt.Sprint("fn fails/workers ", workers), func(t *testing.T) {
			for range 20 {
				var mu sync.Mutex
				var entries []scanner.Entry
				err := scanner.Walk(context.Background(), fsys, memRoot, scanner.Config{Workers: workers}, func(e scanner.Entry) error {
					mu.Lock()
					defer mu.Unlock()
					entries = append(entries, e)
					return errStop
				})
				if !errors.Is(err, errStop) {
					t.Fatalf("Walk = %v, want %v", err, errStop)
				}
				checkEntries(t, entries)
			}
		})
	}

	t.Run("already cancelled/one session", func(t *testing.T) {
		// With one token to take and one session to measure, a walk that
		// does not look at ctx before it starts would often finish cleanly.
		small := memTree(t, tree{"workspace_1/session_a/f": "x"})
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		for range 50 {
			var entries []scanner.Entry
			err := scanner.Walk(ctx, small, memRoot, scanner.Config{Workers: 1}, func(e scanner.Entry) error {
				entries = append(entries, e)
				return nil
			})
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("Walk = %v, want context.Canceled", err)
			}
			checkEntries(t, entries)
		}
	})

	t.Run("already cancelled/nothing to measure", func(t *testing.T) {
		strays := memTree(t, tree{"lost+found/": "", "stray": "x"})
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		err := scanner.Walk(ctx, strays, memRoot, scanner.Config{}, func(e scanner.Entry) error {
			t.Errorf("fn called with %q after the walk was cancelled", e.Path)
			return nil
		})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Walk = %v, want context.Canceled", err)
		}
	})

	t.Run("cancelled while a directory is read", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		// session_3 is d/d/d deep: cancel while d/d is opened, and count
		// whether d/d/d is read after that.
		sub := memRoot + "/workspace_0/session_3/d/d"
		var after atomic.Int64
		base := memTree(t, tr)
		slow := &faultFs{Fs: base, open: map[string]func() error{
			sub:        func() error { cancel(); return nil },
			sub + "/d": func() error { after.Add(1); return nil },
		}}
		var mu sync.Mutex
		var entries []scanner.Entry
		err := scanner.Walk(ctx, slow, memRoot, scanner.Config{Workers: 1}, func(e scanner.Entry) error {
			mu.Lock()
			entries = append(entries, e)
			mu.Unlock()
			return nil
		})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Walk = %v, want context.Canceled", err)
		}
		checkEntries(t, entries)
		if n := after.Load(); n != 0 {
			t.Errorf("a directory was read %d times after the walk was cancelled", n)
		}
	})
}
