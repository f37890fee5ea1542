package reconcile_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"sessaudit/reconcile"
	"sessaudit/scanner/scantest/writers"
)

// figureCase is one writer of TestLiveFigures: start writes session until
// the test ends and returns when the session was created and how to tell
// the writer still runs; atRest, when not 0, is the session's size whenever
// no write is in progress.
type figureCase struct {
	name   string
	start  func(t *testing.T, session string) (born time.Time, running func() error)
	atRest int64
}

// figureAudit is one audit of TestLiveFigures and the independent
// measurements taken right before and right after it.
type figureAudit struct {
	duBefore, walkBefore int64
	size                 int64
	verified             bool
	why                  string
	walkAfter, duAfter   int64
	took                 time.Duration
}

// outside returns how far size lies outside the walks right before and
// right after the audit: 0 when between them.
func (a figureAudit) outside() int64 {
	lo, hi := min(a.walkBefore, a.walkAfter), max(a.walkBefore, a.walkAfter)
	switch {
	case a.size < lo:
		return lo - a.size
	case a.size > hi:
		return a.size - hi
	}
	return 0
}

// TestLiveFigures measures what the nightly audit does with sessions being
// written, for the figures in README.md and docs/guarantees.md: a headless
// Chromium writing its profile, Baileys' useMultiFileAuthState, and a file
// of 660 KB rewritten in place 5 times a second, each audited
// SESSAUDIT_LIVE_FIGURES times in a row once the session is
// reconcile.LiveAge old (the writers run at once, as on a shared host).
// Each audit is bracketed by an independent lstat walk and du -sb right
// before and right after it. It prints a Markdown table; .ci/bench-live
// runs it. Without SESSAUDIT_LIVE_FIGURES it is skipped: it takes minutes.
func TestLiveFigures(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("SESSAUDIT_LIVE_FIGURES"))
	if n <= 0 {
		t.Skip("set SESSAUDIT_LIVE_FIGURES to the number of audits per writer (.ci/bench-live does): it takes minutes")
	}
	if _, err := exec.LookPath("du"); err != nil {
		t.Fatalf("du: %v", err)
	}
	const rewritten = 660_000
	cases := []figureCase{
		{name: "Chromium profile (whatsapp-web.js LocalAuth)", start: func(t *testing.T, session string) (time.Time, func() error) {
			born := time.Now()
			return born, writers.Chromium(t, session).Running
		}},
		{name: "Baileys useMultiFileAuthState", start: func(t *testing.T, session string) (time.Time, func() error) {
			w := writers.Baileys(t, session)
			return time.Now(), w.Running
		}},
		{name: "660 KB file rewritten in place at 5 Hz", atRest: rewritten + 100, start: func(t *testing.T, session string) (time.Time, func() error) {
			return rewriting(t, session, rewritten)
		}},
	}
	results := make([][]figureAudit, len(cases))
	t.Run("writers", func(t *testing.T) {
		for i, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				t.Parallel()
				root, session := liveShare(t)
				born, running := c.start(t, session)
				time.Sleep(time.Until(born.Add(reconcile.LiveAge + time.Second)))
				for range n {
					if err := running(); err != nil {
						t.Fatalf("the writer stopped: %v", err)
					}
					var a figureAudit
					a.duBefore = duBytes(t, session)
					a.walkBefore = writers.LstatSize(session)
					start := time.Now()
					a.size, a.verified, a.why = auditLive(t, root)
					a.took = time.Since(start)
					a.walkAfter = writers.LstatSize(session)
					a.duAfter = duBytes(t, session)
					results[i] = append(results[i], a)
				}
			})
		}
	})
	var b strings.Builder
	fmt.Fprintf(&b, "\n| writer | audits | verified | between the walks before and after | size written outside them (max; median of all; for the rewrite: off its size at rest) | torn: written; lstat walks; du -sb | du -sb − walk (directories' own sizes) | seconds per audit (median) |\n")
	fmt.Fprintf(&b, "|---|---|---|---|---|---|---|---|\n")
	for i, c := range cases {
		as := results[i]
		verified, between, torn, tornWalks, tornDu := 0, 0, 0, 0, 0
		var outside, du, took []int64
		var maxOut, maxOutOf int64
		why := map[string]int{}
		for _, a := range as {
			du = append(du, a.duBefore-a.walkBefore, a.duAfter-a.walkAfter)
			// A rewrite truncates the file, then writes it whole: a
			// reference that caught it midway reads less than at rest.
			for _, v := range []int64{a.walkBefore, a.walkAfter} {
				if v < c.atRest {
					tornWalks++
				}
			}
			for _, v := range []int64{a.duBefore, a.duAfter} {
				if v < c.atRest {
					tornDu++
				}
			}
			took = append(took, a.took.Milliseconds())
			if !a.verified {
				why[a.why]++
				continue
			}
			verified++
			o := a.outside()
			if c.atRest != 0 {
				// The walks can catch the file mid-rewrite themselves:
				// the reference is its size at rest.
				o = max(a.size-c.atRest, c.atRest-a.size)
			}
			outside = append(outside, o)
			if o == 0 {
				between++
			}
			if o > maxOut {
				maxOut, maxOutOf = o, a.size
			}
			if c.atRest != 0 && a.size != c.atRest {
				torn++
			}
		}
		tornCol := "—"
		if c.atRest != 0 {
			tornCol = fmt.Sprintf("%d of %d; %d of %d; %d of %d", torn, verified, tornWalks, 2*len(as), tornDu, 2*len(as))
		}
		fmt.Fprintf(&b, "| %s | %d | %d | %d | %s; %s | %s | %s | %.1f |\n", c.name, len(as), verified, between,
			outsideText(maxOut, maxOutOf), humanBytes(median(outside)), tornCol, rangeText(du), float64(median(took))/1000)
		for w, k := range why {
			fmt.Fprintf(&b, "<!-- %s: not verified %d times: %s -->\n", c.name, k, w)
		}
	}
	fmt.Print(b.String())
}

