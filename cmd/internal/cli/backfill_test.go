package cli_test

import (
	"testing"

	"github.com/spf13/afero"

	"sessaudit/cmd/internal/cli"
)

// TestAuditBackfillPaths: --backfill-paths gives the unlinked row its path,
// size and verification time on the real database, and the next audit finds
// it verified.
func TestAuditBackfillPaths(t *testing.T) {
	s := newShare(t)
	before := dump(t, s.dsn) // "column=value" + "true", or "column=false" for NULL
	args := []string{"audit", "--root", s.root, "--path-prefix", "/mnt/efs", "--dsn", s.dsn, "--format", "json", "--log-level", "warn"}
	res := run(t, afero.NewOsFs(), append(args, "--backfill-paths")...)
	if res.code != cli.ExitFindings {
		t.Fatalf("exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	after := dump(t, s.dsn)
	for id, row := range before {
		for i, col := range row {
			switch {
			case id == "3" && col == "session_storage_path=false":
				if after[id][i] != "session_storage_path=/mnt/efs/workspace_1/session_nopathtrue" {
					t.Errorf("row 3: %s", after[id][i])
				}
			case id == "3" && (col == "session_file_size_bytes=false" || col == "session_storage_verified_at=false"):
				if after[id][i] == col {
					t.Errorf("row 3: %s not written", col)
				}
			case id == "1" && (col == "session_file_size_bytes=false" || col == "session_storage_verified_at=false"):
				// verified: written as before
			case after[id][i] != col:
				t.Errorf("row %s: %s became %s", id, col, after[id][i])
			}
		}
	}
	_, rep := f(s).audit(t)
	if rep.Summary.Outcomes["unlinked"] != 0 || rep.Summary.Outcomes["verified"] != 2 {
		t.Errorf("the next audit: %v", rep.Summary.Outcomes)
	}
}

// f is s as the audit tests' fixture.
func f(s share) fixture { return fixture{dsn: s.dsn, root: s.root, fsys: afero.NewOsFs()} }
