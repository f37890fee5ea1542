package metrics_test

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"sessaudit/cmd/internal/metrics"
	"sessaudit/reconcile"
	"sessaudit/reconcile/reclaim"
	"sessaudit/scanner/quarantine"
)

func newOp(t *testing.T, command metrics.Command, plan bool) *metrics.Op {
	t.Helper()
	return metrics.NewOp(command, started, plan)
}

func cand(path string, kind reconcile.Outcome, auditSize int64) reclaim.Candidate {
	return reclaim.Candidate{Path: path, Kind: kind, SizeBytes: auditSize}
}

// reclaimOp is a reclaim run: two moved (measured 1000 and 500 bytes just
// before, the audit saw 900 and 400), three skipped for two causes, two
// left by --max-moves.
func reclaimOp(t *testing.T, plan bool) *metrics.Op {
	op := newOp(t, metrics.Reclaim, plan)
	done := reclaim.Moved
	if plan {
		done = reclaim.Planned
	}
	op.Reclaimed(reclaim.Step{Candidate: cand("workspace_1/session_a", reconcile.Orphan, 900), Action: done, SizeBytes: 1000, Files: 3})
	op.Reclaimed(reclaim.Step{Candidate: cand("workspace_1/session_b", reconcile.SoftDeleted, 400), Action: done, SizeBytes: 500, Files: 2})
	op.Reclaimed(reclaim.Step{Candidate: cand("workspace_2/session_c", reconcile.Orphan, 70), Action: reclaim.Skipped, Cause: reclaim.CauseRow, Reason: "live row 20 refers to it now", SizeBytes: 80})
	op.Reclaimed(reclaim.Step{Candidate: cand("workspace_2/session_d", reconcile.Orphan, 30), Action: reclaim.Skipped, Cause: reclaim.CauseRow, Reason: "soft-deleted row 21 refers to it now"})
	op.Reclaimed(reclaim.Step{Candidate: cand("workspace_3/session_e", reconcile.Orphan, 5), Action: reclaim.Skipped, Cause: reclaim.CauseNotDirectory, Reason: "not a real directory now: a link"})
	op.NotLookedAt([]reclaim.Candidate{cand("workspace_4/session_f", reconcile.Orphan, 11), cand("workspace_4/session_g", reconcile.Orphan, 22)})
	op.End(finished, true)
	return op
}

// cachesOp is a reclaim --caches run: one session's caches moved, one
// moved back because the session started, one session not looked at
// (--max-moves), and sessions passed over for three reasons.
func cachesOp(t *testing.T) *metrics.Op {
	op := newOp(t, metrics.ReclaimCaches, false)
	c := func(path string, size int64) reclaim.Candidate {
		return reclaim.Candidate{Path: path, Kind: reclaim.Caches, SizeBytes: size}
	}
	op.Reclaimed(reclaim.Step{Candidate: c("workspace_1/session_a", 3800000), Action: reclaim.Moved, SizeBytes: 3800000, Files: 157, Parts: 82})
	op.Reclaimed(reclaim.Step{Candidate: c("workspace_1/session_b", 900), Action: reclaim.Skipped, Cause: reclaim.CauseRunning,
		Reason: "the session started while its caches moved", SizeBytes: 900, Parts: 5})
	op.NotLookedAt(make([]reclaim.Candidate, 1))
	op.PassedOver(map[string]int{reclaim.PassRunning: 40, reclaim.PassNoRow: 2, reclaim.PassNothing: 7})
	op.End(finished, true)
	return op
}

func TestOpReclaimCaches(t *testing.T) {
	text := writeOp(t, cachesOp(t))
	golden(t, "reclaim_caches.prom", text)
	hasLines(t, text,
		"sessaudit_reclaim_caches_last_run_success 1",
		`sessaudit_reclaim_caches_directories{result="moved"} 1`,
		`sessaudit_reclaim_caches_bytes{result="moved"} 3.8e+06`,
		`sessaudit_reclaim_caches_skipped_directories{reason="running"} 1`,
		`sessaudit_reclaim_caches_directories{result="not_looked_at"} 1`,
		`sessaudit_reclaim_caches_passed_over_sessions{reason="running"} 40`,
		`sessaudit_reclaim_caches_passed_over_sessions{reason="recent"} 0`,
	)
}

func restoreOp(t *testing.T) *metrics.Op {
	op := newOp(t, metrics.Restore, false)
	op.Restored(quarantine.Step{Run: "r", Path: "workspace_1/session_a", Action: quarantine.Restored, SizeBytes: 1000})
	op.Restored(quarantine.Step{Run: "r", Path: "workspace_1/session_b", Action: quarantine.NotRestored, SizeBytes: 500, Err: quarantine.ErrExists})
	op.Restored(quarantine.Step{Run: "r", Path: "workspace_1/session_c", Action: quarantine.AlreadyBack, SizeBytes: 7})
	op.Restored(quarantine.Step{Run: "r", Path: "workspace_1/session_d", Action: quarantine.NotMoved, SizeBytes: 9})
	op.End(finished, true)
	return op
}

