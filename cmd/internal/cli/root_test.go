package cli_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/afero"

	"sessaudit/cmd/internal/cli"
	"sessaudit/reconcile"
)

// Issue 18 item 15: the report stored --root as given, so a reclaim run
// from another directory moved a tree the audit never looked at. The
// report holds the root made absolute with its links resolved, and a
// report whose root is relative is refused.
func TestReportRootAbsoluteAndResolved(t *testing.T) {
	s := newShare(t)
	base := filepath.Dir(s.root)
	mustDo(t, os.Symlink("share", filepath.Join(base, "current")))
	t.Chdir(base)
	time.Sleep(minAge + 100*time.Millisecond) // as s.audit does
	res := run(t, afero.NewOsFs(), "audit", "--root", "current", "--path-prefix", "/mnt/efs", "--dsn", s.dsn,
		"--format", "json", "--output", s.report, "--log-level", "warn", "--min-age", minAge.String())
	if res.code != cli.ExitFindings {
		t.Fatalf("audit: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	text, err := os.ReadFile(s.report)
	mustDo(t, err)
	var rep reconcile.Report
	mustDo(t, json.Unmarshal(text, &rep))
	want, err := filepath.EvalSymlinks(s.root)
	mustDo(t, err)
	if rep.Summary.Root != want {
		t.Errorf("the report's root is %q, want %q (absolute, links resolved)", rep.Summary.Root, want)
	}

	// From another directory, the report's root is still the share.
	other := t.TempDir()
	t.Chdir(other)
	before := sessions(t, s.root)
	if res := s.reclaim(t, "--yes"); res.code != cli.ExitClean || !strings.Contains(res.stdout, "moved 7 directories") {
		t.Fatalf("reclaim from elsewhere: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	if got := minus(before, sessions(t, s.root)); len(got) != len(reclaimable) {
		t.Errorf("reclaim moved %v from the share, want %v", got, reclaimable)
	}

	// A report of an older audit, whose root is relative, is refused: it
	// would be read against whatever directory reclaim runs in.
	mustDo(t, os.MkdirAll(filepath.Join(other, "share", "workspace_1", "session_orphan1"), 0o755))
	rel := strings.Replace(string(text), `"root": "`+want+`"`, `"root": "share"`, 1)
	if rel == string(text) {
		t.Fatalf("no root %q in the report:\n%s", want, text)
	}
	mustDo(t, os.WriteFile(s.report, []byte(rel), 0o644))
	res = s.reclaim(t, "--yes")
	if res.code != cli.ExitFailed || !strings.Contains(res.stderr, "relative") {
		t.Errorf("a relative root: exit %d, want 2 saying it is relative\n%s%s", res.code, res.stdout, res.stderr)
	}
	if _, err := os.Stat(filepath.Join(other, "share", "workspace_1", "session_orphan1")); err != nil {
		t.Errorf("reclaim moved a directory of the working directory: %v", err)
	}
	if got := sessions(t, filepath.Join(other, "share")); !slices.Equal(got, []string{"workspace_1/session_orphan1"}) {
		t.Errorf("the working directory's tree is now %v", got)
	}
}
