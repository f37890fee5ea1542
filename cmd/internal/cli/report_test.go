package cli_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"sessaudit/cmd/internal/cli"
	"sessaudit/reconcile"
)

// TestReportMergeMakesOneRun: the JSON reports of the 3 shard runs of a
// generated share, merged, are the report of one whole run: the same
// findings in the same order, outcome counts, sizes, rows, writes, largest
// sessions and workspaces, per-instance counts. Each shard's report is read
// from a file that holds it among JSON log lines, as a pod's log does.
func TestReportMergeMakesOneRun(t *testing.T) {
	share := newGeneratedShare(t)
	res, whole := share.audit(t, share.load(t), "--instance-count", "3")
	if res.code != cli.ExitFindings {
		t.Fatalf("whole run: exit %d\n%s", res.code, res.stderr)
	}
	dsn := share.load(t)
	dir := t.TempDir()
	var files []string
	for i := range 3 {
		res, _ := share.audit(t, dsn, "--instance-count", "3", "--shard", fmt.Sprintf("%d/3", i))
		if res.code == cli.ExitFailed {
			t.Fatalf("shard %d: exit 2\n%s", i, res.stderr)
		}
		name := filepath.Join(dir, fmt.Sprintf("shard-%d.log", i))
		log := `{"level":"info","message":"audit started"}` + "\n" + res.stdout + `{"level":"info","message":"audit finished"}` + "\n"
		if err := os.WriteFile(name, []byte(log), 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, name)
	}
	res = run(t, nil, append([]string{"report", "merge", "--format", "json"}, files...)...)
	if res.code != cli.ExitClean {
		t.Fatalf("report merge: exit %d\n%s", res.code, res.stderr)
	}
	var merged reconcile.Report
	if err := json.Unmarshal([]byte(res.stdout), &merged); err != nil {
		t.Fatalf("merged report is not JSON: %v\n%s", err, res.stdout)
	}
	w, m := whole.Summary, merged.Summary
	if !reflect.DeepEqual(merged.Findings, whole.Findings) {
		t.Errorf("merged findings differ from one run's:\n%v\nwant\n%v", findingKeys(merged.Findings), findingKeys(whole.Findings))
	}
	if !reflect.DeepEqual(merged.Recent, whole.Recent) {
		t.Errorf("merged recent differ from one run's")
	}
	for _, c := range []struct {
		name      string
		got, want any
	}{
		{"outcomes", m.Outcomes, w.Outcomes},
		{"sessions, files, bytes", []int64{int64(m.Sessions), m.Files, m.Bytes, m.AllocatedBytes, m.MeteredBytes}, []int64{int64(w.Sessions), w.Files, w.Bytes, w.AllocatedBytes, w.MeteredBytes}},
		{"rows", []int{m.Rows, m.LiveRows, m.Findings, m.RowsWritten, m.RowsChanged}, []int{w.Rows, w.LiveRows, w.Findings, w.RowsWritten, w.RowsChanged}},
		{"largest sessions", m.LargestSessions, w.LargestSessions},
		{"largest workspaces", m.LargestWorkspaces, w.LargestWorkspaces},
		{"workspaces measured", m.WorkspacesMeasured, w.WorkspacesMeasured},
		{"instances", m.Instances, w.Instances},
		{"anatomy", m.Anatomy, w.Anatomy},
		{"complete", m.Complete, true},
		{"root", m.Root, w.Root},
	} {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s: merged %v, one run %v", c.name, c.got, c.want)
		}
	}
	if m.Scope != "all workspaces (the 3 shards merged)" || m.Shard != "" || len(m.Warnings) != 0 {
		t.Errorf("scope %q, shard %q, warnings %q", m.Scope, m.Shard, m.Warnings)
	}
	if len(whole.Findings) == 0 || w.RowsWritten == 0 || len(w.Instances) < 2 {
		t.Fatalf("the fixture lost its cases: %d findings, %d rows written, %d instances", len(whole.Findings), w.RowsWritten, len(w.Instances))
	}

	// Two of the three: merged, with the absent shard named.
	res = run(t, nil, "report", "merge", "--format", "text", files[0], files[2])
	if res.code != cli.ExitClean || !strings.Contains(res.stdout, "shards 1/3 of 3 are not in this report") {
		t.Errorf("two of three shards: exit %d\n%s\n%s", res.code, res.stdout, res.stderr)
	}
	// One report, as HTML, without auditing again.
	out := filepath.Join(dir, "shard-0.html")
	res = run(t, nil, "report", "show", "--format", "html", "--output", out, files[0])
	if page, err := os.ReadFile(out); res.code != cli.ExitClean || err != nil || !strings.Contains(string(page), "<!DOCTYPE html>") {
		t.Errorf("report show --format html: exit %d, %v\n%s", res.code, err, res.stderr)
	}
}

// What report merge and show refuse, each with exit 2 and one line.
func TestReportRefuses(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, rep reconcile.Report) string {
		b, err := json.Marshal(rep)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	shard := func(root, s string) reconcile.Report {
		return reconcile.Report{Summary: reconcile.Summary{Complete: true, Root: root, PathPrefix: "/mnt/efs", Shard: s, Scope: "shard " + s,
			Outcomes: map[reconcile.Outcome]int{}}}
	}
	a0 := write("a0.json", shard("/mnt/efs", "0/2"))
	a1 := write("a1.json", shard("/mnt/efs", "1/2"))
	b1 := write("b1.json", shard("/srv/other", "1/2"))
	c1 := write("c1.json", shard("/mnt/efs", "1/3"))
	whole := write("whole.json", reconcile.Report{Summary: reconcile.Summary{Complete: true, Root: "/mnt/efs", PathPrefix: "/mnt/efs", Scope: "all workspaces", Outcomes: map[reconcile.Outcome]int{}}})
	notReport := filepath.Join(dir, "notes.txt")
	os.WriteFile(notReport, []byte("sessaudit audit of /mnt/efs\n"), 0o644)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"report", "merge", a0, b1}, "report 2 audited /srv/other"},
		{[]string{"report", "merge", a0, a0}, "shard 0/2 is given twice"},
		{[]string{"report", "merge", a0, c1}, "not shards of one run"},
		{[]string{"report", "merge", a0, whole}, "not of one shard"},
		{[]string{"report", "merge", a0, notReport}, "not a sessaudit audit report"},
		{[]string{"report", "merge", a0, filepath.Join(dir, "gone.json")}, "no such file"},
		{[]string{"report", "merge", a0, a1, "--format", "html"}, "flags go before the reports: --format"},
		{[]string{"report", "show", a0, a1}, "show reads one report"},
		{[]string{"report", "merge"}, "name the JSON report(s) to read"},
		{[]string{"report", "show", "--format", "xml", a0}, `--format "xml"`},
	} {
		res := run(t, nil, tc.args...)
		if res.code != cli.ExitFailed || !strings.Contains(res.stderr, tc.want) || strings.Count(res.stderr, "\n") != 1 {
			t.Errorf("%q: exit %d, stderr %q: want 2 and one line with %q", tc.args[2:], res.code, res.stderr, tc.want)
		}
	}
}
