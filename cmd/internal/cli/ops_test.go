package cli_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/creack/pty"
	"github.com/go-sql-driver/mysql"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/spf13/afero"

	"sessaudit/cmd/internal/cli"
	"sessaudit/db/dbtest"
)

// runEnv runs args with the environment vars and stderr as given.
func runEnv(t *testing.T, fsys afero.Fs, vars map[string]string, stderr io.Writer, args ...string) result {
	t.Helper()
	var stdout, errBuf bytes.Buffer
	if stderr == nil {
		stderr = &errBuf
	}
	code := cli.Run(context.Background(), args, cli.Env{Stdout: &stdout, Stderr: stderr, Fs: fsys,
		Getenv: func(k string) string { return vars[k] }})
	return result{code, stdout.String(), errBuf.String()}
}

func sampleShare(t *testing.T) string {
	t.Helper()
	schema, err := dbtest.SchemaPath()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(filepath.Dir(schema), "sample", "share")
}

func TestEnvBinding(t *testing.T) {
	share := sampleShare(t)
	t.Run("every flag from SESSAUDIT_<FLAG>", func(t *testing.T) {
		res := runEnv(t, nil, map[string]string{"SESSAUDIT_ROOT": share, "SESSAUDIT_FORMAT": "json",
			"SESSAUDIT_WORKSPACE": "1,2", "SESSAUDIT_IO_TIMEOUT": "10s", "SESSAUDIT_LOG_LEVEL": "error"}, nil, "scan")
		if res.code == cli.ExitFailed || !strings.Contains(res.stdout, `"workspace_1/session_alice"`) || strings.Contains(res.stdout, "workspace_3/") {
			t.Errorf("scan from the environment: exit %d\n%s%s", res.code, res.stdout, res.stderr)
		}
	})
	t.Run("the command line wins", func(t *testing.T) {
		res := runEnv(t, nil, map[string]string{"SESSAUDIT_ROOT": "/nonexistent", "SESSAUDIT_FORMAT": "text",
			"SESSAUDIT_WORKSPACE": "3"}, nil, "scan", "--root", share, "--format", "json", "--workspace", "1")
		if res.code == cli.ExitFailed || !strings.Contains(res.stdout, `"workspace_1/session_alice"`) || strings.Contains(res.stdout, "workspace_3/") {
			t.Errorf("flags and environment: exit %d\n%s%s", res.code, res.stdout, res.stderr)
		}
	})
	t.Run("a bad value names the variable", func(t *testing.T) {
		res := runEnv(t, nil, map[string]string{"SESSAUDIT_ROOT": share, "SESSAUDIT_WORKERS": "lots"}, nil, "scan")
		want := `sessaudit scan: environment variable SESSAUDIT_WORKERS: "lots": want a whole number; see 'sessaudit scan -h'` + "\n"
		if res.code != cli.ExitFailed || res.stderr != want {
			t.Errorf("exit %d, stderr %q, want 2 and %q", res.code, res.stderr, want)
		}
	})
	t.Run("help says so", func(t *testing.T) {
		for _, args := range [][]string{{"help"}, {"audit", "-h"}, {"scan", "-h"}, {"schema", "check", "-h"}} {
			res := runEnv(t, nil, nil, nil, args...)
			if !strings.Contains(res.stdout, "SESSAUDIT_<FLAG>") || !strings.Contains(res.stdout, "command line wins") {
				t.Errorf("%v: the help does not tell of SESSAUDIT_<FLAG> and that flags win:\n%s", args, res.stdout)
			}
		}
	})
}

func TestVersion(t *testing.T) {
	for _, arg := range []string{"version", "--version"} {
		res := runEnv(t, nil, nil, nil, arg)
		if res.code != cli.ExitClean || !strings.HasPrefix(res.stdout, "sessaudit ") || !strings.Contains(res.stdout, "\ngo: go1.") {
			t.Errorf("%s: exit %d\n%s%s", arg, res.code, res.stdout, res.stderr)
		}
	}
	if res := runEnv(t, nil, nil, nil, "version", "extra"); res.code != cli.ExitFailed {
		t.Errorf("version extra: exit %d, want 2", res.code)
	}
}

// laravelSecret is a password no output may contain.
const laravelSecret = "Lv-8q!Zr#secret%pw"

