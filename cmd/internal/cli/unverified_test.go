package cli_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/afero"

	"sessaudit/cmd/internal/cli"
	"sessaudit/db/dbtest"
	"sessaudit/reconcile"
)

// unverifiedShare is one session, its row last verified on 2026-01-05 (a
// fixed date: every run of the test comes long after it), in a database
// and a share of its own.
func unverifiedShare(t *testing.T) (dsn, root string) {
	t.Helper()
	dsn = dbtest.New(t)
	dbtest.LoadSchema(t, dsn)
	_, err := open(t, dsn).Exec(`INSERT INTO whatsapp_accounts
  (id, uuid, workspace_id, session_id, phone_number, provider_type, status,
   session_storage_path, session_file_size_bytes, session_storage_verified_at, created_by, created_at, updated_at)
VALUES (1, '00000000-0000-4000-8000-000000000001', 1, 'a', '+4915550001', 'webjs', 'connected',
   '/mnt/efs/workspace_1/session_a', 4096, '2026-01-05 10:00:00', 1, '2026-01-05 10:00:00', '2026-01-05 10:00:00')`)
	if err != nil {
		t.Fatal(err)
	}
	root = t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "workspace_1/session_a"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "workspace_1/session_a/creds.json"), []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	return dsn, root
}

// TestAuditUnverifiedIsAFinding: a row the time budget defers, unverified
// since long before --max-unverified, is the run's one finding: exit 1, as
// any finding (0 with --findings-exit-code 0); with a --max-unverified
// longer than that, the run is clean (deferred is not a finding).
func TestAuditUnverifiedIsAFinding(t *testing.T) {
	dsn, root := unverifiedShare(t)
	f := fixture{dsn: dsn, root: root, fsys: afero.NewOsFs()}
	res, rep := f.audit(t, "--max-duration", "1ns", "--dry-run")
	if res.code != cli.ExitFindings || rep == nil {
		t.Fatalf("exit %d, want 1\n%s", res.code, res.stderr)
	}
	if rep.Summary.Findings != 1 || rep.Summary.Outcomes[reconcile.Unverified] != 1 || rep.Summary.Outcomes[reconcile.Deferred] != 1 {
		t.Fatalf("findings %v, outcomes %v; want one unverified, deferred", rep.Findings, rep.Summary.Outcomes)
	}
	if d := rep.Findings[0].Detail; !strings.Contains(d, "since 2026-01-05T10:00:00Z") || !strings.Contains(d, "deferred") {
		t.Errorf("detail %q does not say since when and why", d)
	}
	if res, _ := f.audit(t, "--max-duration", "1ns", "--dry-run", "--findings-exit-code", "0"); res.code != cli.ExitClean {
		t.Errorf("--findings-exit-code 0: exit %d", res.code)
	}
	// 200,000 hours is 22 years.
	if res, rep := f.audit(t, "--max-duration", "1ns", "--dry-run", "--max-unverified", "200000h"); res.code != cli.ExitClean || rep.Summary.Findings != 0 {
		t.Errorf("--max-unverified 200000h: exit %d, findings %v", res.code, rep.Findings)
	}
	if res, rep := f.audit(t, "--max-duration", "1ns", "--dry-run", "--max-unverified", "0"); res.code != cli.ExitClean || rep.Summary.Findings != 0 {
		t.Errorf("--max-unverified 0: exit %d, findings %v", res.code, rep.Findings)
	}
	for _, bad := range []string{"-1h", "2x"} {
		res, _ := f.audit(t, "--max-unverified", bad)
		if res.code != cli.ExitFailed || !strings.Contains(res.stderr, "max-unverified") {
			t.Errorf("--max-unverified %s: exit %d, stderr %q; want 2 and a line about it", bad, res.code, res.stderr)
		}
	}
}
