package reconcile_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/spf13/afero"

	"sessaudit/db"
	"sessaudit/reconcile"
	"sessaudit/scanner"
)

// The tests in this file run real writers on a session directory while
// audits run: a headless Chromium whose profile it is (as whatsapp-web.js's
// LocalAuth runs it), Baileys' own useMultiFileAuthState under Node, a file
// rewritten in place as Node's writeFile does, and a Go writer that churns
// like Chromium's LevelDB and caches. Each size an audit writes is compared
// with independent lstat walks taken while the audit ran. They run in
// parallel: a session is verified while written only once it is
// reconcile.LiveAge old, and they wait for that together.

// lstatSize is an independent measurement of dir: the sum of the sizes of
// its regular files by filepath.WalkDir and os.Lstat, each inode once. An
// entry that vanishes under it is skipped.
func lstatSize(dir string) int64 {
	var total int64
	seen := map[[2]uint64]bool{}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return nil
		}
		fi, err := os.Lstat(p)
		if err != nil || !fi.Mode().IsRegular() {
			return nil
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Nlink > 1 {
			id := [2]uint64{uint64(st.Dev), st.Ino}
			if seen[id] {
				return nil
			}
			seen[id] = true
		}
		total += fi.Size()
		return nil
	})
	return total
}

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
	w.before = lstatSize(dir)
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
			v := lstatSize(dir)
			mu.Lock()
			add(v)
			mu.Unlock()
		}
	})
	fn()
	close(done)
	bg.Wait()
	w.after = lstatSize(dir)
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

// writer is a process writing a session until the test ends.
type writer struct {
	cmd    *exec.Cmd
	exited atomic.Bool
	err    error
	done   chan struct{}
	out    strings.Builder
}

func startWriter(t *testing.T, env []string, name string, args ...string) *writer {
	t.Helper()
	w := &writer{cmd: exec.Command(name, args...), done: make(chan struct{})}
	w.cmd.Env = append(os.Environ(), env...)
	w.cmd.Stdout, w.cmd.Stderr = &w.out, &w.out
	if err := w.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		w.err = w.cmd.Wait()
		w.exited.Store(true)
		close(w.done)
	}()
	t.Cleanup(func() {
		w.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-w.done:
		case <-time.After(5 * time.Second):
			w.cmd.Process.Kill()
			<-w.done
		}
	})
	return w
}

func (w *writer) running() error {
	if w.exited.Load() {
		return fmt.Errorf("%v: %s", w.err, w.out.String())
	}
	return nil
}

// waitFor waits until path exists, within limit.
func waitFor(t *testing.T, path string, limit time.Duration, running func() error) {
	t.Helper()
	for start := time.Now(); ; time.Sleep(100 * time.Millisecond) {
		if _, err := os.Lstat(path); err == nil {
			return
		}
		if err := running(); err != nil {
			t.Fatalf("the writer stopped before writing %s: %v", path, err)
		}
		if time.Since(start) > limit {
			t.Fatalf("%s not written within %v", path, limit)
		}
	}
}

// A headless Chromium whose profile is the session directory, on a page
// that registers a service worker and writes Cache Storage, IndexedDB blobs
// and localStorage without pause: audits verify it, with sizes within
// independent walks.
func TestAuditVerifiesAChromiumProfileBeingWritten(t *testing.T) {
	t.Parallel()
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("chromium is not installed (Debian's package chromium; .ci/run installs it): no real Chromium to write a profile")
	}
	root, session := liveShare(t)
	srv := httptest.NewServer(http.FileServer(http.Dir("testdata/writers/chromium")))
	defer srv.Close()
	born := time.Now()
	w := startChromium(t, chromium, session, srv.URL)
	waitFor(t, filepath.Join(session, "Default/Service Worker"), 30*time.Second, w.running)
	// A step of the page writes a cache entry and a blob of at most 62 KB
	// each.
	auditWhileWritten(t, root, session, born, 4, 128<<10, w.running)
}

