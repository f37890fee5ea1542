package reconcile_test

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spf13/afero"

	"sessaudit/db"
	"sessaudit/reconcile"
	"sessaudit/scanner"
	"sessaudit/scanner/scantest/writers"
)

// The tests in this file run real writers on a session directory while
// audits run: a headless Chromium whose profile it is (as whatsapp-web.js's
// LocalAuth runs it), Baileys' own useMultiFileAuthState under Node, a file
// rewritten in place as Node's writeFile does, and a Go writer that churns
// like Chromium's LevelDB and caches. Each size an audit writes is compared
// with independent lstat walks taken while the audit ran. They run in
// parallel: a session is verified while written only once it is
// reconcile.LiveAge old, and they wait for that together.

// walks is what independent walks of a session measured around an audit:
// right before it, right after it, and the least and most of all of them,
// taken without pause while it ran.
type walks struct {
	before, after, lo, hi int64
	n                     int
}

// within reports whether size lies within the walks' least and most, give
// or take slack: neither a walk nor a measurement reads a tree at one
// instant, and one can count a state that lasts only between two steps of
// the writer (a cache entry written before the oldest is deleted), which
// the walks, taken one after another, can miss. slack is the most one step
// of the writer adds or removes.
func (w walks) within(size, slack int64) bool { return w.lo-slack <= size && size <= w.hi+slack }

// aroundAndAfter reports whether size lies between the walks right before
// and right after the audit.
func (w walks) aroundAndAfter(size int64) bool {
	return min(w.before, w.after) <= size && size <= max(w.before, w.after)
}

// during runs fn while walking dir again and again.
func during(dir string, fn func()) walks {
	w := walks{lo: math.MaxInt64, hi: math.MinInt64}
	add := func(v int64) {
		w.lo, w.hi = min(w.lo, v), max(w.hi, v)
		w.n++
	}
	w.before = writers.LstatSize(dir)
	add(w.before)
	var mu sync.Mutex
	done := make(chan struct{})
	var bg sync.WaitGroup
	bg.Go(func() {
		for {
			select {
			case <-done:
				return
			case <-time.After(20 * time.Millisecond):
			}
			v := writers.LstatSize(dir)
			mu.Lock()
			add(v)
			mu.Unlock()
		}
	})
	fn()
	close(done)
	bg.Wait()
	w.after = writers.LstatSize(dir)
	add(w.after)
	return w
}

// liveShare makes a share under a new temporary directory with the one
// session workspace_1/session_a (not created), and the row that refers to
// it.
func liveShare(t *testing.T) (root, session string) {
	t.Helper()
	root = t.TempDir()
	session = filepath.Join(root, "workspace_1/session_a")
	if err := os.MkdirAll(filepath.Dir(session), 0o755); err != nil {
		t.Fatal(err)
	}
	return root, session
}

// auditLive audits root once, as the nightly run does, and returns the
// size written for the session's row, whether one was, and why not.
func auditLive(t *testing.T, root string) (int64, bool, string) {
	store := &fakeStore{rows: []db.Row{live(1, 1, "a", str("/mnt/efs/workspace_1/session_a"))}}
	rep, err := reconcile.Audit(context.Background(), afero.NewOsFs(), store, reconcile.Config{
		Root: root, PathPrefix: "/mnt/efs", MinAge: time.Hour, MaxMissingRatio: 1,
		Now: func() time.Time { return time.Now().Add(48 * time.Hour) },
	})
	if err != nil {
		t.Fatalf("Audit: %v", err)
	}
	size, ok := store.written[1]
	why := ""
	for _, f := range rep.Recent {
		why += f.Detail
	}
	return size, ok, why
}

// auditWhileWritten waits until the session created at born is
// reconcile.LiveAge old, then audits it n times while its writer runs, and
// checks that every size written lies within the independent walks taken
// while its audit ran, and that most audits wrote one.
func auditWhileWritten(t *testing.T, root, session string, born time.Time, n int, slack int64, running func() error) {
	t.Helper()
	time.Sleep(time.Until(born.Add(reconcile.LiveAge + time.Second)))
	verified, between, inside := 0, 0, 0
	var notVerified []string
	for range n {
		if err := running(); err != nil {
			t.Fatalf("the writer stopped: %v", err)
		}
		var size int64
		var ok bool
		var why string
		w := during(session, func() { size, ok, why = auditLive(t, root) })
		if !ok {
			notVerified = append(notVerified, why)
			continue
		}
		verified++
		if w.aroundAndAfter(size) {
			between++
		}
		if w.within(size, 0) {
			inside++
		}
		if !w.within(size, slack) {
			t.Errorf("wrote %d bytes; %d independent walks while the audit ran measured %d to %d (before %d, after %d), and one step of the writer is at most %d",
				size, w.n, w.lo, w.hi, w.before, w.after, slack)
		}
	}
	if err := running(); err != nil {
		t.Fatalf("the writer stopped: %v", err)
	}
	t.Logf("%d of %d audits verified it (%d within the walks while it ran, %d between the walks right before and right after); not verified: %q",
		verified, n, inside, between, notVerified)
	if verified*2 < n {
		t.Errorf("%d of %d audits verified a session being written", verified, n)
	}
}

