package cli_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"

	"sessaudit/cmd/internal/cli"
)

// pushed is what a Pushgateway stand-in was sent: method, path and body of
// each request.
type pushed struct{ method, path, body string }

func pushgateway(t *testing.T) (string, func() []pushed) {
	t.Helper()
	var mu sync.Mutex
	var got []pushed
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, pushed{r.Method, r.URL.Path, string(b)})
		mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	return srv.URL, func() []pushed { mu.Lock(); defer mu.Unlock(); return append([]pushed(nil), got...) }
}

// The CronJob's audit: a shard run pushes its metrics, with the binary's
// build, to the shard's group of job sessaudit; a failed one pushes too,
// and a URL that is no http(s) URL is refused before anything is written.
func TestAuditPushgateway(t *testing.T) {
	f := newFixture(t)
	url, sent := pushgateway(t)
	res, _ := f.audit(t, "--shard", "1/2", "--pushgateway", url)
	if res.code != cli.ExitFindings {
		t.Fatalf("exit %d\n%s", res.code, res.stderr)
	}
	res = f.run(t, "audit", "--root", f.root+"/gone", "--path-prefix", "/mnt/efs", "--dsn", f.dsn, "--shard", "1/2", "--pushgateway", url)
	if res.code != cli.ExitFailed {
		t.Fatalf("exit %d, want 2", res.code)
	}
	reqs := sent()
	if len(reqs) != 2 {
		t.Fatalf("%d pushes, want 2", len(reqs))
	}
	const group = "/metrics/job/sessaudit/shard@base64/MS8y" // base64url("1/2")
	if reqs[0].method != http.MethodPut || reqs[0].path != group || !strings.Contains(reqs[0].body, "sessaudit_build_info{") ||
		!strings.Contains(reqs[0].body, "sessaudit_last_run_success 1") {
		t.Errorf("the audit pushed %s %s:\n%s", reqs[0].method, reqs[0].path, reqs[0].body)
	}
	if reqs[1].method != http.MethodPost || reqs[1].path != group || !strings.Contains(reqs[1].body, "sessaudit_last_run_success 0") {
		t.Errorf("the failed audit pushed %s %s:\n%s", reqs[1].method, reqs[1].path, reqs[1].body)
	}

	before := dump(t, f.dsn)
	res = f.run(t, "audit", "--root", f.root, "--path-prefix", "/mnt/efs", "--dsn", f.dsn, "--pushgateway", "pushgateway:9091")
	if res.code != cli.ExitFailed || !strings.Contains(res.stderr, "--pushgateway") {
		t.Errorf("exit %d, stderr %q: want 2 naming --pushgateway", res.code, res.stderr)
	}
	if after := dump(t, f.dsn); !reflect.DeepEqual(before, after) {
		t.Error("rows changed although the audit refused its --pushgateway")
	}
}
