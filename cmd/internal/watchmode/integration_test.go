package watchmode_test

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"io"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/rs/zerolog"
	"github.com/spf13/afero"

	"sessaudit/cmd/internal/watchmode"
	"sessaudit/db"
	"sessaudit/db/dbtest"
	"sessaudit/reconcile"
	"sessaudit/scanner"
	"sessaudit/scanner/watch"
)

// These tests run watch mode end to end: a real Watcher on a temporary
// directory, the real Reconciler, and the database of dbtest (embedded, or
// MariaDB with SESSAUDIT_TEST_MYSQL_DSN).

// patience bounds every wait for something that must happen; it fails the
// test, it measures nothing.
const patience = 20 * time.Second

type options struct {
	shard      scanner.Shard
	maxWatches int
	rescan     time.Duration
	debounce   time.Duration
	fsys       afero.Fs
	viaProxy   bool
	// freezer, when set, puts a dbtest.Freezer between the watcher and
	// the database, and dbTimeout is the Store's Timeout.
	freezer   bool
	dbTimeout time.Duration
}

type env struct {
	t      *testing.T
	root   string
	admin  *sql.DB
	proxy  *cutProxy
	frozen *dbtest.Freezer
	runner *watchmode.Runner
	logs   *syncBuffer
	lose   atomic.Bool // drop events, as a kernel queue overflow does
	dbMu   sync.Mutex  // see serialStore
	serial *serialStore
}

// serialStore makes the calls of a RowStore take turns with the test's own
// queries (see newEnv).
type serialStore struct {
	reconcile.RowStore
	mu *sync.Mutex
}

func (s *serialStore) Rows(ctx context.Context, sel db.Selection) ([]db.Row, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.RowStore.Rows(ctx, sel)
}

func (s *serialStore) WriteSizes(ctx context.Context, batch []db.SizeUpdate, at time.Time) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.RowStore.WriteSizes(ctx, batch, at)
}

type row struct {
	id      uint64
	ws      uint64
	session string
}

// newEnv makes the tree (paths ending in a file name get content) and the
// rows (live, each with the conventional stored path, created long ago),
// and starts watch mode; it returns once the first rescan is done.
func newEnv(t *testing.T, tree map[string]string, rows []row, o options) *env {
	t.Helper()
	dsn := dbtest.New(t)
	dbtest.LoadSchema(t, dsn)
	e := &env{t: t, root: t.TempDir(), logs: &syncBuffer{}}
	admin, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close() })
	e.admin = admin
	for _, r := range rows {
		e.exec("INSERT INTO whatsapp_accounts (id, uuid, workspace_id, session_id, session_storage_path, created_by, created_at, updated_at) "+
			"VALUES (?, ?, ?, ?, ?, 1, '2020-01-01 00:00:00', '2020-01-01 00:00:00')",
			r.id, fmt.Sprintf("uuid-%d", r.id), r.ws, r.session, "/mnt/efs/"+scanner.SessionPath(r.ws, r.session))
	}
	for rel, content := range tree {
		if strings.HasSuffix(rel, "/") {
			e.mkdir(rel)
		} else {
			e.write(rel, content)
		}
	}

	if o.viaProxy {
		e.proxy = newCutProxy(t, dsn)
		dsn = e.proxy.dsn
	}
	if o.freezer {
		e.frozen = dbtest.NewFreezer(t, dsn)
		dsn = e.frozen.DSN()
	}
	ctx, cancel := context.WithCancel(context.Background())
	store, err := db.Open(ctx, db.Config{DSN: dsn, Timeout: o.dbTimeout})
	if err != nil {
		t.Fatal(err)
	}
	hold, err := watchmode.HoldShard(ctx, store, o.shard.Index, o.shard.Count)
	if err != nil {
		t.Fatal(err)
	}
	fsys := o.fsys
	if fsys == nil {
		fsys = afero.NewOsFs()
	}
	scope := scanner.AllWorkspaces().InShard(o.shard)
	var rowStore reconcile.RowStore = store
	if dbtest.Backend() == "embedded" {
		// The embedded server's memory tables commit by putting back the
		// whole table a session touched, reads included: a read that
		// overlaps a write undoes it. MariaDB has no such trouble; here
		// the watcher's reads and writes and the test's reads take turns.
		e.serial = &serialStore{RowStore: store, mu: &e.dbMu}
		rowStore = e.serial
	}
	rec := reconcile.NewReconciler(fsys, rowStore, reconcile.Config{
		Root: e.root, PathPrefix: "/mnt/efs", Scope: scope, MaxMissingRatio: 1,
	})
	debounce := o.debounce
	if debounce == 0 {
		debounce = 100 * time.Millisecond
	}
	e.runner = watchmode.New(watchmode.Config{
		Debounce: debounce, RescanInterval: o.rescan, CheckInterval: 50 * time.Millisecond,
		Log: zerolog.New(e.logs),
	}, watchmode.Sessions(rec), watchmode.Rescans(rec), hold)
	w, err := watch.New(watch.Config{
		Root: e.root, Contains: scope.Contains, MaxWatches: o.maxWatches,
		Touched: func(key string) {
			if !e.lose.Load() {
				e.runner.Touched(key)
			}
		},
		Overflow: e.runner.Overflow, Exhausted: e.runner.Exhausted, OnError: e.runner.WatchError,
		RootChanged: e.runner.RootChanged, RootCheck: 50 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- e.runner.Run(ctx, w) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run = %v", err)
			}
		case <-time.After(patience):
			t.Error("Run did not return after cancel")
		}
		hold.Release()
		store.Close()
		if t.Failed() {
			t.Logf("logs:\n%s", e.logs.String())
		}
	})
	e.eventually("ready", func() bool { ok, _ := e.runner.Ready(); return ok })
	return e
}