// laravelEnv writes a Laravel .env for the database of dsn, with user and
// password, and returns its path.
func laravelEnv(t *testing.T, dsn, user, password string) string {
	t.Helper()
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	host, port, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		t.Fatal(err)
	}
	env := fmt.Sprintf("APP_NAME=WhatsApp\nAPP_ENV=production\n\nDB_CONNECTION=mariadb\nDB_HOST=%s\nDB_PORT=%s\n"+
		"DB_DATABASE=%s\nDB_USERNAME=%s\nDB_PASSWORD='%s'\n", host, port, cfg.DBName, user, password)
	path := filepath.Join(t.TempDir(), ".env")
	if err := os.WriteFile(path, []byte(env), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// passwordUser returns a user of the database of dsn identified by
// laravelSecret: on MariaDB one made for the test, on the embedded server
// (which takes any password) the DSN's own.
func passwordUser(t *testing.T, dsn string) string {
	t.Helper()
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	if dbtest.Backend() == "embedded" {
		return cfg.User
	}
	user := "sessaudit_lv_" + cfg.DBName[len(cfg.DBName)-8:]
	account := "'" + user + "'@'%'"
	dbtest.Exec(t, dsn, fmt.Sprintf("CREATE USER %s IDENTIFIED BY '%s';\nGRANT ALL PRIVILEGES ON `%s`.* TO %s;",
		account, laravelSecret, cfg.DBName, account))
	t.Cleanup(func() {
		if _, err := open(t, dsn).Exec("DROP USER IF EXISTS " + account); err != nil {
			t.Errorf("drop user %s: %v", account, err)
		}
	})
	return user
}

// TestAuditFromLaravelEnv runs an audit configured only by the
// application's .env, with a password that must not show anywhere.
func TestAuditFromLaravelEnv(t *testing.T) {
	f := newFixture(t)
	user := passwordUser(t, f.dsn)
	envFile := laravelEnv(t, f.dsn, user, laravelSecret)
	args := []string{"audit", "--root", f.root, "--laravel-env", envFile, "--format", "json", "--log-level", "debug"}

	res := f.run(t, args...)
	if res.code != cli.ExitFindings || !strings.Contains(res.stdout, `"rows_written": 2`) {
		t.Fatalf("audit by --laravel-env: exit %d, want 1 with 2 rows written\n%s\n%s", res.code, res.stdout, res.stderr)
	}
	if strings.Contains(res.stdout+res.stderr, laravelSecret) {
		t.Error("the password shows in the output")
	}

	t.Run("--dsn wins", func(t *testing.T) {
		bad := filepath.Join(t.TempDir(), ".env")
		os.WriteFile(bad, []byte("DB_CONNECTION=sqlite\n"), 0o600)
		res := f.run(t, "audit", "--root", f.root, "--dsn", f.dsn, "--laravel-env", bad, "--dry-run", "--log-level", "error")
		if res.code != cli.ExitFindings {
			t.Errorf("--dsn with a bad --laravel-env: exit %d, want 1\n%s", res.code, res.stderr)
		}
	})
	t.Run("not mysql", func(t *testing.T) {
		bad := filepath.Join(t.TempDir(), ".env")
		os.WriteFile(bad, []byte("DB_CONNECTION=pgsql\nDB_DATABASE=app\nDB_USERNAME=u\nDB_PASSWORD='"+laravelSecret+"'\n"), 0o600)
		res := f.run(t, "audit", "--root", f.root, "--laravel-env", bad)
		if res.code != cli.ExitFailed || !strings.Contains(res.stderr, `DB_CONNECTION="pgsql"`) || strings.Contains(res.stderr, laravelSecret) {
			t.Errorf("exit %d, stderr %q", res.code, res.stderr)
		}
	})
	t.Run("wrong password", func(t *testing.T) {
		if dbtest.Backend() == "embedded" {
			t.Skip("the embedded server accepts any password; run with SESSAUDIT_TEST_MYSQL_DSN")
		}
		wrong := laravelEnv(t, f.dsn, user, laravelSecret+"-not")
		res := f.run(t, "audit", "--root", f.root, "--laravel-env", wrong, "--log-level", "debug")
		if res.code != cli.ExitFailed || !strings.Contains(strings.ToLower(res.stderr), "access denied") {
			t.Errorf("exit %d, stderr %q: want 2 and access denied", res.code, res.stderr)
		}
		if strings.Contains(res.stdout+res.stderr, laravelSecret) {
			t.Error("the password shows in the output")
		}
	})
}

// metricValues parses a metrics file into "name{labels}" -> value.
func metricValues(t *testing.T, path string) map[string]float64 {
	t.Helper()
	file, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(file)
	if err != nil {
		t.Fatalf("%s is not the text format: %v", path, err)
	}
	out := map[string]float64{}
	for name, mf := range families {
		for _, m := range mf.GetMetric() {
			key := name
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			if len(labels) > 0 {
				key += "{" + strings.Join(labels, ",") + "}"
			}
			out[key] = m.GetGauge().GetValue()
		}
	}
	return out
}

func TestAuditMetricsFile(t *testing.T) {
	f := newFixture(t)
	path := filepath.Join(t.TempDir(), "sessaudit.prom")
	res, rep := f.audit(t, "--metrics-file", path)
	if res.code != cli.ExitFindings {
		t.Fatalf("exit %d\n%s", res.code, res.stderr)
	}
	m := metricValues(t, path)
	s := rep.Summary
	for key, want := range map[string]float64{
		"sessaudit_last_run_success":                        1,
		"sessaudit_sessions":                                float64(s.Sessions),
		"sessaudit_bytes{type=metered}":                     float64(s.MeteredBytes),
		"sessaudit_rows_written":                            float64(s.RowsWritten),
		"sessaudit_findings{kind=orphan}":                   float64(s.Outcomes["orphan"]),
		"sessaudit_findings{kind=conflict}":                 float64(s.Outcomes["conflict"]),
		"sessaudit_instance_live_rows{assigned_instance=0}": float64(s.Instances[0].Rows),
	} {
		if got, ok := m[key]; !ok || got != want {
			t.Errorf("%s = %v (present %v), want %v", key, got, ok, want)
		}
	}
	if m["sessaudit_filesystem_calls"] < float64(s.Files) {
		t.Errorf("sessaudit_filesystem_calls = %v for %d files", m["sessaudit_filesystem_calls"], s.Files)
	}
	lastSuccess := m["sessaudit_last_success_timestamp_seconds"]

	// A run that fails (the root is gone) still writes the file: success
	// 0, the last success carried over.
	res = f.run(t, "audit", "--root", filepath.Join(f.root, "gone"), "--path-prefix", "/mnt/efs", "--dsn", f.dsn, "--metrics-file", path)
	if res.code != cli.ExitFailed {
		t.Fatalf("exit %d, want 2", res.code)
	}
	m = metricValues(t, path)
	if m["sessaudit_last_run_success"] != 0 || m["sessaudit_last_success_timestamp_seconds"] != lastSuccess {
		t.Errorf("after a failed run: success %v, last success %v (want 0 and %v)", m["sessaudit_last_run_success"], m["sessaudit_last_success_timestamp_seconds"], lastSuccess)
	}
	if _, ok := m["sessaudit_findings{kind=orphan}"]; ok {
		t.Error("a failed run wrote finding counts")
	}
}

// An unwritable --metrics-file is refused before anything is written.
func TestAuditMetricsFileCheckedFirst(t *testing.T) {
	f := newFixture(t)
	before := dump(t, f.dsn)
	path := filepath.Join(t.TempDir(), "missing", "sessaudit.prom")
	res := f.run(t, "audit", "--root", f.root, "--path-prefix", "/mnt/efs", "--dsn", f.dsn, "--metrics-file", path)
	if res.code != cli.ExitFailed || !strings.Contains(res.stderr, "--metrics-file") {
		t.Errorf("exit %d, stderr %q: want 2 naming --metrics-file", res.code, res.stderr)
	}
	if after := dump(t, f.dsn); !reflect.DeepEqual(before, after) {
		t.Error("rows changed although the audit refused")
	}
}

func TestAuditHTMLReport(t *testing.T) {
	f := newFixture(t)
	out := filepath.Join(t.TempDir(), "report.html")
	res := f.run(t, "audit", "--root", f.root, "--path-prefix", "/mnt/efs", "--dsn", f.dsn, "--format", "html", "--output", out, "--log-level", "error")
	if res.code != cli.ExitFindings {
		t.Fatalf("exit %d\n%s", res.code, res.stderr)
	}
	page, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"<!DOCTYPE html>", "sessaudit audit of " + f.root, "workspace_1", `<details id="orphan"`, "<svg"} {
		if !bytes.Contains(page, []byte(want)) {
			t.Errorf("the HTML report lacks %q", want)
		}
	}
}

