package watchmode_test

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"sessaudit/scanner/scantest/writers"
	"sessaudit/scanner/watch"
)

// A headless Chromium whose profile is a session directory (whatsapp-web.js's
// LocalAuth) writes it without pause, so its events never leave the quiet
// period: watch writes its row within 60 s of Chromium's start, and again
// within every cap interval (30 s) after that, each time with a size
// within independent walks of the profile taken meanwhile. Issue 17: it
// was written 0 times in 120 s, every reconcile forced by the cap coming
// out recent.
func TestWatchWritesALiveChromiumProfileEveryCap(t *testing.T) {
	t.Parallel()
	const (
		first  = 60 * time.Second
		writes = 4 // the first, then three cap intervals
		// A step of the page writes a cache entry and a blob of at most
		// 62 KB each; a walk and a measurement are each a few steps
		// long.
		slack = 256 << 10
	)
	e := newEnv(t, map[string]string{"workspace_1/": ""}, []row{{1, 1, "a"}}, options{debounce: watch.DefaultQuiet})
	session := e.path("workspace_1/session_a")
	start := time.Now()
	w := writers.Chromium(t, session)

	// Independent walks of the profile, without pause, to hold each size
	// written against.
	type walk struct {
		at   time.Time
		size int64
	}
	var (
		mu    sync.Mutex
		walks []walk
	)
	ctx, stop := context.WithCancel(context.Background())
	var bg sync.WaitGroup
	defer bg.Wait()
	defer stop()
	bg.Go(func() {
		for ctx.Err() == nil {
			size := writers.LstatSize(session)
			mu.Lock()
			walks = append(walks, walk{time.Now(), size})
			mu.Unlock()
			select {
			case <-ctx.Done():
			case <-time.After(200 * time.Millisecond):
			}
		}
	})
	// within reports the least and most the walks measured between from
	// and to.
	within := func(from, to time.Time) (lo, hi int64, n int) {
		mu.Lock()
		defer mu.Unlock()
		for _, w := range walks {
			if w.at.Before(from) || w.at.After(to) {
				continue
			}
			if n == 0 || w.size < lo {
				lo = w.size
			}
			hi = max(hi, w.size)
			n++
		}
		return lo, hi, n
	}

	type written struct {
		verifiedAt time.Time // as stored: whole seconds
		seen       time.Time
		size       int64
	}
	var got []written
	deadline, since := start.Add(first), "Chromium's start"
	for len(got) < writes {
		if err := w.Running(); err != nil {
			t.Fatalf("Chromium stopped: %v", err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("row not written by %s, after %s (%d writes so far)", deadline.Format(time.TimeOnly), since, len(got))
		}
		time.Sleep(100 * time.Millisecond)
		size, at := e.stored(1)
		if at == "" || len(got) > 0 && at == got[len(got)-1].verifiedAt.Format(time.DateTime) {
			continue
		}
		now := time.Now()
		v, err := time.ParseInLocation(time.DateTime, at, time.UTC)
		if err != nil {
			t.Fatal(err)
		}
		n, err := strconv.ParseInt(size, 10, 64)
		if err != nil {
			t.Fatalf("size %q: %v", size, err)
		}
		// The reconcile measured the profile within the seconds before
		// the write: the quiet wait and two measurements.
		lo, hi, walked := within(now.Add(-10*time.Second), now)
		if n < lo-slack || n > hi+slack {
			t.Errorf("wrote %d bytes at %s; %d walks in the 10 s before measured %d to %d", n, at, walked, lo, hi)
		}
		got = append(got, written{verifiedAt: v, seen: now, size: n})
		t.Logf("row written at %s (%.1f s after Chromium started): %d bytes; walks in the 10 s before: %d to %d",
			at, now.Sub(start).Seconds(), n, lo, hi)
		// The next write is due within the cap of this one, give or
		// take the whole second the column keeps.
		since, deadline = "the previous write", now.Add(watch.DefaultMaxDelay+time.Second)
	}
	for i := 1; i < len(got); i++ {
		if gap := got[i].verifiedAt.Sub(got[i-1].verifiedAt); gap > watch.DefaultMaxDelay {
			t.Errorf("session_storage_verified_at went from %s to %s: %v, more than the cap of %v",
				got[i-1].verifiedAt.Format(time.TimeOnly), got[i].verifiedAt.Format(time.TimeOnly), gap, watch.DefaultMaxDelay)
		}
	}
}