// A headless Chromium whose profile is the session directory, on a page
// that registers a service worker and writes Cache Storage, IndexedDB blobs
// and localStorage without pause: audits verify it, with sizes within
// independent walks.
func TestAuditVerifiesAChromiumProfileBeingWritten(t *testing.T) {
	t.Parallel()
	root, session := liveShare(t)
	born := time.Now()
	w := writers.Chromium(t, session)
	// A step of the page writes a cache entry and a blob of at most 62 KB
	// each.
	auditWhileWritten(t, root, session, born, 4, 128<<10, w.Running)
}

// Baileys' own useMultiFileAuthState, run offline by Node, writing creds
// and keys files several times a second: audits verify it with sizes
// within independent walks.
func TestAuditVerifiesABaileysSessionBeingWritten(t *testing.T) {
	t.Parallel()
	root, session := liveShare(t)
	w := writers.Baileys(t, session)
	born := time.Now() // Node takes seconds to start
	// A step writes a session of at most 4 KB and a sender key of 700
	// bytes, or deletes a pre-key.
	auditWhileWritten(t, root, session, born, 4, 8<<10, w.Running)
}

// A Go writer that churns as Chromium's LevelDB and caches do, about 8
// entries created or deleted a second, appends to a log and rewrites a
// file in place: audits verify it with sizes within independent walks.
// It needs neither Chromium nor Node.
func TestAuditVerifiesASessionChurningLikeLevelDB(t *testing.T) {
	t.Parallel()
	root, session := liveShare(t)
	born := time.Now()
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var werr atomic.Value
	wg.Go(func() {
		if err := writers.Churn(ctx, session); err != nil {
			werr.Store(err)
		}
	})
	defer wg.Wait()
	defer stop()
	running := func() error {
		if err, ok := werr.Load().(error); ok {
			return err
		}
		return nil
	}
	// A step writes a cache entry of at most 31 KB, appends at most 2.5
	// KB, writes a table of 4 KB and rewrites Preferences (at most 10 KB).
	auditWhileWritten(t, root, session, born, 4, 48<<10, running)
}

// A file of 660 KB rewritten in place 5 times a second (O_TRUNC, then two
// writes, as Node's writeFile does) under hundreds of audits: no size
// written is one the file had only mid-write.
func TestAuditNeverWritesATornRewrite(t *testing.T) {
	t.Parallel()
	root, session := liveShare(t)
	const size = 660_000
	for name, n := range map[string]int{"creds.json": size, "pre-key-1.json": 100} {
		if err := os.MkdirAll(session, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(session, name), make([]byte, n), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(2100 * time.Millisecond) // the directory stands: only the file changes
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	rewrites, stalled := 0, 0
	wg.Go(func() {
		data := make([]byte, size)
		path := filepath.Join(session, "creds.json")
		for ctx.Err() == nil {
			took, err := writers.Rewrite(path, data, 5*time.Millisecond)
			if err != nil {
				t.Error(err)
				return
			}
			rewrites++
			if took > scanner.FileSettle {
				stalled++
			}
			select {
			case <-time.After(200 * time.Millisecond):
			case <-ctx.Done():
			}
		}
	})
	defer wg.Wait()
	defer stop()
	var mu sync.Mutex
	written := map[int64]int{}
	var auditors sync.WaitGroup
	const audits = 200
	for range 4 {
		auditors.Go(func() {
			for range audits / 4 {
				size, ok, _ := auditLive(t, root)
				mu.Lock()
				if ok {
					written[size]++
				}
				mu.Unlock()
			}
		})
	}
	auditors.Wait()
	stop()
	wg.Wait()
	t.Logf("%d rewrites (%d of them stalled for longer than scanner.FileSettle); sizes written by %d audits: %v", rewrites, stalled, audits, written)
	torn := 0
	for got, n := range written {
		if got != size+100 {
			torn += n
			t.Logf("wrote %d bytes %d times; the session holds %d at rest", got, n, size+100)
		}
	}
	// A rewrite that stalls for longer than FileSettle between its
	// truncation and its last write looks like a file at rest: the
	// documented limit, which a loaded machine can make the writer
	// cross. Each can be met once.
	if torn > stalled {
		t.Errorf("%d torn sizes written, and the writer stalled %d times", torn, stalled)
	}
	if written[size+100] < audits/2 {
		t.Errorf("%d of %d audits verified the session", written[size+100], audits)
	}
	if rewrites < 10 {
		t.Fatalf("the file was rewritten %d times: the test tested nothing", rewrites)
	}
}