func (e *env) exec(q string, args ...any) {
	e.t.Helper()
	if _, err := e.admin.Exec(q, args...); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) path(rel string) string { return filepath.Join(e.root, filepath.FromSlash(rel)) }

func (e *env) mkdir(rel string) {
	e.t.Helper()
	if err := os.MkdirAll(e.path(rel), 0o755); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) write(rel, content string) {
	e.t.Helper()
	e.mkdir(filepath.Dir(rel))
	if err := os.WriteFile(e.path(rel), []byte(content), 0o644); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) eventually(what string, cond func() bool) {
	e.t.Helper()
	deadline := time.Now().Add(patience)
	for !cond() {
		if time.Now().After(deadline) {
			e.t.Fatalf("never: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// stored returns the size and verification time of row id ("" when NULL).
func (e *env) stored(id uint64) (size, verifiedAt string) {
	e.t.Helper()
	e.dbMu.Lock()
	defer e.dbMu.Unlock()
	var s, v sql.NullString
	if err := e.admin.QueryRow("SELECT session_file_size_bytes, session_storage_verified_at FROM whatsapp_accounts WHERE id = ?", id).Scan(&s, &v); err != nil {
		e.t.Fatal(err)
	}
	return s.String, v.String
}

func (e *env) waitSize(id uint64, want int) {
	e.t.Helper()
	deadline := time.Now().Add(patience)
	for {
		size, _ := e.stored(id)
		if size == strconv.Itoa(want) {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("row %d holds size %q, want %d", id, size, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// metric returns the value of a series of the runner's /metrics.
func (e *env) metric(series string) float64 {
	e.t.Helper()
	srv := httptest.NewServer(e.runner.Handler())
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL + "/metrics")
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindSubmatch(body)
	if m == nil {
		e.t.Fatalf("no series %s in:\n%s", series, body)
	}
	v, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil {
		e.t.Fatal(err)
	}
	return v
}

// findings returns the finding log lines about path.
func (e *env) findings(kind, path string) []string {
	var out []string
	for line := range strings.SplitSeq(e.logs.String(), "\n") {
		if strings.Contains(line, `"message":"finding"`) && strings.Contains(line, `"kind":"`+kind+`"`) &&
			strings.Contains(line, `"path":"`+path+`"`) {
			out = append(out, line)
		}
	}
	return out
}

func TestWatchChangeDeepDownUpdatesTheRow(t *testing.T) {
	e := newEnv(t, map[string]string{"workspace_1/session_a/Default/IndexedDB/leveldb/000001.log": "0123456789"},
		[]row{{1, 1, "a"}}, options{})
	e.waitSize(1, 10) // the rescan at start
	_, before := e.stored(1)
	e.write("workspace_1/session_a/Default/IndexedDB/leveldb/000002.log", strings.Repeat("x", 1000))
	e.waitSize(1, 1010)
	if _, after := e.stored(1); after == "" || after < before {
		t.Errorf("verified_at %q after the change, %q before", after, before)
	}
}

func TestWatchNewSessionWithLiveRowIsVerified(t *testing.T) {
	e := newEnv(t, map[string]string{"workspace_1/": ""}, []row{{1, 1, "new"}}, options{})
	// No directory yet: the rescan says missing and writes nothing.
	if size, _ := e.stored(1); size != "" {
		t.Fatalf("size %q written for a session with no directory", size)
	}
	e.mkdir("workspace_1/session_new/Default")
	e.write("workspace_1/session_new/Default/Preferences.json", "{}")
	e.write("workspace_1/session_new/creds.json", "{\"a\":1}")
	e.waitSize(1, 2+7)
}

func TestWatchRemovedSessionIsMissingAndNotWritten(t *testing.T) {
	e := newEnv(t, map[string]string{"workspace_1/session_a/creds.json": "12345", "workspace_1/session_b/creds.json": "1"},
		[]row{{1, 1, "a"}, {2, 1, "b"}}, options{})
	e.waitSize(1, 5)
	size, verified := e.stored(1)
	if err := os.RemoveAll(e.path("workspace_1/session_a")); err != nil {
		t.Fatal(err)
	}
	e.eventually("missing logged", func() bool { return len(e.findings("missing", "workspace_1/session_a")) == 1 })
	if !strings.Contains(e.findings("missing", "workspace_1/session_a")[0], `"row_ids":[1]`) {
		t.Errorf("finding line lacks the row: %s", e.findings("missing", "workspace_1/session_a")[0])
	}
	if s, v := e.stored(1); s != size || v != verified {
		t.Errorf("row of a missing session written: %s, %s (was %s, %s)", s, v, size, verified)
	}
	if got := e.metric(`sessaudit_watch_findings_total{kind="missing"}`); got != 1 {
		t.Errorf("missing findings counted %v, want 1", got)
	}
}

func TestWatchManyWritesOneMeasurement(t *testing.T) {
	e := newEnv(t, map[string]string{"workspace_1/session_a/Default/Cache/": ""}, []row{{1, 1, "a"}},
		options{debounce: time.Second})
	e.waitSize(1, 0)
	before := e.metric("sessaudit_watch_sessions_reconciled_total")
	total := 0
	for i := range 200 {
		content := strings.Repeat("y", i%7+1)
		total += len(content)
		e.write(fmt.Sprintf("workspace_1/session_a/Default/Cache/f%03d", i), content)
	}
	e.waitSize(1, total)
	e.eventually("queue drained", func() bool { return e.metric("sessaudit_watch_queue_depth") == 0 })
	if got := e.metric("sessaudit_watch_sessions_reconciled_total") - before; got != 1 {
		t.Errorf("%v measurements for one burst of writes, want 1", got)
	}
}

func TestWatchOverflowRescans(t *testing.T) {
	e := newEnv(t, map[string]string{"workspace_1/session_a/creds.json": "1"}, []row{{1, 1, "a"}}, options{})
	e.waitSize(1, 1)
	// The kernel drops events, then reports the overflow.
	e.lose.Store(true)
	e.write("workspace_1/session_a/Default/big.bin", strings.Repeat("z", 99))
	e.runner.Overflow()
	e.waitSize(1, 100)
	e.eventually("the overflow rescan counted", func() bool {
		return e.metric(`sessaudit_watch_rescans_total{reason="overflow"}`) == 1
	})
}

func TestWatchBudgetExhaustedCorrectAfterRescan(t *testing.T) {
	// Three watches: the root, the workspace and one session; the deep
	// directories of both sessions go unwatched.
	e := newEnv(t, map[string]string{
		"workspace_1/session_a/d1/d2/f": "1",
		"workspace_1/session_b/d1/d2/f": "1",
	}, []row{{1, 1, "a"}, {2, 1, "b"}}, options{maxWatches: 3, rescan: 500 * time.Millisecond})
	e.waitSize(1, 1)
	if got := e.metric("sessaudit_watch_watch_budget_exhausted_total"); got == 0 {
		t.Fatal("budget exhaustion not counted")
	}
	e.write("workspace_1/session_a/d1/d2/g", "22")
	e.write("workspace_1/session_b/d1/d2/g", "22")
	e.waitSize(1, 3)
	e.waitSize(2, 3)
	if n := strings.Count(e.logs.String(), "watch budget spent"); n != 1 {
		t.Errorf("budget exhaustion logged %d times, want once", n)
	}
}

func TestWatchOtherShardNeverReadOrWritten(t *testing.T) {
	// Workspace 2 is outside shard 1/2. Reading anything of it fails, so
	// a read would show as an unreadable finding.
	fsys := &lazyFault{}
	e := newEnv(t, map[string]string{
		"workspace_1/session_a/creds.json": "1",
		"workspace_2/session_b/creds.json": "1",
	}, []row{{1, 1, "a"}, {2, 2, "b"}}, options{shard: scanner.Shard{Index: 1, Count: 2}, fsys: fsys, rescan: 300 * time.Millisecond})
	e.waitSize(1, 1)
	e.write("workspace_2/session_b/more.json", "22")
	e.write("workspace_1/session_a/more.json", "22")
	e.waitSize(1, 3)
	rescans := e.metric(`sessaudit_watch_rescans_total{reason="interval"}`)
	e.eventually("another rescan", func() bool { return e.metric(`sessaudit_watch_rescans_total{reason="interval"}`) > rescans })
	if size, verified := e.stored(2); size != "" || verified != "" {
		t.Errorf("row of another shard written: %q, %q", size, verified)
	}
	if strings.Contains(e.logs.String(), "workspace_2") {
		t.Errorf("another shard's workspace appears in the logs:\n%s", e.logs.String())
	}
	if n := fsys.touched.Load(); n != 0 {
		t.Errorf("another shard's workspace was read %d times", n)
	}
}

// lazyFault is the host filesystem, failing and counting every open (a
// listing or a read) of a path under a workspace_2 directory. An lstat goes
// through: the audit's guard against an unmounted share looks at the paths
// of a sample of all rows, whatever their shard, without opening them.
type lazyFault struct {
	afero.OsFs
	touched atomic.Int64
}

func (f *lazyFault) check(name string) error {
	if strings.Contains(filepath.ToSlash(name), "/workspace_2") {
		f.touched.Add(1)
		return &os.PathError{Op: "open", Path: name, Err: syscall.EIO}
	}
	return nil
}

func (f *lazyFault) Open(name string) (afero.File, error) {
	if err := f.check(name); err != nil {
		return nil, err
	}
	return f.OsFs.Open(name)
}

func (f *lazyFault) OpenFile(name string, flag int, perm os.FileMode) (afero.File, error) {
	if err := f.check(name); err != nil {
		return nil, err
	}
	return f.OsFs.OpenFile(name, flag, perm)
}

func TestWatchDatabaseOutageCatchesUp(t *testing.T) {
	e := newEnv(t, map[string]string{"workspace_1/session_a/creds.json": "1"}, []row{{1, 1, "a"}}, options{viaProxy: true})
	e.waitSize(1, 1)
	e.proxy.setDown(true)
	e.write("workspace_1/session_a/more.json", "22")
	e.eventually("not ready while the database is away", func() bool { ok, _ := e.runner.Ready(); return !ok })
	if got := e.metric("sessaudit_watch_database_up"); got != 0 {
		t.Errorf("database_up %v while down", got)
	}
	// Still watching: a change during the outage is caught up too.
	e.write("workspace_1/session_a/later.json", "333")
	e.proxy.setDown(false)
	e.waitSize(1, 6)
	e.eventually("ready again", func() bool { ok, _ := e.runner.Ready(); return ok })
	e.eventually("a rescan counted when the database came back", func() bool {
		return e.metric(`sessaudit_watch_rescans_total{reason="database"}`) >= 1
	})
}

// Issue 18, item 9: a watcher whose database stopped answering (SIGSTOP;
// here a proxy that stops passing bytes) stayed ready, database_up 1, and
// said nothing, for as long as it lasted. Within the Store's Timeout of
// its check it is now not ready, database_up 0, a log line says the
// server did not answer, and it catches up once the server answers again.
func TestWatchDatabaseStopsAnswering(t *testing.T) {
	e := newEnv(t, map[string]string{"workspace_1/session_a/creds.json": "1"}, []row{{1, 1, "a"}},
		options{freezer: true, dbTimeout: 300 * time.Millisecond})
	e.waitSize(1, 1)
	e.frozen.Freeze()
	e.write("workspace_1/session_a/more.json", "22")
	e.eventually("not ready while the database does not answer", func() bool { ok, _ := e.runner.Ready(); return !ok })
	if got := e.metric("sessaudit_watch_database_up"); got != 0 {
		t.Errorf("database_up %v while the database does not answer", got)
	}
	if logs := e.logs.String(); !strings.Contains(logs, "did not answer within 300ms") {
		t.Errorf("no log line says the database did not answer:\n%s", logs)
	}
	e.frozen.Thaw()
	e.waitSize(1, 3)
	e.eventually("ready again", func() bool { ok, _ := e.runner.Ready(); return ok })
}

// Issue 18, item 11: a watcher whose root was replaced (or remounted)
// stayed ready with its watches on the old tree: events 0, rescans never
// placed them again. It now drops them, is not ready while the root is
// gone, rescans the new tree when it is back, and hears its changes.
func TestWatchRootReplaced(t *testing.T) {
	e := newEnv(t, map[string]string{"workspace_1/session_a/creds.json": "1"}, []row{{1, 1, "a"}}, options{})
	e.waitSize(1, 1)
	if err := os.Rename(e.root, e.root+".old"); err != nil {
		t.Fatal(err)
	}
	e.eventually("not ready while the root is gone", func() bool { ok, _ := e.runner.Ready(); return !ok })
	e.write("workspace_1/session_a/creds.json", "1")
	e.eventually("a rescan of the new root", func() bool {
		return e.metric(`sessaudit_watch_rescans_total{reason="root"}`) >= 1
	})
	e.eventually("ready again", func() bool { ok, _ := e.runner.Ready(); return ok })
	e.write("workspace_1/session_a/more.json", "22")
	e.waitSize(1, 3)
	if logs := e.logs.String(); !strings.Contains(logs, "the root cannot be opened") || !strings.Contains(logs, "the root was replaced") {
		t.Errorf("the logs do not say what happened to the root:\n%s", logs)
	}
}

// cutProxy forwards TCP connections to the database and can cut them all
// and refuse new ones, as a database restart or a network cut does.
type cutProxy struct {
	dsn    string
	target string
	ln     net.Listener

	mu    sync.Mutex
	down  bool
	conns map[net.Conn]struct{}
}

func newCutProxy(t *testing.T, dsn string) *cutProxy {
	t.Helper()
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{target: cfg.Addr, ln: ln, conns: map[net.Conn]struct{}{}}
	cfg.Addr = ln.Addr().String()
	cfg.Net = "tcp"
	p.dsn = cfg.FormatDSN()
	go p.accept()
	t.Cleanup(func() {
		ln.Close()
		p.setDown(true)
	})
	return p
}

func (p *cutProxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		down := p.down
		p.mu.Unlock()
		if down {
			c.Close()
			continue
		}
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns[c], p.conns[s] = struct{}{}, struct{}{}
		p.mu.Unlock()
		go pipe(c, s)
		go pipe(s, c)
	}
}

func pipe(dst, src net.Conn) {
	_, _ = io.Copy(dst, src)
	dst.Close()
	src.Close()
}

func (p *cutProxy) setDown(down bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = down
	if down {
		for c := range p.conns {
			c.Close()
		}
		clear(p.conns)
	}
}

// syncBuffer is a log sink safe for concurrent writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