func purgeOp(t *testing.T, plan bool) *metrics.Op {
	op := newOp(t, metrics.Purge, plan)
	done := quarantine.Deleted
	if plan {
		done = quarantine.WouldDelete
	}
	op.Purged(quarantine.Step{Run: "old", Path: "workspace_1/session_a", Action: done, SizeBytes: 1000})
	op.Purged(quarantine.Step{Run: "old", Path: "workspace_1/session_b", Action: done, SizeBytes: 500})
	op.Purged(quarantine.Step{Run: "odd", Path: "workspace_1/session_c", Action: quarantine.NotDeleted, SizeBytes: 40, Err: quarantine.ErrChanged})
	op.Purged(quarantine.Step{Run: "new", Action: quarantine.TooYoung})
	op.Purged(quarantine.Step{Run: "README", Action: quarantine.Ignored, Err: errors.New("not a run")})
	// Three runs: "old" removed (not in a plan), "odd" kept for its
	// directory not deleted, "new" too young.
	res := quarantine.Result{Runs: 3}
	if !plan {
		op.Purged(quarantine.Step{Run: "old", Action: quarantine.RemovedRun})
		res.RunsRemoved = 1
	}
	op.PurgedRuns(res)
	op.End(finished, true)
	return op
}

func writeOp(t *testing.T, op *metrics.Op) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "sessaudit-op.prom")
	// A new file: any command may write it.
	writeFile(t, path, metrics.Reclaim, func(f *metrics.File) error { return f.WriteOp(op) })
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func hasLines(t *testing.T, text string, lines ...string) {
	t.Helper()
	for _, want := range lines {
		if !strings.Contains(text, want+"\n") {
			t.Errorf("no line %q in\n%s", want, text)
		}
	}
}

func TestOpReclaim(t *testing.T) {
	text := writeOp(t, reclaimOp(t, false))
	golden(t, "reclaim.prom", text)
	hasLines(t, text,
		"sessaudit_reclaim_last_run_success 1",
		"sessaudit_reclaim_last_run_plan 0",
		"sessaudit_reclaim_last_run_duration_seconds 90.25",
		`sessaudit_reclaim_directories{result="moved"} 2`,
		`sessaudit_reclaim_bytes{result="moved"} 1500`,
		`sessaudit_reclaim_directories{result="planned"} 0`,
		`sessaudit_reclaim_directories{result="skipped"} 3`,
		`sessaudit_reclaim_bytes{result="skipped"} 105`,
		`sessaudit_reclaim_directories{result="not_looked_at"} 2`,
		`sessaudit_reclaim_bytes{result="not_looked_at"} 33`,
		`sessaudit_reclaim_skipped_directories{reason="row"} 2`,
		`sessaudit_reclaim_skipped_bytes{reason="row"} 100`,
		`sessaudit_reclaim_skipped_directories{reason="not_directory"} 1`,
	)
	// Every cause is a series, 0 included, and the free-text reason never
	// becomes a label.
	for _, c := range reclaim.Causes() {
		if !strings.Contains(text, `sessaudit_reclaim_skipped_directories{reason="`+c+`"} `) {
			t.Errorf("no series for cause %s", c)
		}
	}
	if strings.Contains(text, "refers to it") || strings.Contains(text, "workspace_") {
		t.Errorf("a reason or a path became a label:\n%s", text)
	}
}

func TestOpReclaimPlan(t *testing.T) {
	text := writeOp(t, reclaimOp(t, true))
	hasLines(t, text,
		"sessaudit_reclaim_last_run_plan 1",
		`sessaudit_reclaim_directories{result="moved"} 0`,
		`sessaudit_reclaim_bytes{result="moved"} 0`,
		`sessaudit_reclaim_directories{result="planned"} 2`,
		`sessaudit_reclaim_bytes{result="planned"} 1500`,
	)
}

func TestOpRestore(t *testing.T) {
	text := writeOp(t, restoreOp(t))
	golden(t, "restore.prom", text)
	hasLines(t, text,
		"sessaudit_restore_last_run_success 1",
		`sessaudit_restore_directories{result="restored"} 1`,
		`sessaudit_restore_bytes{result="restored"} 1000`,
		`sessaudit_restore_directories{result="not_restored"} 1`,
		`sessaudit_restore_bytes{result="not_restored"} 500`,
		`sessaudit_restore_directories{result="already_back"} 1`,
		`sessaudit_restore_directories{result="not_moved"} 1`,
	)
	if strings.Contains(text, "plan") {
		t.Error("restore has no plan, but its file says one")
	}
}

