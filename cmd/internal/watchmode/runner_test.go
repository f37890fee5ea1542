package watchmode

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"sessaudit/reconcile"
	"sessaudit/scanner/watch"
)

// patience bounds the wait for something that must happen; it fails the
// test, it measures nothing.
const patience = 10 * time.Second

// fakeEvents is an Events that delivers nothing by itself.
type fakeEvents struct {
	mu      sync.Mutex
	resyncs int
	fail    chan error // Run returns what is sent here
}

func newFakeEvents() *fakeEvents { return &fakeEvents{fail: make(chan error, 1)} }

func (f *fakeEvents) Run(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case err := <-f.fail:
		return err
	}
}

func (f *fakeEvents) Resync(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.resyncs++
	return nil
}

func (f *fakeEvents) Stats() watch.Stats { return watch.Stats{Watches: 3, Budget: 10, Events: 7} }

// fakeSide is a SessionReconciler, Rescanner and Database at once, whose
// answers the test sets.
type fakeSide struct {
	mu         sync.Mutex
	down       bool
	reconciled map[string]int
	rescans    int
	findings   []reconcile.Finding // what every reconcile and rescan reports
	block      chan struct{}       // when set, Reconcile waits for it
	inFlight   chan struct{}       // signalled when Reconcile starts
	ctxErr     error               // the work context's error when Reconcile returned
}

func newFakeSide() *fakeSide {
	return &fakeSide{reconciled: map[string]int{}, inFlight: make(chan struct{}, 100)}
}

var errDown = errors.New("fake: database down")

func (f *fakeSide) Reconcile(ctx context.Context, key string) (Result, error) {
	f.inFlight <- struct{}{}
	f.mu.Lock()
	block := f.block
	f.mu.Unlock()
	if block != nil {
		select {
		case <-block:
		case <-ctx.Done():
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ctxErr = ctx.Err()
	if f.down {
		return Result{}, errDown
	}
	f.reconciled[key]++
	return Result{Findings: f.findings, RowsWritten: 1}, nil
}

func (f *fakeSide) Rescan(context.Context) (Result, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return Result{}, errDown
	}
	f.rescans++
	return Result{Findings: f.findings, RowsWritten: 2}, nil
}

func (f *fakeSide) Check(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return errDown
	}
	return nil
}

func (f *fakeSide) Reconnect(ctx context.Context) error { return f.Check(ctx) }

func (f *fakeSide) setDown(down bool) {
	f.mu.Lock()
	f.down = down
	f.mu.Unlock()
}

func (f *fakeSide) get() (rescans int, reconciled map[string]int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	m := map[string]int{}
	for k, v := range f.reconciled {
		m[k] = v
	}
	return f.rescans, m
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

type run struct {
	r      *Runner
	events *fakeEvents
	side   *fakeSide
	logs   *syncBuffer
	cancel context.CancelFunc
	done   chan error
}

func start(t *testing.T, side *fakeSide, cfg Config) *run {
	t.Helper()
	logs := &syncBuffer{}
	cfg.Log = zerolog.New(logs)
	if cfg.Debounce == 0 {
		cfg.Debounce = 20 * time.Millisecond
	}
	if cfg.CheckInterval == 0 {
		cfg.CheckInterval = 10 * time.Millisecond
	}
	x := &run{r: New(cfg, side, side, side), events: newFakeEvents(), side: side, logs: logs, done: make(chan error, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	x.cancel = cancel
	go func() { x.done <- x.r.Run(ctx, x.events) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-x.done:
		case <-time.After(patience):
			t.Error("Run did not return after cancel")
		}
	})
	return x
}

// eventually waits until cond holds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(patience)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("never: %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestRunnerRescansAtStartThenReady(t *testing.T) {
	x := start(t, newFakeSide(), Config{})
	eventually(t, "ready", func() bool { ok, _ := x.r.Ready(); return ok })
	if n, _ := x.side.get(); n != 1 {
		t.Fatalf("rescans = %d, want 1", n)
	}
	x.events.mu.Lock()
	resyncs := x.events.resyncs
	x.events.mu.Unlock()
	if resyncs != 1 {
		t.Fatalf("resyncs = %d, want 1 (watches placed before the rescan reads)", resyncs)
	}
}

