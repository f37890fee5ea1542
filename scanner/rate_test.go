package scanner_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/spf13/afero"

	"sessaudit/scanner"
)

// rateTree is a share of 3 workspaces of 4 sessions, each with a few
// files and a subdirectory: about a hundred filesystem calls to walk.
func rateTree() tree {
	tr := tree{}
	for ws := 1; ws <= 3; ws++ {
		for s := range 4 {
			dir := fmt.Sprintf("workspace_%d/session_%c", ws, 'a'+s)
			tr[dir+"/creds.json"] = "{}"
			tr[dir+"/Default/Cookies"] = "cookies"
			tr[dir+"/Default/Cache/data_1"] = "0123456789"
		}
	}
	return tr
}

func TestNewLimiter(t *testing.T) {
	for _, tc := range []struct {
		r     float64
		burst int
	}{{0.5, 1}, {1, 1}, {10, 1}, {25, 2}, {1000, 100}, {1e12, 1 << 20}} {
		l := scanner.NewLimiter(tc.r)
		if l == nil {
			t.Errorf("NewLimiter(%v) = nil", tc.r)
			continue
		}
		if r, b := l.Rate(); r != tc.r || b != tc.burst {
			t.Errorf("NewLimiter(%v): rate %v burst %d, want %v and %d", tc.r, r, b, tc.r, tc.burst)
		}
	}
	for _, r := range []float64{0, -1} {
		if l := scanner.NewLimiter(r); l != nil {
			t.Errorf("NewLimiter(%v) = %v, want nil (no limit)", r, l)
		}
	}
}

// TestLimiterHoldsOnRealDirectories: a walk under a limiter of R calls a
// second finds what one without does, and takes at least what the
// limiter allows for the calls it made: (calls - burst) / R. Only that lower bound is asserted;
// how much longer a loaded machine takes is not the limiter's doing.
func TestLimiterHoldsOnRealDirectories(t *testing.T) {
	const r = 400.0
	check := func(t *testing.T, fsys afero.Fs, root string, cfg scanner.Config) {
		want := summarize(walk(t, fsys, root, cfg))

		paced := &scanner.Progress{}
		cfg.Progress = paced
		cfg.Limiter = scanner.NewLimiter(r)
		start := time.Now()
		got := summarize(walk(t, fsys, root, cfg))
		took := time.Since(start)
		diff(t, got, want)
		calls := paced.Calls.Load()
		if calls < 50 {
			t.Fatalf("only %d calls: the tree is too small to tell", calls)
		}
		_, burst := cfg.Limiter.Rate()
		least := time.Duration(float64(calls-int64(burst)) / r * float64(time.Second))
		if took < least {
			t.Errorf("%d calls at %v/s took %v, less than the %v the limiter allows", calls, r, took, least)
		}
		t.Logf("%d calls at %v/s took %v (at least %v): %.0f calls/s", calls, r, took, least, float64(calls)/took.Seconds())
	}
	// As many workers as on a network filesystem: a hundred goroutines
	// taking tokens at once.
	t.Run("memmap", func(t *testing.T) { check(t, memTree(t, rateTree()), memRoot, scanner.Config{Workers: 128}) })
	forEachOS(t, func(t *testing.T, impl osImpl) {
		root := osTree(t, rateTree())
		fsys, cfg := impl.fs(t, faults{}, scanner.Config{Workers: 128})
		check(t, fsys, root, cfg)
	})
}

// waiting returns once some call waits for a token of lim.
func waiting(lim *scanner.Limiter) {
	for lim.Tokens() >= 0 {
		time.Sleep(time.Millisecond)
	}
}

// TestLimiterWaitEndsWithTheWalk: a walk whose calls wait for tokens that
// would come only after years stops as soon as it is cancelled, and a
// deadline ends it with the deadline's error, not the limiter's: a budget
// (a ctx with a deadline) is spent, not failed. A wait that did not end
// with ctx would hang the test.
func TestLimiterWaitEndsWithTheWalk(t *testing.T) {
	check := func(t *testing.T, fsys afero.Fs, root string, cfg scanner.Config) {
		t.Run("cancelled", func(t *testing.T) {
			cfg.Limiter = scanner.NewLimiterOf(1e-9, 1)
			cfg.Progress = &scanner.Progress{}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			go func() { waiting(cfg.Limiter); cancel() }()
			err := scanner.Walk(ctx, fsys, root, cfg, func(scanner.Entry) error { return nil })
			if !errors.Is(err, context.Canceled) {
				t.Errorf("Walk: %v, want context.Canceled", err)
			}
			if n := cfg.Progress.Calls.Load(); n != 1 {
				t.Errorf("%d calls made, want 1: the burst", n)
			}
		})
		t.Run("deadline", func(t *testing.T) {
			cfg.Limiter = scanner.NewLimiterOf(1e-9, 1)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
			defer cancel()
			err := scanner.Walk(ctx, fsys, root, cfg, func(scanner.Entry) error { return nil })
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("Walk: %v, want context.DeadlineExceeded", err)
			}
		})
		t.Run("measure-each-deadline", func(t *testing.T) {
			// Every session measured is whole, none failed by the wait:
			// the tokens come slower than the deadline.
			cfg.Limiter = scanner.NewLimiterOf(100, 1)
			rels := []string{"workspace_1/session_a", "workspace_1/session_b", "workspace_2/session_a", "workspace_3/session_d"}
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Millisecond)
			defer cancel()
			err := scanner.MeasureEach(ctx, fsys, root, rels, cfg, func(e scanner.Entry) error {
				if e.Err != nil {
					t.Errorf("%s: %v, want it measured whole or not reported", e.Path, e.Err)
				}
				return nil
			})
			if err != nil && !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("MeasureEach: %v, want nil or context.DeadlineExceeded", err)
			}
		})
	}
	t.Run("memmap", func(t *testing.T) { check(t, memTree(t, rateTree()), memRoot, scanner.Config{}) })
	forEachOS(t, func(t *testing.T, impl osImpl) {
		root := osTree(t, rateTree())
		fsys, cfg := impl.fs(t, faults{}, scanner.Config{})
		check(t, fsys, root, cfg)
	})
}

// TestLimiterWaitIsNotATimeout: waiting for a token is not a call that
// hangs. Tokens come every 125ms and a call times out after 60ms: were
// the wait timed, the session would fail with ErrIOTimeout.
func TestLimiterWaitIsNotATimeout(t *testing.T) {
	tr := tree{"workspace_1/session_a/d/f": "f"}
	check := func(t *testing.T, fsys afero.Fs, root string, cfg scanner.Config) {
		cfg.Limiter = scanner.NewLimiterOf(8, 1)
		cfg.IOTimeout = 60 * time.Millisecond
		cfg.Workers = 2
		for p, e := range walk(t, fsys, root, cfg) {
			if e.Err != nil {
				t.Errorf("%s: %v", p, e.Err)
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
