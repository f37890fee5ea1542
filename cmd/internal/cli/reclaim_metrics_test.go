package cli_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/spf13/afero"

	"sessaudit/cmd/internal/cli"
	"sessaudit/reconcile/reclaim"
	"sessaudit/scanner/quarantine"
)

// wantMetrics checks the values of a metrics file, and that promtool
// accepts it where promtool is installed (the metrics package's tests
// require it in CI).
func wantMetrics(t *testing.T, path string, want map[string]float64) map[string]float64 {
	t.Helper()
	m := metricValues(t, path)
	for key, v := range want {
		if got, ok := m[key]; !ok || got != v {
			t.Errorf("%s: %s = %v (present %v), want %v", filepath.Base(path), key, got, ok, v)
		}
	}
	if promtool, err := exec.LookPath("promtool"); err == nil {
		cmd := exec.Command(promtool, "check", "metrics")
		f, err := os.Open(path)
		mustDo(t, err)
		defer f.Close()
		cmd.Stdin = f
		if out, err := cmd.CombinedOutput(); err != nil || len(strings.TrimSpace(string(out))) > 0 {
			t.Errorf("promtool check metrics %s: %v\n%s", path, err, out)
		}
	}
	return m
}

// manifestBytes is the sum of the sizes the manifest recorded.
func manifestBytes(m *quarantine.Manifest) float64 {
	var n int64
	for _, e := range m.Entries {
		n += *e.Moving.SizeBytes
	}
	return float64(n)
}