func TestOpPurge(t *testing.T) {
	text := writeOp(t, purgeOp(t, false))
	golden(t, "purge.prom", text)
	hasLines(t, text,
		"sessaudit_purge_last_run_plan 0",
		`sessaudit_purge_directories{result="purged"} 2`,
		`sessaudit_purge_bytes{result="purged"} 1500`,
		`sessaudit_purge_directories{result="planned"} 0`,
		`sessaudit_purge_directories{result="kept"} 1`,
		`sessaudit_purge_bytes{result="kept"} 40`,
		`sessaudit_purge_runs{result="removed"} 1`,
		`sessaudit_purge_runs{result="too_young"} 1`,
		`sessaudit_purge_runs{result="kept"} 1`,
		`sessaudit_purge_runs{result="ignored"} 1`,
	)
	text = writeOp(t, purgeOp(t, true))
	hasLines(t, text,
		"sessaudit_purge_last_run_plan 1",
		`sessaudit_purge_directories{result="purged"} 0`,
		`sessaudit_purge_directories{result="planned"} 2`,
		`sessaudit_purge_runs{result="removed"} 0`,
		`sessaudit_purge_runs{result="kept"} 2`,
	)
}

// A failed run says so, and keeps what it did before it stopped.
func TestOpFailed(t *testing.T) {
	op := reclaimOp(t, false)
	op.End(finished, false)
	text := writeOp(t, op)
	hasLines(t, text,
		"sessaudit_reclaim_last_run_success 0",
		`sessaudit_reclaim_directories{result="moved"} 2`,
	)
}

// Each command's file holds only its own series, so that node_exporter
// can read all of them side by side.
func TestOpSeriesNamedForTheirCommand(t *testing.T) {
	for cmd, op := range map[metrics.Command]*metrics.Op{
		metrics.Reclaim: reclaimOp(t, false), metrics.Restore: restoreOp(t), metrics.Purge: purgeOp(t, false),
		metrics.ReclaimCaches: cachesOp(t),
	} {
		for _, line := range strings.Split(strings.TrimSpace(writeOp(t, op)), "\n") {
			name := strings.TrimPrefix(strings.TrimPrefix(line, "# HELP "), "# TYPE ")
			if !strings.HasPrefix(name, "sessaudit_"+string(cmd)+"_") {
				t.Errorf("%s: %s", cmd, line)
			}
		}
	}
}

// The metrics file of one command is never written over another's.
func TestOpenRefusesAnotherCommandsFile(t *testing.T) {
	dir := t.TempDir()
	auditFile := filepath.Join(dir, "sessaudit.prom")
	reclaimFile := filepath.Join(dir, "sessaudit-reclaim.prom")
	writeFile(t, auditFile, metrics.Audit, func(f *metrics.File) error { return f.Write(successRun()) })
	writeFile(t, reclaimFile, metrics.Reclaim, func(f *metrics.File) error { return f.WriteOp(reclaimOp(t, false)) })
	open := func(path string, command metrics.Command) error {
		f, err := metrics.Open(path, command)
		if err == nil {
			f.Close()
		}
		return err
	}
	for _, tc := range []struct {
		name string
		err  error
		want string // "" or a part of the error
	}{
		{"audit over audit", open(auditFile, metrics.Audit), ""},
		{"reclaim over reclaim", open(reclaimFile, metrics.Reclaim), ""},
		{"reclaim over a new file", open(filepath.Join(dir, "new.prom"), metrics.Reclaim), ""},
		{"reclaim over audit", open(auditFile, metrics.Reclaim), "metrics of sessaudit audit"},
		{"purge over reclaim", open(reclaimFile, metrics.Purge), "metrics of sessaudit reclaim"},
		{"audit over reclaim", open(reclaimFile, metrics.Audit), "metrics of sessaudit reclaim"},
	} {
		if (tc.err == nil) != (tc.want == "") || (tc.err != nil && !strings.Contains(tc.err.Error(), tc.want)) {
			t.Errorf("%s: %v, want %q", tc.name, tc.err, tc.want)
		}
	}
}

func TestPromtoolCheckOpMetrics(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("promtool is not installed; .ci/run installs it (Debian package prometheus)")
		}
		t.Skip("promtool not installed (apt-get install prometheus); CI runs this test")
	}
	failed := reclaimOp(t, false)
	failed.End(finished, false)
	for name, op := range map[string]*metrics.Op{
		"reclaim": reclaimOp(t, false), "reclaim plan": reclaimOp(t, true), "reclaim failed": failed,
		"restore": restoreOp(t), "purge": purgeOp(t, false), "purge plan": purgeOp(t, true),
		"reclaim --caches": cachesOp(t),
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "sessaudit-op.prom")
			f, err := metrics.Open(path, metrics.Reclaim)
			if err != nil {
				t.Fatal(err)
			}
			if err := f.WriteOp(op); err != nil {
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
