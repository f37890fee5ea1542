package metrics_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"sessaudit/cmd/internal/metrics"
	"sessaudit/cmd/internal/version"
)

// request is what a Pushgateway was sent.
type request struct {
	method, path, auth, body string
}

// recorder is an HTTP server that answers as a Pushgateway does and keeps
// what it was sent.
func recorder(t *testing.T, status int) (*httptest.Server, func() []request) {
	t.Helper()
	var mu sync.Mutex
	var got []request
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, request{r.Method, r.URL.Path, r.Header.Get("Authorization"), string(body)})
		mu.Unlock()
		w.WriteHeader(status)
	}))
	t.Cleanup(srv.Close)
	return srv, func() []request { mu.Lock(); defer mu.Unlock(); return append([]request(nil), got...) }
}

// A successful run replaces its group (PUT), a failed one only the series
// it has (POST), so the counts and the last success of the group's last
// successful run stay; a shard's group is keyed by shard (base64 in the
// path, since I/N holds a slash) and its series carry no shard label of
// their own (the Pushgateway adds the grouping labels).
func TestPushReplacesOnSuccessAddsOnFailure(t *testing.T) {
	srv, sent := recorder(t, http.StatusOK)
	pg, err := metrics.ParsePushgateway(srv.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	ok := successRun()
	ok.Shard = "0/4"
	ok.Build = version.Build{Version: "v1.2.0", Revision: "abc", GoVersion: "go1.26.8"}
	if err := pg.Push(context.Background(), ok); err != nil {
		t.Fatal(err)
	}
	failed := failedRun(finished.Add(24 * time.Hour))
	failed.Shard = "0/4"
	if err := pg.Push(context.Background(), failed); err != nil {
		t.Fatal(err)
	}
	whole := successRun()
	if err := pg.Push(context.Background(), whole); err != nil {
		t.Fatal(err)
	}
	reqs := sent()
	if len(reqs) != 3 {
		t.Fatalf("%d requests, want 3", len(reqs))
	}
	const group = "/metrics/job/sessaudit/shard@base64/MC80" // base64url("0/4")
	for i, want := range []struct{ method, path string }{{"PUT", group}, {"POST", group}, {"PUT", "/metrics/job/sessaudit"}} {
		if reqs[i].method != want.method || reqs[i].path != want.path {
			t.Errorf("push %d: %s %s, want %s %s", i, reqs[i].method, reqs[i].path, want.method, want.path)
		}
		if strings.Contains(reqs[i].body, "shard=") {
			t.Errorf("push %d carries a shard label of its own, which the Pushgateway refuses:\n%s", i, reqs[i].body)
		}
	}
	for _, want := range []string{"sessaudit_last_success_timestamp_seconds", "sessaudit_sessions", "sessaudit_findings", `sessaudit_build_info{goversion="go1.26.8",revision="abc",version="v1.2.0"} 1`} {
		if !strings.Contains(reqs[0].body, want) {
			t.Errorf("the successful push lacks %s:\n%s", want, reqs[0].body)
		}
	}
	for _, absent := range []string{"sessaudit_last_success_timestamp_seconds", "sessaudit_sessions", "sessaudit_findings"} {
		if strings.Contains(reqs[1].body, absent) {
			t.Errorf("the failed push sends %s, which would replace the last success's:\n%s", absent, reqs[1].body)
		}
	}
	if !strings.Contains(reqs[1].body, "sessaudit_last_run_success 0") {
		t.Errorf("the failed push does not say it failed:\n%s", reqs[1].body)
	}
}

// A password in the URL becomes basic authentication and appears in no
// message; a URL that names no http(s) host is refused before the run.
func TestPushgatewayURL(t *testing.T) {
	srv, sent := recorder(t, http.StatusInternalServerError)
	withAuth := strings.Replace(srv.URL, "http://", "http://pusher:s3cret@", 1)
	pg, err := metrics.ParsePushgateway(withAuth, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = pg.Push(context.Background(), successRun())
	if err == nil {
		t.Fatal("a Pushgateway answering 500 is not an error")
	}
	if strings.Contains(err.Error(), "s3cret") {
		t.Errorf("the password is in the error: %v", err)
	}
	if reqs := sent(); len(reqs) != 1 || reqs[0].auth != "Basic cHVzaGVyOnMzY3JldA==" {
		t.Errorf("requests %+v: want one, with basic authentication", reqs)
	}
	for _, bad := range []string{"pushgateway:9091", "ftp://x:9091", "http://", "http://user:s3cret@[::1", "://"} {
		_, err := metrics.ParsePushgateway(bad, nil)
		if err == nil {
			t.Errorf("%q accepted", bad)
		} else if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%q: the password is in the error: %v", bad, err)
		}
	}
}

// TestRealPushgateway pushes the runs of two shards, then a failed run of
// one, to a real Pushgateway (Debian's prometheus-pushgateway, which CI
// installs) and reads back what Prometheus would scrape from it: the series
// deploy/prometheus/sessaudit-rules.test.yml feeds the alerts are shaped
// like these (job="sessaudit", shard="I/N", instance="").
func TestRealPushgateway(t *testing.T) {
	bin, err := exec.LookPath("prometheus-pushgateway")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("prometheus-pushgateway is not installed; .ci/run installs it (Debian package prometheus-pushgateway)")
		}
		t.Skip("prometheus-pushgateway not installed (apt-get install prometheus-pushgateway); CI runs this test")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	cmd := exec.Command(bin, "--web.listen-address="+addr)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	base := "http://" + addr
	for i := 0; ; i++ {
		resp, err := http.Get(base + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if i == 100 {
			t.Fatalf("the Pushgateway at %s is not ready: %v", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	pg, err := metrics.ParsePushgateway(base, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i, shard := range []string{"0/2", "1/2"} {
		run := successRun()
		run.Shard = shard
		run.Report.Summary.Sessions = 10 + i
		if err := pg.Push(ctx, run); err != nil {
			t.Fatal(err)
		}
	}
	failed := failedRun(finished.Add(24 * time.Hour))
	failed.Shard = "1/2"
	if err := pg.Push(ctx, failed); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	text := string(body)
	last := fmt.Sprint(float64(finished.UnixMilli()) / 1e3)
	for _, want := range []string{
		`sessaudit_last_run_success{instance="",job="sessaudit",shard="0/2"} 1`,
		`sessaudit_last_run_success{instance="",job="sessaudit",shard="1/2"} 0`,
		`sessaudit_sessions{instance="",job="sessaudit",shard="0/2"} 10`,
		// the failed shard keeps the counts and the time of its last success
		`sessaudit_sessions{instance="",job="sessaudit",shard="1/2"} 11`,
		`sessaudit_last_success_timestamp_seconds{instance="",job="sessaudit",shard="1/2"} ` + strings.Replace(last, "e+09", "e+09", 1),
		`sessaudit_findings{instance="",job="sessaudit",kind="missing",shard="0/2"} 1`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the Pushgateway does not serve %s; it serves:\n%s", want, grep(text, "sessaudit_"))
		}
	}
}

// grep keeps the lines of text that start with prefix.
func grep(text, prefix string) string {
	var b strings.Builder
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(line, prefix) {
			b.WriteString(line + "\n")
		}
	}
	return b.String()
}