// TestReclaimMetricsFile: the plan, a run that skips and stops at the cap,
// and its restore, each tell their metrics file what they did.
func TestReclaimMetricsFile(t *testing.T) {
	s := newShare(t)
	s.audit(t)
	dir := t.TempDir()
	reclaimFile, restoreFile := filepath.Join(dir, "sessaudit-reclaim.prom"), filepath.Join(dir, "sessaudit-restore.prom")

	before := time.Now()
	res := s.reclaim(t, "--metrics-file", reclaimFile)
	if res.code != cli.ExitClean {
		t.Fatalf("plan: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	m := wantMetrics(t, reclaimFile, map[string]float64{
		"sessaudit_reclaim_last_run_success":                          1,
		"sessaudit_reclaim_last_run_plan":                             1,
		"sessaudit_reclaim_directories{result=planned}":               float64(len(reclaimable)),
		"sessaudit_reclaim_directories{result=moved}":                 0,
		"sessaudit_reclaim_bytes{result=moved}":                       0,
		"sessaudit_reclaim_directories{result=skipped}":               0,
		"sessaudit_reclaim_skipped_directories{reason=recent}":        0,
		"sessaudit_reclaim_skipped_directories{reason=row}":           0,
		"sessaudit_reclaim_directories{result=not_looked_at}":         0,
		"sessaudit_reclaim_skipped_directories{reason=unsafe_path}":   0,
		"sessaudit_reclaim_skipped_directories{reason=not_directory}": 0,
	})
	if start := m["sessaudit_reclaim_last_run_start_timestamp_seconds"]; start < float64(before.Unix()) || start > m["sessaudit_reclaim_last_run_end_timestamp_seconds"] {
		t.Errorf("start %v, end %v, the test began at %v", start, m["sessaudit_reclaim_last_run_end_timestamp_seconds"], before.Unix())
	}
	planned := m["sessaudit_reclaim_bytes{result=planned}"]

	// A row now refers to session_orphan1, session_orphan3 was written
	// in; the cap of 4 moves leaves the last candidate, session_orphan4,
	// for another run.
	_, err := open(t, s.dsn).Exec(`INSERT INTO whatsapp_accounts
	  (id, uuid, workspace_id, session_id, session_storage_path, created_by, created_at, updated_at, deleted_at) VALUES
	  (20, 'u20', 1, 'new', '/mnt/efs/workspace_1/session_orphan1', 1, NOW(), NOW(), NULL)`)
	mustDo(t, err)
	write(t, filepath.Join(s.root, "workspace_2/session_orphan3/creds.json"), "written")
	res = s.reclaim(t, "--yes", "--max-moves", "4", "--metrics-file", reclaimFile)
	if res.code != cli.ExitFindings {
		t.Fatalf("reclaim --yes: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	manifest, man := manifestOf(t, s.qdir)
	if len(man.Entries) != 4 {
		t.Fatalf("moved %d, want 4\n%s", len(man.Entries), res.stdout)
	}
	orphan1, orphan3, orphan4 := candidateBytes(t, s.report, "workspace_1/session_orphan1"),
		candidateBytes(t, s.report, "workspace_2/session_orphan3"), candidateBytes(t, s.report, "workspace_3/session_orphan4")
	m = wantMetrics(t, reclaimFile, map[string]float64{
		"sessaudit_reclaim_last_run_success":                   1,
		"sessaudit_reclaim_last_run_plan":                      0,
		"sessaudit_reclaim_directories{result=moved}":          4,
		"sessaudit_reclaim_bytes{result=moved}":                manifestBytes(man),
		"sessaudit_reclaim_directories{result=planned}":        0,
		"sessaudit_reclaim_directories{result=skipped}":        2,
		"sessaudit_reclaim_skipped_directories{reason=recent}": 1,
		"sessaudit_reclaim_skipped_directories{reason=row}":    1,
		"sessaudit_reclaim_skipped_bytes{reason=row}":          orphan1,
		"sessaudit_reclaim_skipped_bytes{reason=recent}":       orphan3,
		"sessaudit_reclaim_bytes{result=skipped}":              orphan1 + orphan3,
		"sessaudit_reclaim_directories{result=not_looked_at}":  1,
		"sessaudit_reclaim_bytes{result=not_looked_at}":        orphan4,
	})
	// The plan's bytes are what moved, what was skipped (as the audit
	// measured it) and what the cap left.
	if got := m["sessaudit_reclaim_bytes{result=moved}"] + orphan1 + orphan3 + orphan4; got != planned {
		t.Errorf("moved + skipped + not looked at = %v bytes, planned %v", got, planned)
	}

	res = run(t, afero.NewOsFs(), "restore", "--manifest", manifest, "--metrics-file", restoreFile)
	if res.code != cli.ExitClean {
		t.Fatalf("restore: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	wantMetrics(t, restoreFile, map[string]float64{
		"sessaudit_restore_last_run_success":                 1,
		"sessaudit_restore_directories{result=restored}":     4,
		"sessaudit_restore_bytes{result=restored}":           manifestBytes(man),
		"sessaudit_restore_directories{result=not_restored}": 0,
		"sessaudit_restore_directories{result=already_back}": 0,
	})
	res = run(t, afero.NewOsFs(), "restore", "--manifest", manifest, "--metrics-file", restoreFile)
	if res.code != cli.ExitClean {
		t.Fatalf("restore again: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	wantMetrics(t, restoreFile, map[string]float64{
		"sessaudit_restore_directories{result=restored}":     0,
		"sessaudit_restore_directories{result=already_back}": 4,
	})
	if _, ok := metricValues(t, restoreFile)["sessaudit_restore_last_run_plan"]; ok {
		t.Error("restore has no plan, but its file says one")
	}
}

// candidateBytes is the size the audit's report gives the directory at
// path.
func candidateBytes(t *testing.T, report, path string) float64 {
	t.Helper()
	f, err := os.Open(report)
	mustDo(t, err)
	defer f.Close()
	rep, err := reclaim.ReadReport(f, time.Now(), time.Hour)
	mustDo(t, err)
	cands, err := rep.Candidates(reclaim.Kinds)
	mustDo(t, err)
	for _, c := range cands {
		if c.Path == path {
			return float64(c.SizeBytes)
		}
	}
	t.Fatalf("no candidate %s in the report", path)
	return 0
}

// TestPurgeMetricsFile: purge's plan and its deletion count directories,
// bytes and runs; a restore and a reclaim that fail still write their
// files, with success 0.
func TestPurgeMetricsFile(t *testing.T) {
	s := newShare(t)
	s.audit(t)
	dir := t.TempDir()
	purgeFile, restoreFile, reclaimFile := filepath.Join(dir, "sessaudit-purge.prom"), filepath.Join(dir, "sessaudit-restore.prom"), filepath.Join(dir, "sessaudit-reclaim.prom")
	if res := s.reclaim(t, "--yes"); res.code != cli.ExitClean {
		t.Fatalf("reclaim --yes: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	manifest, man := manifestOf(t, s.qdir)
	// Something that is not a run, beside the run.
	mustDo(t, os.WriteFile(filepath.Join(s.qdir, "notes.txt"), []byte("x"), 0o644))

	res := run(t, afero.NewOsFs(), "purge", "--quarantine", s.qdir, "--older-than", "30d", "--metrics-file", purgeFile)
	if res.code != cli.ExitFindings { // notes.txt needs a look
		t.Fatalf("purge 30d: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	wantMetrics(t, purgeFile, map[string]float64{
		"sessaudit_purge_last_run_success":            1,
		"sessaudit_purge_last_run_plan":               1,
		"sessaudit_purge_directories{result=planned}": 0,
		"sessaudit_purge_runs{result=too_young}":      1,
		"sessaudit_purge_runs{result=ignored}":        1,
		"sessaudit_purge_runs{result=kept}":           0,
		"sessaudit_purge_runs{result=removed}":        0,
	})
	res = run(t, afero.NewOsFs(), "purge", "--quarantine", s.qdir, "--older-than", "1ns", "--metrics-file", purgeFile)
	if res.code != cli.ExitFindings {
		t.Fatalf("purge plan: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	wantMetrics(t, purgeFile, map[string]float64{
		"sessaudit_purge_last_run_plan":               1,
		"sessaudit_purge_directories{result=planned}": float64(len(man.Entries)),
		"sessaudit_purge_bytes{result=planned}":       manifestBytes(man),
		"sessaudit_purge_directories{result=purged}":  0,
		"sessaudit_purge_runs{result=kept}":           1,
		"sessaudit_purge_runs{result=removed}":        0,
	})
	res = run(t, afero.NewOsFs(), "purge", "--quarantine", s.qdir, "--older-than", "1ns", "--yes", "--metrics-file", purgeFile)
	if res.code != cli.ExitFindings || exists(filepath.Dir(manifest)) {
		t.Fatalf("purge --yes: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	wantMetrics(t, purgeFile, map[string]float64{
		"sessaudit_purge_last_run_success":            1,
		"sessaudit_purge_last_run_plan":               0,
		"sessaudit_purge_directories{result=purged}":  float64(len(man.Entries)),
		"sessaudit_purge_bytes{result=purged}":        manifestBytes(man),
		"sessaudit_purge_directories{result=planned}": 0,
		"sessaudit_purge_directories{result=kept}":    0,
		"sessaudit_purge_runs{result=removed}":        1,
		"sessaudit_purge_runs{result=kept}":           0,
		"sessaudit_purge_runs{result=ignored}":        1,
	})

	// The manifest is gone with its run: restore cannot run.
	res = run(t, afero.NewOsFs(), "restore", "--manifest", manifest, "--metrics-file", restoreFile)
	if res.code != cli.ExitFailed {
		t.Fatalf("restore of a purged run: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	wantMetrics(t, restoreFile, map[string]float64{
		"sessaudit_restore_last_run_success":             0,
		"sessaudit_restore_directories{result=restored}": 0,
	})
	// A report too old: reclaim refuses (exit 2) and says so in its file.
	res = s.reclaim(t, "--yes", "--max-report-age", "1ns", "--metrics-file", reclaimFile)
	if res.code != cli.ExitFailed {
		t.Fatalf("reclaim of an old report: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	wantMetrics(t, reclaimFile, map[string]float64{
		"sessaudit_reclaim_last_run_success":          0,
		"sessaudit_reclaim_last_run_plan":             0,
		"sessaudit_reclaim_directories{result=moved}": 0,
	})
}

// TestOpMetricsFileCheckedFirst: a --metrics-file that cannot be written,
// or that is another command's, stops the command before anything moves,
// and is left as it was.
func TestOpMetricsFileCheckedFirst(t *testing.T) {
	s := newShare(t)
	s.audit(t)
	all := sessions(t, s.root)
	dir := t.TempDir()
	auditFile := filepath.Join(dir, "sessaudit.prom")
	res := run(t, afero.NewOsFs(), "audit", "--root", s.root, "--path-prefix", "/mnt/efs", "--dsn", s.dsn,
		"--format", "json", "--output", s.report, "--log-level", "warn", "--metrics-file", auditFile)
	if res.code != cli.ExitFindings {
		t.Fatalf("audit: exit %d\n%s", res.code, res.stderr)
	}
	auditMetrics, err := os.ReadFile(auditFile)
	mustDo(t, err)
	for name, tc := range map[string]struct {
		path, want string
	}{
		"the audit's file":  {auditFile, "holds the metrics of sessaudit audit"},
		"missing directory": {filepath.Join(dir, "missing", "sessaudit-reclaim.prom"), "--metrics-file"},
	} {
		t.Run(name, func(t *testing.T) {
			res := s.reclaim(t, "--yes", "--metrics-file", tc.path)
			if res.code != cli.ExitFailed || !strings.Contains(res.stderr, tc.want) {
				t.Errorf("exit %d, stderr %q: want 2 and %q", res.code, res.stderr, tc.want)
			}
			if got := sessions(t, s.root); !reflect.DeepEqual(got, all) {
				t.Errorf("moved: %q", minus(all, got))
			}
			if got, _ := os.ReadFile(auditFile); string(got) != string(auditMetrics) {
				t.Error("the audit's metrics file changed")
			}
		})
	}
	res = run(t, afero.NewOsFs(), "purge", "--quarantine", s.qdir, "--older-than", "1ns", "--yes", "--metrics-file", auditFile)
	if res.code != cli.ExitFailed || !strings.Contains(res.stderr, "give each command a file of its own") {
		t.Errorf("purge over the audit's file: exit %d, stderr %q", res.code, res.stderr)
	}
}