func TestRunnerReconcilesTouchedSessionsOnce(t *testing.T) {
	x := start(t, newFakeSide(), Config{Debounce: 200 * time.Millisecond})
	for range 100 {
		x.r.Touched("workspace_1/session_a")
	}
	x.r.Touched("workspace_1/session_b")
	eventually(t, "both reconciled", func() bool {
		_, m := x.side.get()
		return m["workspace_1/session_a"] == 1 && m["workspace_1/session_b"] == 1
	})
	if _, m := x.side.get(); len(m) != 2 || m["workspace_1/session_a"] != 1 {
		t.Fatalf("reconciled %v, want each session once", m)
	}
}

func TestRunnerOverflowRescans(t *testing.T) {
	x := start(t, newFakeSide(), Config{})
	eventually(t, "first rescan", func() bool { n, _ := x.side.get(); return n == 1 })
	x.r.Overflow()
	eventually(t, "rescan after the overflow", func() bool { n, _ := x.side.get(); return n == 2 })
	eventually(t, "the overflow rescan counted", func() bool {
		return strings.Contains(scrape(t, x.r), `sessaudit_watch_rescans_total{reason="overflow"} 1`)
	})
}

func TestRunnerDatabaseOutage(t *testing.T) {
	side := newFakeSide()
	x := start(t, side, Config{})
	eventually(t, "ready", func() bool { ok, _ := x.r.Ready(); return ok })

	side.setDown(true)
	x.r.Touched("workspace_1/session_a")
	eventually(t, "not ready while the database is down", func() bool { ok, _ := x.r.Ready(); return !ok })
	if !strings.Contains(scrape(t, x.r), "sessaudit_watch_database_up 0") {
		t.Error("database_up is not 0 while down")
	}

	side.setDown(false)
	eventually(t, "a rescan when the database is back", func() bool { n, _ := side.get(); return n == 2 })
	eventually(t, "ready again", func() bool { ok, _ := x.r.Ready(); return ok })
	// The session touched during the outage is reconciled after it.
	eventually(t, "the session touched meanwhile reconciled", func() bool {
		_, m := side.get()
		return m["workspace_1/session_a"] == 1
	})
	eventually(t, "the rescan after the outage counted", func() bool {
		return strings.Contains(scrape(t, x.r), `sessaudit_watch_rescans_total{reason="database"} 1`)
	})
}

func TestRunnerLogsEachFindingOnce(t *testing.T) {
	side := newFakeSide()
	ws := uint64(1)
	side.findings = []reconcile.Finding{
		{Kind: reconcile.Missing, Path: "workspace_1/session_a", WorkspaceID: &ws, RowIDs: []uint64{7}},
	}
	x := start(t, side, Config{})
	eventually(t, "first rescan", func() bool { n, _ := side.get(); return n == 1 })
	x.r.Touched("workspace_1/session_a")
	eventually(t, "reconciled", func() bool { _, m := side.get(); return m["workspace_1/session_a"] == 1 })
	x.r.Overflow()
	eventually(t, "second rescan", func() bool { n, _ := side.get(); return n == 2 })
	// Logged when it appeared (first rescan), not by the reconcile or the
	// rescan that found it again.
	lines := findingLines(x.logs.String())
	if len(lines) != 1 {
		t.Fatalf("finding lines: %q, want one", lines)
	}
	for _, want := range []string{`"kind":"missing"`, `"path":"workspace_1/session_a"`, `"row_ids":[7]`} {
		if !strings.Contains(lines[0], want) {
			t.Errorf("finding line %s lacks %s", lines[0], want)
		}
	}
	if !strings.Contains(scrape(t, x.r), `sessaudit_watch_findings_total{kind="missing"} 1`) {
		t.Error("the finding is not counted once")
	}

	// Gone, then back: logged again.
	side.mu.Lock()
	side.findings = nil
	side.mu.Unlock()
	x.r.Touched("workspace_1/session_a")
	eventually(t, "reconciled clean", func() bool { _, m := side.get(); return m["workspace_1/session_a"] == 2 })
	side.mu.Lock()
	side.findings = []reconcile.Finding{{Kind: reconcile.Missing, Path: "workspace_1/session_a", RowIDs: []uint64{7}}}
	side.mu.Unlock()
	x.r.Touched("workspace_1/session_a")
	eventually(t, "logged again", func() bool { return len(findingLines(x.logs.String())) == 2 })
}

