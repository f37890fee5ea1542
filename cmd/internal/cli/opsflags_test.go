package cli_test

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/afero"

	"sessaudit/cmd/internal/cli"
)

// Issue 18, an operator's trial: reclaim, restore and purge refused
// --log-level, and --dry-run and -n were unknown where operators reach for
// them. reclaim and purge take --dry-run (-n): the plan, as without --yes,
// and never with --yes; audit and watch take -n for --dry-run.
func TestOpsLogLevelAndDryRun(t *testing.T) {
	s := newShare(t)
	s.audit(t)
	before := sessions(t, s.root)
	for _, args := range [][]string{
		{"reclaim", "--report", s.report, "--quarantine", s.qdir, "--dsn", s.dsn, "--log-level", "debug", "--dry-run"},
		{"reclaim", "--report", s.report, "--quarantine", s.qdir, "--dsn", s.dsn, "--log-level", "warn", "-n"},
		{"purge", "--quarantine", s.qdir, "--older-than", "1d", "--log-level", "debug", "-n"},
	} {
		res := run(t, afero.NewOsFs(), args...)
		if res.code == cli.ExitFailed || !strings.Contains(res.stdout, "nothing was") && !strings.Contains(res.stdout, "would") {
			t.Errorf("%q: exit %d, want a plan\n%s%s", args, res.code, res.stdout, res.stderr)
		}
		if args[len(args)-2] == "debug" && !strings.Contains(res.stderr, `"level":"info"`) {
			t.Errorf("%q: no log line on stderr: %q", args, res.stderr)
		}
	}
	if got := sessions(t, s.root); !slices.Equal(got, before) {
		t.Fatalf("a dry run moved %v", minus(before, got))
	}
	for _, args := range [][]string{
		{"reclaim", "--report", s.report, "--quarantine", s.qdir, "--dsn", s.dsn, "--yes", "-n"},
		{"purge", "--quarantine", s.qdir, "--older-than", "1d", "--yes", "--dry-run"},
	} {
		if res := run(t, afero.NewOsFs(), args...); res.code != cli.ExitFailed || !strings.Contains(res.stderr, "--yes or --dry-run, not both") {
			t.Errorf("%q: exit %d, stderr %q", args, res.code, res.stderr)
		}
	}
	if res := run(t, afero.NewOsFs(), "restore", "--manifest", filepath.Join(s.qdir, "x", "manifest.json"), "--log-level", "loud"); res.code != cli.ExitFailed || !strings.Contains(res.stderr, "--log-level") {
		t.Errorf("restore --log-level loud: exit %d, stderr %q", res.code, res.stderr)
	}

	// audit -n writes nothing.
	rows := dump(t, s.dsn)
	res := run(t, afero.NewOsFs(), "audit", "--root", s.root, "--path-prefix", "/mnt/efs", "--dsn", s.dsn, "--log-level", "error", "-n")
	if res.code != cli.ExitFindings {
		t.Fatalf("audit -n: exit %d\n%s", res.code, res.stderr)
	}
	if !reflect.DeepEqual(rows, dump(t, s.dsn)) {
		t.Error("audit -n wrote rows")
	}
	_ = os.Remove
}

// Issue 18, an operator's trial: the purge plan listed the directories
// but not the runs that --yes then removes. It lists each run it would
// remove, and --yes removes exactly those.
func TestPurgePlanListsRuns(t *testing.T) {
	s := newShare(t)
	s.audit(t)
	if res := s.reclaim(t, "--yes"); res.code != cli.ExitClean {
		t.Fatalf("reclaim --yes: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	manifest, _ := manifestOf(t, s.qdir)
	run1 := filepath.Base(filepath.Dir(manifest))
	plan := run(t, afero.NewOsFs(), "purge", "--quarantine", s.qdir, "--older-than", "1ns")
	if plan.code == cli.ExitFailed || !strings.Contains(plan.stdout, "would remove run  "+run1+"\n") {
		t.Errorf("the plan does not list run %s as one it would remove:\n%s%s", run1, plan.stdout, plan.stderr)
	}
	done := run(t, afero.NewOsFs(), "purge", "--quarantine", s.qdir, "--older-than", "1ns", "--yes")
	if !strings.Contains(done.stdout, "removed run   "+run1+"\n") {
		t.Errorf("purge --yes did not remove run %s:\n%s%s", run1, done.stdout, done.stderr)
	}
}
