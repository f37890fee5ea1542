package metrics_test

import (
	"bytes"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sessaudit/cmd/internal/metrics"
	"sessaudit/cmd/internal/version"
	"sessaudit/reconcile"
)

var update = flag.Bool("update", false, "rewrite testdata/*.prom from the output")

var (
	started  = time.Date(2026, 3, 1, 3, 30, 0, 0, time.UTC)
	finished = started.Add(90*time.Second + 250*time.Millisecond)
)

func ptr[T any](v T) *T { return &v }

// sampleReport is a report with findings of three kinds, sizes on some of
// them, and two instances.
func sampleReport() *reconcile.Report {
	outcomes := map[reconcile.Outcome]int{}
	for _, o := range reconcile.Outcomes() {
		outcomes[o] = 0
	}
	outcomes[reconcile.Verified] = 5
	outcomes[reconcile.Orphan] = 2
	outcomes[reconcile.Missing] = 1
	outcomes[reconcile.Deferred] = 2
	outcomes[reconcile.Unverified] = 1
	return &reconcile.Report{
		Summary: reconcile.Summary{
			Complete: true, StartedAt: started, FinishedAt: finished,
			Sessions: 7, Files: 40, Bytes: 123456, AllocatedBytes: 135168, MeteredBytes: 200704,
			Rows: 9, LiveRows: 8, Outcomes: outcomes, Findings: 4, RowsWritten: 4, RowsChanged: 1,
			LargestWorkspaces: []reconcile.WorkspaceUsage{
				{WorkspaceID: 7, Sessions: 4, SizeBytes: 100000, MeteredBytes: 150000, Files: 30},
				{WorkspaceID: 2, Sessions: 3, SizeBytes: 23456, MeteredBytes: 50704, Files: 10},
			},
			Instances: []reconcile.InstanceSummary{
				{Instance: "0", Rows: 5, Sessions: 4, Bytes: 100000, MeteredBytes: 150000, Findings: 1},
				{Instance: "unassigned", Rows: 3, Sessions: 3, Bytes: 23456, MeteredBytes: 50704, Findings: 2},
			},
		},
		Findings: []reconcile.Finding{
			{Kind: reconcile.Missing, RowIDs: []uint64{3}},
			{Kind: reconcile.Orphan, Path: "workspace_1/session_a", SizeBytes: ptr[int64](1000), MeteredBytes: ptr[int64](8192)},
			{Kind: reconcile.Orphan, Path: "workspace_2/session_b", SizeBytes: ptr[int64](24), MeteredBytes: ptr[int64](6144)},
			{Kind: reconcile.Unverified, Path: "workspace_3/session_c", RowIDs: []uint64{7}, Detail: "not verified for 2d 1h: deferred"},
		},
	}
}

func successRun() metrics.Run {
	return metrics.Run{Started: started, Finished: finished, Success: true, Report: sampleReport(), FilesystemCalls: 812,
		Build: version.Build{Version: "v1.2.0", Revision: "0123456789abcdef0123456789abcdef01234567", GoVersion: "go1.26.8"}}
}

func failedRun(at time.Time) metrics.Run {
	return metrics.Run{Started: at, Finished: at.Add(2 * time.Second), Success: false, Report: sampleReport(), FilesystemCalls: -1}
}

// write writes run to a fresh file in dir and returns its text.
func write(t *testing.T, path string, run metrics.Run) string {
	t.Helper()
	writeFile(t, path, metrics.Audit, func(f *metrics.File) error { return f.Write(run) })
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the output (go test -update rewrites it); got:\n%s", path, got)
	}
}

func TestWriteSuccess(t *testing.T) {
	text := write(t, filepath.Join(t.TempDir(), "sessaudit.prom"), successRun())
	golden(t, "success.prom", text)

	for _, o := range reconcile.Outcomes() {
		line := `sessaudit_findings{kind="` + string(o) + `"}`
		if o.IsFinding() != strings.Contains(text, line+" ") {
			t.Errorf("finding kind %s: want a series exactly for every finding kind, 0 included", o)
		}
	}
	for _, want := range []string{
		`sessaudit_last_run_success 1`,
		`sessaudit_findings{kind="conflict"} 0`,
		`sessaudit_findings{kind="orphan"} 2`,
		`sessaudit_finding_bytes{kind="orphan",type="metered"} 14336`,
		`sessaudit_finding_bytes{kind="orphan",type="size"} 1024`,
		`sessaudit_finding_bytes{kind="soft_deleted",type="metered"} 0`,
		`sessaudit_bytes{type="allocated"} 135168`,
		`sessaudit_instance_bytes{assigned_instance="unassigned",type="size"} 23456`,
		`sessaudit_last_success_timestamp_seconds 1.77233589025e+09`,
		`sessaudit_last_run_duration_seconds 90.25`,
		`sessaudit_filesystem_calls 812`,
		// Rows not verified for longer than --max-unverified (issue 17).
		`sessaudit_rows_unverified 1`,
		`sessaudit_findings{kind="unverified"} 1`,
		`sessaudit_build_info{goversion="go1.26.8",revision="0123456789abcdef0123456789abcdef01234567",version="v1.2.0"} 1`,
		`sessaudit_largest_workspace_bytes{type="metered",workspace_id="7"} 150000`,
		`sessaudit_largest_workspace_sessions{workspace_id="2"} 3`,
	} {
		if !strings.Contains(text, want+"\n") {
			t.Errorf("no line %q", want)
		}
	}
}

