package cli_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"sessaudit/cmd/internal/cli"
)

// Issue 18 item 4: SESSAUDIT_YES in the environment confirms nothing.
// Reclaim and purge print their plans, change nothing, and say on stderr
// that the variable was ignored.
func TestYesOnlyFromTheCommandLine(t *testing.T) {
	s := newShare(t)
	s.audit(t)
	before := sessions(t, s.root)
	env := map[string]string{"SESSAUDIT_YES": "true", "SESSAUDIT_DSN": s.dsn}

	res := runEnv(t, nil, env, nil, "reclaim", "--report", s.report, "--quarantine", s.qdir)
	if res.code != cli.ExitClean || !strings.Contains(res.stdout, "reclaim plan:") || !strings.Contains(res.stdout, "nothing was moved") {
		t.Errorf("reclaim with SESSAUDIT_YES: exit %d, want a plan\n%s%s", res.code, res.stdout, res.stderr)
	}
	if got := sessions(t, s.root); !slices.Equal(got, before) {
		t.Fatalf("SESSAUDIT_YES moved %v", minus(before, got))
	}
	if !strings.Contains(res.stderr, "SESSAUDIT_YES is ignored") {
		t.Errorf("stderr does not say SESSAUDIT_YES was ignored: %q", res.stderr)
	}

	// A real run, then purge with the variable: nothing is deleted.
	if res := s.reclaim(t, "--yes"); res.code != cli.ExitClean {
		t.Fatalf("reclaim --yes: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	manifest, _ := manifestOf(t, s.qdir)
	res = runEnv(t, nil, env, nil, "purge", "--quarantine", s.qdir, "--older-than", "1ns")
	if _, err := os.Stat(filepath.Dir(manifest)); err != nil {
		t.Fatalf("purge with SESSAUDIT_YES deleted the run: %v\n%s%s", err, res.stdout, res.stderr)
	}
	if !strings.Contains(res.stdout, "nothing was deleted") || !strings.Contains(res.stderr, "SESSAUDIT_YES is ignored") {
		t.Errorf("purge with SESSAUDIT_YES: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
}