// A row left unverified is logged at warn when it appears, and counted in
// sessaudit_rows_unverified while it stands, as the audit's metrics file
// counts it (issue 17).
func TestRunnerCountsUnverifiedRows(t *testing.T) {
	side := newFakeSide()
	side.findings = []reconcile.Finding{
		{Kind: reconcile.Recent, Path: "workspace_1/session_a", RowIDs: []uint64{7}, Detail: "changed while it was measured"},
		{Kind: reconcile.Unverified, Path: "workspace_1/session_a", RowIDs: []uint64{7}, Detail: "not verified for 2d 1h: recent: changed while it was measured"},
		{Kind: reconcile.Unverified, Path: "workspace_2/session_b", RowIDs: []uint64{8}, Detail: "never verified: unreadable"},
	}
	x := start(t, side, Config{})
	eventually(t, "first rescan", func() bool { n, _ := side.get(); return n == 1 })
	if body := scrape(t, x.r); !strings.Contains(body, "\nsessaudit_rows_unverified 2\n") {
		t.Errorf("/metrics lacks sessaudit_rows_unverified 2:\n%s", body)
	}
	lines := findingLines(x.logs.String())
	if len(lines) != 2 {
		t.Fatalf("finding lines %q, want the two unverified rows", lines)
	}
	for _, l := range lines {
		if !strings.Contains(l, `"level":"warn"`) || !strings.Contains(l, `"kind":"unverified"`) {
			t.Errorf("finding line %s: want an unverified row at warn", l)
		}
	}
	// Session a is verified at last: it no longer counts.
	side.mu.Lock()
	side.findings = nil
	side.mu.Unlock()
	x.r.Touched("workspace_1/session_a")
	eventually(t, "reconciled", func() bool { _, m := side.get(); return m["workspace_1/session_a"] == 1 })
	if body := scrape(t, x.r); !strings.Contains(body, "\nsessaudit_rows_unverified 1\n") {
		t.Errorf("/metrics lacks sessaudit_rows_unverified 1 once session a is verified:\n%s", body)
	}
}

func findingLines(logs string) []string {
	var out []string
	for line := range strings.SplitSeq(logs, "\n") {
		if strings.Contains(line, `"message":"finding"`) {
			out = append(out, line)
		}
	}
	return out
}

func TestRunnerStopLetsTheReconcileInFlightFinish(t *testing.T) {
	side := newFakeSide()
	side.block = make(chan struct{})
	x := start(t, side, Config{StopGrace: time.Hour})
	eventually(t, "ready", func() bool { ok, _ := x.r.Ready(); return ok })
	x.r.Touched("workspace_1/session_a")
	<-side.inFlight
	x.cancel()
	// Run waits for the reconcile in flight, whose context is still live
	// within the grace period: its write commits.
	select {
	case <-x.done:
		t.Fatal("Run returned with a reconcile in flight")
	case <-time.After(50 * time.Millisecond):
	}
	close(side.block)
	select {
	case err := <-x.done:
		if err != nil {
			t.Fatalf("Run = %v, want nil after a stop", err)
		}
	case <-time.After(patience):
		t.Fatal("Run did not return")
	}
	side.mu.Lock()
	defer side.mu.Unlock()
	if side.ctxErr != nil || side.reconciled["workspace_1/session_a"] != 1 {
		t.Fatalf("reconcile in flight ended with %v, %d reconciles; want it finished", side.ctxErr, side.reconciled["workspace_1/session_a"])
	}
	x.done <- nil // for the cleanup
}