// rewriting writes a session of one file of size bytes and one of 100,
// and rewrites the first in place 5 times a second (writers.Rewrite) until
// the test ends.
func rewriting(t *testing.T, session string, size int) (time.Time, func() error) {
	if err := os.MkdirAll(session, 0o700); err != nil {
		t.Fatal(err)
	}
	born := time.Now()
	for name, n := range map[string]int{"creds.json": size, "pre-key-1.json": 100} {
		if err := os.WriteFile(filepath.Join(session, name), make([]byte, n), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var mu sync.Mutex
	var werr error
	wg.Go(func() {
		data := make([]byte, size)
		for ctx.Err() == nil {
			if _, err := writers.Rewrite(filepath.Join(session, "creds.json"), data, 5*time.Millisecond); err != nil {
				mu.Lock()
				werr = err
				mu.Unlock()
				return
			}
			select {
			case <-time.After(200 * time.Millisecond):
			case <-ctx.Done():
			}
		}
	})
	t.Cleanup(func() { stop(); wg.Wait() })
	return born, func() error {
		mu.Lock()
		defer mu.Unlock()
		return werr
	}
}

// duBytes returns du -sb of dir: the apparent sizes of everything in it,
// directories and links included.
func duBytes(t *testing.T, dir string) int64 {
	out, err := exec.Command("du", "-sb", dir).Output()
	if err != nil {
		// du reports entries that vanished under it, and exits 1.
		if _, ok := err.(*exec.ExitError); !ok || len(out) == 0 {
			t.Fatalf("du -sb %s: %v", dir, err)
		}
	}
	n, err := strconv.ParseInt(strings.Fields(string(out))[0], 10, 64)
	if err != nil {
		t.Fatalf("du -sb %s: %q: %v", dir, out, err)
	}
	return n
}

func median(xs []int64) int64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

func rangeText(xs []int64) string {
	if len(xs) == 0 {
		return "—"
	}
	return fmt.Sprintf("%s to %s", humanBytes(slices.Min(xs)), humanBytes(slices.Max(xs)))
}

func outsideText(n, of int64) string {
	if n == 0 {
		return "0 B"
	}
	return fmt.Sprintf("%s (%.2f%% of %s)", humanBytes(n), 100*float64(n)/float64(of), humanBytes(of))
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<20 || n <= -1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10 || n <= -1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
