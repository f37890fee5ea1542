package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sessaudit/cmd/internal/cli"
	"sessaudit/db/dbtest"
)

// loadTestdata runs testdata/<name> against dsn.
func loadTestdata(t *testing.T, dsn, name string) {
	t.Helper()
	schema, err := dbtest.SchemaPath()
	if err != nil {
		t.Fatal(err)
	}
	text, err := os.ReadFile(filepath.Join(filepath.Dir(schema), name))
	if err != nil {
		t.Fatal(err)
	}
	dbtest.Exec(t, dsn, string(text))
}

// onlyRecommendedMissing turns the pre-migration table into one that has
// what the audit requires and nothing else of the migrations.
const onlyRecommendedMissing = `
ALTER TABLE whatsapp_accounts ADD COLUMN session_storage_path VARCHAR(500) NULL AFTER session_data;
ALTER TABLE whatsapp_accounts ADD COLUMN session_file_size_bytes BIGINT UNSIGNED NULL AFTER session_storage_path;
ALTER TABLE whatsapp_accounts ADD COLUMN session_storage_verified_at DATETIME NULL AFTER session_file_size_bytes;
ALTER TABLE whatsapp_accounts DROP INDEX whatsapp_accounts_phone_number_workspace_id_status_unique;
`

type checklistDoc struct {
	Table string `json:"table"`
	Items []struct {
		Item   string `json:"item"`
		Status string `json:"status"`
		Detail string `json:"detail"`
		Fix    string `json:"fix"`
	} `json:"items"`
	RequiredOK bool `json:"required_ok"`
}

func TestSchemaCheck(t *testing.T) {
	t.Logf("database backend: %s", dbtest.Backend())
	tests := []struct {
		name     string
		setup    func(t *testing.T, dsn string)
		wantCode int
		// wantLines are lines, or beginnings of lines, of the text output.
		wantLines []string
		// wantStatus counts the items of each status in the JSON output.
		wantStatus map[string]int
	}{
		{
			name:     "fully migrated",
			setup:    func(t *testing.T, dsn string) { dbtest.LoadSchema(t, dsn) },
			wantCode: cli.ExitClean,
			wantLines: []string{
				"ok     column session_storage_path: varchar(500)",
				"ok     unique index on phone_number: none",
				"ok     index idx_instance_assignment: (assigned_instance_index)",
				"whatsapp_accounts: ready for the audit, 0 errors, 0 warnings",
			},
			wantStatus: map[string]int{"ok": 17},
		},
		{
			name:     "pre-migration with the old unique key",
			setup:    func(t *testing.T, dsn string) { loadTestdata(t, dsn, "schema_premigration.sql") },
			wantCode: cli.ExitFindings,
			wantLines: []string{
				"error  column session_storage_path: missing; required by the audit (migration 3, storage metadata)",
				"error  column session_file_size_bytes: missing; required by the audit",
				"error  column session_storage_verified_at: missing; required by the audit",
				"warn   column assigned_instance_index: missing; recommended (migration 1, instance tracking)",
				"error  unique index whatsapp_accounts_phone_number_workspace_id_status_unique: UNIQUE (phone_number, workspace_id, status)",
				"warn   index idx_disconnect_analytics: missing",
				"whatsapp_accounts: NOT ready, 4 errors, 10 warnings",
				"ALTER TABLE `whatsapp_accounts` DROP INDEX `whatsapp_accounts_phone_number_workspace_id_status_unique`;",
				"ALTER TABLE `whatsapp_accounts` ADD COLUMN `session_file_size_bytes` BIGINT NULL DEFAULT NULL COMMENT 'Total size of session files' AFTER `session_storage_path`;",
				"CREATE INDEX `idx_instance_assignment` ON `whatsapp_accounts` (`assigned_instance_index`);",
			},
			wantStatus: map[string]int{"ok": 3, "warn": 10, "error": 4},
		},
		{
			name: "only recommended items missing",
			setup: func(t *testing.T, dsn string) {
				loadTestdata(t, dsn, "schema_premigration.sql")
				dbtest.Exec(t, dsn, onlyRecommendedMissing)
			},
			wantCode: cli.ExitClean,
			wantLines: []string{
				"ok     column session_file_size_bytes: bigint",
				"ok     column session_storage_verified_at: datetime",
				"warn   column previous_instance_index: missing; recommended (migration 4, failover tracking)",
				"warn   index idx_instance_assignment: missing",
				"whatsapp_accounts: ready for the audit, 0 errors, 10 warnings",
				"ALTER TABLE `whatsapp_accounts` ADD COLUMN `previous_instance_index` TINYINT NULL DEFAULT NULL COMMENT 'Previous instance index before migration' AFTER `assigned_instance_index`;",
				"CREATE INDEX `idx_disconnect_analytics` ON `whatsapp_accounts` (`disconnect_reason`, `disconnected_at`);",
			},
			wantStatus: map[string]int{"ok": 7, "warn": 10},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dsn := dbtest.New(t)
			tc.setup(t, dsn)

			res := run(t, nil, "schema", "check", "--dsn", dsn)
			if res.code != tc.wantCode || res.stderr != "" {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", res.code, tc.wantCode, res.stdout, res.stderr)
			}
			lines := strings.Split(res.stdout, "\n")
			for _, want := range tc.wantLines {
				if !slicesContainsPrefix(lines, want) {
					t.Errorf("no line starting %q in:\n%s", want, res.stdout)
				}
			}
			if tc.wantCode == cli.ExitClean && strings.Contains(res.stdout, "error ") {
				t.Errorf("an error item with exit 0:\n%s", res.stdout)
			}

			res = run(t, nil, "schema", "check", "--dsn", dsn, "--format", "json")
			if res.code != tc.wantCode {
				t.Fatalf("json: exit %d, want %d\nstderr:\n%s", res.code, tc.wantCode, res.stderr)
			}
			var doc checklistDoc
			if err := json.Unmarshal([]byte(res.stdout), &doc); err != nil {
				t.Fatalf("output is not JSON: %v\n%s", err, res.stdout)
			}
			if doc.Table != "whatsapp_accounts" || doc.RequiredOK != (tc.wantCode == cli.ExitClean) {
				t.Errorf("table %q required_ok %v", doc.Table, doc.RequiredOK)
			}
			got := map[string]int{}
			for _, it := range doc.Items {
				got[it.Status]++
				if (it.Status == "ok") != (it.Fix == "") {
					t.Errorf("item %s: status %s, fix %q", it.Item, it.Status, it.Fix)
				}
			}
			for status, n := range tc.wantStatus {
				if got[status] != n {
					t.Errorf("%d items %s, want %d", got[status], status, n)
				}
			}
			if len(got) != len(tc.wantStatus) {
				t.Errorf("statuses %v, want %v", got, tc.wantStatus)
			}
		})
	}
}