// terminal opens a pseudo-terminal and returns its terminal side and what
// is written to it.
func terminal(t *testing.T) (*os.File, func() string) {
	t.Helper()
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Fatalf("open a pseudo-terminal: %v", err)
	}
	t.Cleanup(func() { ptmx.Close(); tty.Close() })
	var buf bytes.Buffer
	done := make(chan struct{})
	go func() {
		io.Copy(&buf, ptmx)
		close(done)
	}()
	return tty, func() string {
		tty.Close()
		<-done
		return buf.String()
	}
}

const clearLine = "\r\x1b[K"

// The progress line shows on a terminal, is cleared at the end, and never
// reaches a pipe or a file.
func TestProgressOnlyOnATerminal(t *testing.T) {
	f := newFixture(t)
	for name, args := range map[string][]string{
		"scan":  {"scan", "--root", f.root, "--log-level", "error"},
		"audit": {"audit", "--root", f.root, "--path-prefix", "/mnt/efs", "--dsn", f.dsn, "--dry-run", "--log-level", "error"},
	} {
		t.Run(name+" on a terminal", func(t *testing.T) {
			tty, output := terminal(t)
			res := runEnv(t, f.fsys, nil, tty, args...)
			got := output()
			if res.code == cli.ExitFailed {
				t.Fatalf("exit %d\n%s", res.code, got)
			}
			if !strings.Contains(got, clearLine+"workspaces ") || !strings.Contains(got, "sessions ") {
				t.Errorf("no progress line on the terminal: %q", got)
			}
			if !strings.HasSuffix(got, clearLine) {
				t.Errorf("the terminal does not end cleared: %q", got)
			}
		})
		t.Run(name+" into a pipe", func(t *testing.T) {
			r, w, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			res := runEnv(t, f.fsys, nil, w, args...)
			w.Close()
			got, _ := io.ReadAll(r)
			r.Close()
			if res.code == cli.ExitFailed {
				t.Fatalf("exit %d\n%s", res.code, got)
			}
			if bytes.Contains(got, []byte("\x1b")) || bytes.Contains(got, []byte("workspaces ")) {
				t.Errorf("progress written into a pipe: %q", got)
			}
		})
	}
}