// startChromium runs a headless Chromium with session as its profile on
// url, with the flags whatsapp-web.js's LocalAuth passes and none that
// reaches the network.
func startChromium(t *testing.T, chromium, session, url string) *writer {
	t.Helper()
	return startWriter(t, nil, chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir="+session, url)
}

// baileysModules returns the node_modules directory that holds
// @whiskeysockets/baileys, or "" when there is none: .ci/run installs it
// and names it in SESSAUDIT_TEST_NODE_MODULES.
func baileysModules() string {
	dir := os.Getenv("SESSAUDIT_TEST_NODE_MODULES")
	if dir == "" {
		return ""
	}
	if _, err := os.Stat(filepath.Join(dir, "@whiskeysockets/baileys/package.json")); err != nil {
		return ""
	}
	return dir
}

// Baileys' own useMultiFileAuthState, run offline by Node, writing creds
// and keys files several times a second: audits verify it with sizes
// within independent walks.
func TestAuditVerifiesABaileysSessionBeingWritten(t *testing.T) {
	t.Parallel()
	node, err := exec.LookPath("node")
	modules := baileysModules()
	if err != nil || modules == "" {
		t.Skip("node or @whiskeysockets/baileys is missing (.ci/run installs it and sets SESSAUDIT_TEST_NODE_MODULES): no real Baileys to write a session")
	}
	root, session := liveShare(t)
	w := startWriter(t, []string{"NODE_PATH=" + modules}, node, "testdata/writers/baileys.js", session)
	waitFor(t, filepath.Join(session, "creds.json"), 30*time.Second, w.running)
	born := time.Now() // Node takes seconds to start
	// A step writes a session of at most 4 KB and a sender key of 700
	// bytes, or deletes a pre-key.
	auditWhileWritten(t, root, session, born, 4, 8<<10, w.running)
}

// A Go writer that churns as Chromium's LevelDB and caches do, about 8
// entries created or deleted a second, appends to a log and rewrites a
// file in place: audits verify it with sizes within independent walks.
// It needs neither Chromium nor Node.
func TestAuditVerifiesASessionChurningLikeLevelDB(t *testing.T) {
	t.Parallel()
	root, session := liveShare(t)
	born := time.Now()
	for _, d := range []string{"Default/Local Storage/leveldb", "Default/Cache/Cache_Data", "Default/IndexedDB"} {
		if err := os.MkdirAll(filepath.Join(session, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var werr atomic.Value
	wg.Go(func() {
		if err := churn(ctx, session); err != nil {
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

// churn writes session as Chromium does until ctx is done: cache entries
// created and the oldest deleted, a LevelDB log appended to and rotated
// into a table file, the Preferences file rewritten in place.
func churn(ctx context.Context, session string) error {
	cache := filepath.Join(session, "Default/Cache/Cache_Data")
	ldb := filepath.Join(session, "Default/Local Storage/leveldb")
	prefs := filepath.Join(session, "Default/Preferences")
	var entries []string
	for i := 0; ctx.Err() == nil; i++ {
		name := filepath.Join(cache, fmt.Sprintf("f_%06x", i))
		if err := os.WriteFile(name, make([]byte, 1000+rand.IntN(30000)), 0o600); err != nil {
			return err
		}
		entries = append(entries, name)
		if len(entries) > 30 {
			if err := os.Remove(entries[0]); err != nil {
				return err
			}
			entries = entries[1:]
		}
		log := filepath.Join(ldb, fmt.Sprintf("%06d.log", i/20))
		f, err := os.OpenFile(log, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
		if err != nil {
			return err
		}
		_, err = f.Write(make([]byte, 500+rand.IntN(2000)))
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
		if i%20 == 19 { // the log is compacted into a table, and removed
			if err := os.WriteFile(filepath.Join(ldb, fmt.Sprintf("%06d.ldb", i/20)), make([]byte, 4000), 0o600); err != nil {
				return err
			}
			if err := os.Remove(log); err != nil {
				return err
			}
		}
		if i%3 == 0 {
			if err := os.WriteFile(prefs, make([]byte, 5000+rand.IntN(5000)), 0o600); err != nil {
				return err
			}
		}
		select {
		case <-time.After(250 * time.Millisecond):
		case <-ctx.Done():
		}
	}
	return nil
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
			took, err := rewrite(path, data, 5*time.Millisecond)
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

// rewrite rewrites path in place as Node's writeFile does: open with
// O_TRUNC, then the data in two writes, a pause before each. It returns how
// long the file was torn: from its truncation to its last write.
func rewrite(path string, data []byte, pause time.Duration) (time.Duration, error) {
	start := time.Now()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return 0, err
	}
	time.Sleep(pause)
	_, err = f.Write(data[:len(data)/2])
	time.Sleep(pause)
	if err == nil {
		_, err = f.Write(data[len(data)/2:])
	}
	took := time.Since(start)
	return took, errors.Join(err, f.Close())
}