func slicesContainsPrefix(lines []string, prefix string) bool {
	for _, l := range lines {
		if strings.HasPrefix(l, prefix) {
			return true
		}
	}
	return false
}

// TestSchemaSQLMakesCheckPass applies the output of "schema sql" to the
// pre-migration table: "schema check" then passes with nothing left.
func TestSchemaSQLMakesCheckPass(t *testing.T) {
	dsn := dbtest.New(t)
	loadTestdata(t, dsn, "schema_premigration.sql")

	res := run(t, nil, "schema", "sql", "--dsn", dsn)
	if res.code != cli.ExitClean || res.stderr != "" {
		t.Fatalf("schema sql: exit %d\nstderr:\n%s", res.code, res.stderr)
	}
	if n := strings.Count(res.stdout, ";\n"); n != 14 {
		t.Errorf("%d statements, want 14:\n%s", n, res.stdout)
	}
	if !strings.HasPrefix(res.stdout, "-- sessaudit schema sql: table whatsapp_accounts in database sessaudit_t_") {
		t.Errorf("no header:\n%s", res.stdout)
	}
	dbtest.Exec(t, dsn, res.stdout)

	res = run(t, nil, "schema", "check", "--dsn", dsn)
	if res.code != cli.ExitClean {
		t.Fatalf("schema check after the fixes: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	if strings.Contains(res.stdout, "warn ") || strings.Contains(res.stdout, "--") {
		t.Errorf("something left after the fixes:\n%s", res.stdout)
	}

	res = run(t, nil, "schema", "sql", "--dsn", dsn)
	if res.code != cli.ExitClean || !strings.Contains(res.stdout, "-- Nothing to do") || strings.Contains(res.stdout, "ALTER") {
		t.Errorf("schema sql on the fixed table: exit %d\n%s", res.code, res.stdout)
	}

	// The audit now runs on the table (and finds nothing on an empty root).
	res = run(t, nil, "audit", "--dsn", dsn, "--root", t.TempDir(), "--path-prefix", "/mnt/efs", "--log-level", "error")
	if res.code != cli.ExitClean {
		t.Errorf("audit on the fixed table: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
}

// TestSchemaSQLLeavesTypesToAPerson: a recommended column of another type is
// named in a comment, not changed.
func TestSchemaSQLLeavesTypesToAPerson(t *testing.T) {
	dsn := dbtest.New(t)
	dbtest.LoadSchema(t, dsn)
	dbtest.Exec(t, dsn, "ALTER TABLE whatsapp_accounts MODIFY COLUMN assigned_instance_url VARCHAR(100) NULL;")
	res := run(t, nil, "schema", "sql", "--dsn", dsn)
	want := "-- Not changed, see to it by hand: column assigned_instance_url: varchar(100): holds 100 characters, the migration 255"
	if res.code != cli.ExitClean || !strings.Contains(res.stdout, want) || strings.Contains(res.stdout, "ALTER") {
		t.Errorf("exit %d, want 0 and %q without statements:\n%s", res.code, want, res.stdout)
	}
	res = run(t, nil, "schema", "check", "--dsn", dsn)
	if res.code != cli.ExitClean || !strings.Contains(res.stdout, "warn   column assigned_instance_url") {
		t.Errorf("check: exit %d\n%s", res.code, res.stdout)
	}
}

func TestSchemaFailures(t *testing.T) {
	dsn := dbtest.New(t)
	tests := []struct {
		name     string
		args     []string
		wantCode int
		want     string // in the one line on stderr
	}{
		{"no table", []string{"schema", "check", "--dsn", dsn}, cli.ExitFailed, "table not found: whatsapp_accounts (check --table"},
		{"no table, sql", []string{"schema", "sql", "--dsn", dsn}, cli.ExitFailed, "table not found"},
		{"other table", []string{"schema", "check", "--dsn", dsn, "--table", "accounts"}, cli.ExitFailed, "table not found: accounts"},
		{"unreachable", []string{"schema", "check", "--dsn", "root:Pw-7f3k-SECRET@tcp(127.0.0.1:1)/test"}, cli.ExitFailed, "unreachable"},
		{"bad dsn", []string{"schema", "check", "--dsn", "root:Pw-7f3k-SECRET@tcp(127.0.0.1:1/test"}, cli.ExitFailed, "--dsn"},
		{"bad table name", []string{"schema", "check", "--dsn", dsn, "--table", "a;b"}, cli.ExitFailed, "bad table name"},
		{"no dsn", []string{"schema", "check"}, cli.ExitFailed, "--dsn, SESSAUDIT_DSN or --laravel-env is required"},
		{"bad format", []string{"schema", "check", "--dsn", dsn, "--format", "xml"}, cli.ExitFailed, `--format "xml": want text or json`},
		{"no format for sql", []string{"schema", "sql", "--dsn", dsn, "--format", "json"}, cli.ExitFailed, "unknown flag --format; see 'sessaudit schema sql -h'"},
		{"no subcommand", []string{"schema"}, cli.ExitFailed, "want a subcommand: check or sql"},
		{"unknown subcommand", []string{"schema", "fix", "--dsn", dsn}, cli.ExitFailed, `sessaudit schema: unknown subcommand "fix": want check or sql; see 'sessaudit schema -h'`},
		{"extra argument", []string{"schema", "check", "--dsn", dsn, "now"}, cli.ExitFailed, `sessaudit schema check: unexpected argument "now"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := run(t, nil, tc.args...)
			if res.code != tc.wantCode {
				t.Fatalf("exit %d, want %d\nstdout %s\nstderr %s", res.code, tc.wantCode, res.stdout, res.stderr)
			}
			if !strings.Contains(res.stderr, tc.want) {
				t.Errorf("stderr lacks %q:\n%s", tc.want, res.stderr)
			}
			if tc.wantCode == cli.ExitFailed {
				if n := strings.Count(strings.TrimSpace(res.stderr), "\n"); n != 0 {
					t.Errorf("stderr has %d lines, want 1:\n%s", n+1, res.stderr)
				}
			}
			if strings.Contains(res.stdout+res.stderr, "Pw-7f3k-SECRET") {
				t.Errorf("password leaked:\n%s%s", res.stdout, res.stderr)
			}
			if res.stdout != "" {
				t.Errorf("stdout not empty: %s", res.stdout)
			}
		})
	}
}

func TestSchemaDSNFromEnvironment(t *testing.T) {
	dsn := dbtest.New(t)
	dbtest.LoadSchema(t, dsn)
	var stdout, stderr bytes.Buffer
	code := cli.Run(context.Background(), []string{"schema", "check", "--format", "json"}, cli.Env{
		Stdout: &stdout, Stderr: &stderr,
		Getenv: func(k string) string {
			if k == "SESSAUDIT_DSN" {
				return dsn
			}
			return ""
		},
	})
	if code != cli.ExitClean || !strings.Contains(stdout.String(), `"required_ok":true`) {
		t.Errorf("exit %d\nstdout %s\nstderr %s", code, stdout.String(), stderr.String())
	}
}

// TestAuditRefusesPremigration: the audit refuses a table without the
// storage columns, and points to schema check.
func TestAuditRefusesPremigration(t *testing.T) {
	dsn := dbtest.New(t)
	loadTestdata(t, dsn, "schema_premigration.sql")
	res := run(t, nil, "audit", "--dsn", dsn, "--root", t.TempDir(), "--path-prefix", "/mnt/efs", "--log-level", "error")
	if res.code != cli.ExitFailed {
		t.Fatalf("exit %d, want 2\n%s%s", res.code, res.stdout, res.stderr)
	}
	for _, want := range []string{
		"lacks required columns: session_storage_path, session_file_size_bytes, session_storage_verified_at",
		"sessaudit schema check",
	} {
		if !strings.Contains(res.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, res.stderr)
		}
	}
	if res.stdout != "" {
		t.Errorf("stdout not empty: %s", res.stdout)
	}
}