func TestRunnerStopCancelsAfterTheGrace(t *testing.T) {
	side := newFakeSide()
	side.block = make(chan struct{}) // never closed: only cancelling ends it
	x := start(t, side, Config{StopGrace: time.Millisecond})
	eventually(t, "ready", func() bool { ok, _ := x.r.Ready(); return ok })
	x.r.Touched("workspace_1/session_a")
	<-side.inFlight
	x.cancel()
	if err := <-x.done; err != nil {
		t.Fatalf("Run = %v", err)
	}
	side.mu.Lock()
	defer side.mu.Unlock()
	if !errors.Is(side.ctxErr, context.Canceled) {
		t.Fatalf("the reconcile in flight saw %v after the grace, want context.Canceled", side.ctxErr)
	}
	x.done <- nil
}

func TestRunnerEventSourceFailure(t *testing.T) {
	x := start(t, newFakeSide(), Config{})
	x.events.fail <- errors.New("inotify broke")
	select {
	case err := <-x.done:
		if err == nil || !strings.Contains(err.Error(), "inotify broke") {
			t.Fatalf("Run = %v, want the event source's error", err)
		}
	case <-time.After(patience):
		t.Fatal("Run did not return")
	}
	x.done <- nil
}

func scrape(t *testing.T, r *Runner) string {
	t.Helper()
	srv := httptest.NewServer(r.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(body)
}

func TestEndpoints(t *testing.T) {
	side := newFakeSide()
	side.setDown(true) // no rescan can happen: not ready
	x := start(t, side, Config{Labels: map[string]string{"shard": "1/4"}})
	srv := httptest.NewServer(x.r.Handler())
	defer srv.Close()
	status := func(path string) int {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := status("/healthz"); got != http.StatusOK {
		t.Errorf("/healthz = %d", got)
	}
	if got := status("/readyz"); got != http.StatusServiceUnavailable {
		t.Errorf("/readyz before the first rescan = %d, want 503", got)
	}
	side.setDown(false)
	eventually(t, "ready", func() bool { return status("/readyz") == http.StatusOK })

	body := scrape(t, x.r)
	for _, want := range []string{
		`sessaudit_watch_events_total{shard="1/4"} 7`,
		`sessaudit_watch_watches{shard="1/4"} 3`,
		`sessaudit_watch_watch_budget{shard="1/4"} 10`,
		`sessaudit_watch_watch_budget_exhausted_total{shard="1/4"} 0`,
		`sessaudit_watch_queue_depth{shard="1/4"} 0`,
		`sessaudit_watch_database_up{shard="1/4"} 1`,
		`sessaudit_watch_findings_total{kind="orphan",shard="1/4"} 0`,
		`sessaudit_rows_unverified{shard="1/4"} 0`,
		`sessaudit_watch_sessions_reconciled_total{shard="1/4"}`,
		`sessaudit_watch_rows_written_total{shard="1/4"} 2`,
		`sessaudit_watch_last_rescan_timestamp_seconds{shard="1/4"}`,
		`sessaudit_watch_last_rescan_duration_seconds{shard="1/4"}`,
		"process_resident_memory_bytes",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	promtoolCheck(t, body)
}

// promtoolCheck runs Prometheus' own linter on a scrape. CI installs
// promtool (Debian's prometheus package).
func promtoolCheck(t *testing.T, body string) {
	t.Helper()
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("promtool is not installed; .ci/run installs it (Debian package prometheus)")
		}
		t.Skip("promtool not installed (apt-get install prometheus); CI runs this check")
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(body)
	out, err := cmd.CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}