func TestShardLabelsEverySeries(t *testing.T) {
	run := successRun()
	run.Shard = "2/4"
	text := write(t, filepath.Join(t.TempDir(), "sessaudit.prom"), run)
	golden(t, "shard.prom", text)
	for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
		if !strings.HasPrefix(line, "#") && !strings.Contains(line, `shard="2/4"`) {
			t.Errorf("series without the shard label: %s", line)
		}
	}
}

func TestFailedRunCarriesLastSuccess(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sessaudit.prom")
	write(t, path, successRun())
	next := finished.Add(24 * time.Hour)
	text := write(t, path, failedRun(next))
	golden(t, "failed.prom", text)
	for _, want := range []string{
		"sessaudit_last_run_success 0\n",
		"sessaudit_last_success_timestamp_seconds 1.77233589025e+09\n",
		"sessaudit_last_run_end_timestamp_seconds 1.77242229225e+09\n",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("no line %q", strings.TrimSpace(want))
		}
	}
	// The counts of a failed run are not written: a 0 would read as
	// "nothing found".
	for _, absent := range []string{"sessaudit_findings", "sessaudit_sessions", "sessaudit_rows_written", "sessaudit_filesystem_calls"} {
		if strings.Contains(text, absent+"{") || strings.Contains(text, absent+" ") {
			t.Errorf("a failed run wrote %s", absent)
		}
	}
	// A second failure still carries the success over.
	text = write(t, path, failedRun(next.Add(24*time.Hour)))
	if !strings.Contains(text, "sessaudit_last_success_timestamp_seconds 1.77233589025e+09\n") {
		t.Errorf("second failure lost the last success:\n%s", text)
	}
}

func TestFailedRunWithoutHistory(t *testing.T) {
	for name, previous := range map[string]string{
		"no file":        "",
		"garbage":        "this is { not the text format\n",
		"another shard":  "# TYPE sessaudit_last_success_timestamp_seconds gauge\nsessaudit_last_success_timestamp_seconds{shard=\"1/4\"} 1.7e+09\n",
		"a sharded file": "sessaudit_last_success_timestamp_seconds{shard=\"0/4\"} 1.7e+09\n",
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "sessaudit.prom")
			if previous != "" {
				if err := os.WriteFile(path, []byte(previous), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			run := failedRun(finished)
			if name == "another shard" {
				run.Shard = "2/4"
			}
			text := write(t, path, run)
			if strings.Contains(text, "sessaudit_last_success_timestamp_seconds") {
				t.Errorf("a success was made up:\n%s", text)
			}
			if !strings.Contains(text, "sessaudit_last_run_success 0\n") && !strings.Contains(text, "sessaudit_last_run_success{shard=\"2/4\"} 0\n") {
				t.Errorf("no success 0:\n%s", text)
			}
		})
	}
}

func TestWriteIsAtomicAndReadable(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sessaudit.prom")
	write(t, path, successRun())
	write(t, path, failedRun(finished))
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != "sessaudit.prom" {
		t.Errorf("directory holds %v, want only sessaudit.prom", entries)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, want 0644 so that node_exporter can read it", fi.Mode().Perm())
	}
}

// writeFile opens the metrics file of command at path and writes it.
func writeFile(t *testing.T, path string, command metrics.Command, write func(*metrics.File) error) {
	t.Helper()
	f, err := metrics.Open(path, command)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := write(f); err != nil {
		t.Fatal(err)
	}
}

func TestOpen(t *testing.T) {
	dir := t.TempDir()
	for name, tc := range map[string]struct {
		path string
		want string // "" or a part of the error
	}{
		"new file":          {filepath.Join(dir, "new.prom"), ""},
		"missing directory": {filepath.Join(dir, "nope", "x.prom"), "--metrics-file " + filepath.Join(dir, "nope", "x.prom")},
		"a directory":       {dir, "is a directory"},
		"standard output":   {"-", "not to standard output"},
	} {
		t.Run(name, func(t *testing.T) {
			f, err := metrics.Open(tc.path, metrics.Audit)
			if err == nil {
				f.Close()
			}
			if (err == nil) != (tc.want == "") || (err != nil && !strings.Contains(err.Error(), tc.want)) {
				t.Errorf("Open(%s) = %v, want %q", tc.path, err, tc.want)
			}
		})
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("Open and Close left %v behind", entries)
	}
}

// TestPromtoolCheckMetrics runs Prometheus' own linter on every file the
// tests produce. CI installs promtool (Debian's prometheus package).
func TestPromtoolCheckMetrics(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("promtool is not installed; .ci/run installs it (Debian package prometheus)")
		}
		t.Skip("promtool not installed (apt-get install prometheus); CI runs this test")
	}
	shard := successRun()
	shard.Shard = "1/2"
	for name, run := range map[string]metrics.Run{"success": successRun(), "shard": shard, "failed": failedRun(finished)} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "sessaudit.prom")
			f, err := metrics.Open(path, metrics.Audit)
			if err != nil {
				t.Fatal(err)
			}
			if err := f.Write(run); err != nil {
				t.Fatal(err)
			}
			text, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(promtool, "check", "metrics")
			cmd.Stdin = bytes.NewReader(text)
			out, err := cmd.CombinedOutput()
			if err != nil || len(bytes.TrimSpace(out)) > 0 {
				t.Errorf("promtool check metrics: %v\n%s", err, out)
			}
		})
	}
}
