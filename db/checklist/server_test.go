package checklist_test

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"sessaudit/db"
	"sessaudit/db/checklist"
	"sessaudit/db/dbtest"
)

// These tests build tables on the server (embedded, or MariaDB with
// SESSAUDIT_TEST_MYSQL_DSN), read them with db.Inspect and judge them.

// newDB returns the DSN of a fresh database holding testdata/schema.sql.
func newDB(t *testing.T) string {
	t.Helper()
	dsn := dbtest.New(t)
	dbtest.LoadSchema(t, dsn)
	return dsn
}

// premigration is testdata/schema_premigration.sql: the table before the
// four migrations, with the old unique key on phone_number.
func premigration(t *testing.T) string {
	t.Helper()
	schema, err := dbtest.SchemaPath()
	if err != nil {
		t.Fatal(err)
	}
	text, err := os.ReadFile(filepath.Join(filepath.Dir(schema), "schema_premigration.sql"))
	if err != nil {
		t.Fatal(err)
	}
	return string(text)
}

// storageMigration is migration 3, as the document writes it, plus the
// removal of the old unique key: what a team that ran only what the audit
// needs has.
const storageMigration = `
ALTER TABLE whatsapp_accounts ADD COLUMN session_storage_path VARCHAR(500) NULL COMMENT 'Path to session files in shared storage' AFTER session_data;
ALTER TABLE whatsapp_accounts ADD COLUMN session_file_size_bytes BIGINT NULL COMMENT 'Total size of session files' AFTER session_storage_path;
ALTER TABLE whatsapp_accounts ADD COLUMN session_storage_verified_at TIMESTAMP NULL COMMENT 'Last time session files were verified' AFTER session_file_size_bytes;
ALTER TABLE whatsapp_accounts DROP INDEX whatsapp_accounts_phone_number_workspace_id_status_unique;
`

func inspect(t *testing.T, dsn, table string) *db.Schema {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := db.Inspect(ctx, db.Config{DSN: dsn, Table: table})
	if err != nil {
		t.Fatalf("Inspect: %v", err)
	}
	return s
}

// TestCheck runs the checklist on tables built on the server. Items not
// listed in want must be ok.
func TestCheck(t *testing.T) {
	t.Logf("backend: %s", dbtest.Backend())
	schemaPath, err := dbtest.SchemaPath()
	if err != nil {
		t.Fatal(err)
	}
	full, err := os.ReadFile(schemaPath)
	if err != nil {
		t.Fatal(err)
	}
	allRecommended := map[string]checklist.Status{
		"column assigned_instance_index":    checklist.StatusWarn,
		"column assigned_instance_url":      checklist.StatusWarn,
		"column disconnected_at":            checklist.StatusWarn,
		"column disconnect_reason":          checklist.StatusWarn,
		"column disconnect_details":         checklist.StatusWarn,
		"column instance_migration_count":   checklist.StatusWarn,
		"column last_instance_migration_at": checklist.StatusWarn,
		"column previous_instance_index":    checklist.StatusWarn,
		"index idx_instance_assignment":     checklist.StatusWarn,
		"index idx_disconnect_analytics":    checklist.StatusWarn,
	}
	merge := func(m map[string]checklist.Status, more map[string]checklist.Status) map[string]checklist.Status {
		out := make(map[string]checklist.Status)
		for k, v := range m {
			out[k] = v
		}
		for k, v := range more {
			out[k] = v
		}
		return out
	}
	tests := []struct {
		name      string
		setup     string
		wantReady bool
		want      map[string]checklist.Status
		wantFixes int
	}{
		{
			name:      "fully migrated",
			setup:     string(full),
			wantReady: true,
		},
		{
			name:      "pre-migration with the old unique key",
			setup:     premigration(t),
			wantReady: false,
			want: merge(allRecommended, map[string]checklist.Status{
				"column session_storage_path":                                            checklist.StatusError,
				"column session_file_size_bytes":                                         checklist.StatusError,
				"column session_storage_verified_at":                                     checklist.StatusError,
				"unique index whatsapp_accounts_phone_number_workspace_id_status_unique": checklist.StatusError,
				"unique index on phone_number":                                           "",
			}),
			wantFixes: 14,
		},
		{
			name:      "only recommended items missing",
			setup:     premigration(t) + storageMigration,
			wantReady: true,
			want:      allRecommended,
			wantFixes: 10,
		},
		{
			name: "unnamed unique key and narrow storage types",
			setup: `CREATE TABLE whatsapp_accounts (
				id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
				workspace_id BIGINT UNSIGNED NOT NULL,
				session_id VARCHAR(255) NOT NULL,
				phone_number VARCHAR(50) NULL,
				status VARCHAR(20) NULL,
				session_storage_path VARCHAR(255) NULL,
				session_file_size_bytes INT NULL,
				session_storage_verified_at DATETIME NULL,
				UNIQUE KEY (phone_number, workspace_id, status)
			);`,
			wantReady: false,
			want: merge(allRecommended, map[string]checklist.Status{
				"column session_storage_path":    checklist.StatusWarn,
				"column session_file_size_bytes": checklist.StatusError,
				"unique index phone_number":      checklist.StatusError,
				"unique index on phone_number":   "",
			}),
			wantFixes: 13,
		},
		{
			name: "recommended index under another name, another index under the name",
			setup: string(full) + `
				DROP INDEX idx_instance_assignment ON whatsapp_accounts;
				CREATE INDEX by_instance ON whatsapp_accounts (assigned_instance_index, status);
				DROP INDEX idx_disconnect_analytics ON whatsapp_accounts;
				CREATE INDEX idx_disconnect_analytics ON whatsapp_accounts (disconnected_at);`,
			wantReady: true,
			want:      map[string]checklist.Status{"index idx_disconnect_analytics": checklist.StatusWarn},
			wantFixes: 1,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dsn := dbtest.New(t)
			dbtest.Exec(t, dsn, tc.setup)
			cl := checklist.Check(inspect(t, dsn, ""))
			if cl.Ready() != tc.wantReady {
				t.Errorf("Ready() = %v, want %v", cl.Ready(), tc.wantReady)
			}
			seen := map[string]bool{}
			for _, it := range cl.Items {
				seen[it.Name] = true
				want, listed := tc.want[it.Name]
				if !listed {
					want = checklist.StatusOK
				}
				if it.Status != want {
					t.Errorf("%s: %s (%s), want %s", it.Name, it.Status, it.Detail, want)
				}
				if (it.Status == checklist.StatusOK) != (it.Fix == "") {
					t.Errorf("%s: status %s with fix %q", it.Name, it.Status, it.Fix)
				}
			}
			for name, status := range tc.want {
				if status != "" && !seen[name] {
					t.Errorf("no item %q", name)
				}
				if status == "" && seen[name] {
					t.Errorf("unexpected item %q", name)
				}
			}
			if got := cl.SQL(); len(got) != tc.wantFixes {
				t.Errorf("SQL() has %d statements, want %d:\n%s", len(got), tc.wantFixes, strings.Join(got, "\n"))
			}
		})
	}
}

// TestCheckSQLPremigration pins the statements for the pre-migration table:
// the migrations' types, comments and AFTER columns, in an order that runs.
func TestCheckSQLPremigration(t *testing.T) {
	dsn := dbtest.New(t)
	dbtest.Exec(t, dsn, premigration(t))
	got := checklist.Check(inspect(t, dsn, "")).SQL()
	want := []string{
		"ALTER TABLE `whatsapp_accounts` ADD COLUMN `session_storage_path` VARCHAR(500) NULL DEFAULT NULL COMMENT 'Path to session files in shared storage' AFTER `session_data`;",
		"ALTER TABLE `whatsapp_accounts` ADD COLUMN `session_file_size_bytes` BIGINT NULL DEFAULT NULL COMMENT 'Total size of session files' AFTER `session_storage_path`;",
		"ALTER TABLE `whatsapp_accounts` ADD COLUMN `session_storage_verified_at` TIMESTAMP NULL DEFAULT NULL COMMENT 'Last time session files were verified' AFTER `session_file_size_bytes`;",
		"ALTER TABLE `whatsapp_accounts` ADD COLUMN `assigned_instance_index` TINYINT NULL DEFAULT NULL COMMENT 'Index of WhatsApp instance handling this session (0-based)' AFTER `workspace_id`;",
		"ALTER TABLE `whatsapp_accounts` ADD COLUMN `assigned_instance_url` VARCHAR(255) NULL DEFAULT NULL COMMENT 'URL of instance handling this session' AFTER `assigned_instance_index`;",
		"ALTER TABLE `whatsapp_accounts` ADD COLUMN `disconnected_at` TIMESTAMP NULL DEFAULT NULL COMMENT 'When session was disconnected' AFTER `last_connected_at`;",
		"ALTER TABLE `whatsapp_accounts` ADD COLUMN `disconnect_reason` ENUM('user_initiated', 'instance_restart', 'timeout', 'error', 'qr_expired', 'unknown') NULL DEFAULT NULL COMMENT 'Reason for disconnect' AFTER `disconnected_at`;",
		"ALTER TABLE `whatsapp_accounts` ADD COLUMN `disconnect_details` TEXT NULL COMMENT 'Additional details about disconnect' AFTER `disconnect_reason`;",
		"ALTER TABLE `whatsapp_accounts` ADD COLUMN `instance_migration_count` INT DEFAULT 0 COMMENT 'Number of times session migrated to different instance' AFTER `session_restore_count`;",
		"ALTER TABLE `whatsapp_accounts` ADD COLUMN `last_instance_migration_at` TIMESTAMP NULL DEFAULT NULL COMMENT 'Last instance migration time' AFTER `instance_migration_count`;",
		"ALTER TABLE `whatsapp_accounts` ADD COLUMN `previous_instance_index` TINYINT NULL DEFAULT NULL COMMENT 'Previous instance index before migration' AFTER `assigned_instance_index`;",
		"ALTER TABLE `whatsapp_accounts` DROP INDEX `whatsapp_accounts_phone_number_workspace_id_status_unique`;",
		"CREATE INDEX `idx_instance_assignment` ON `whatsapp_accounts` (`assigned_instance_index`);",
		"CREATE INDEX `idx_disconnect_analytics` ON `whatsapp_accounts` (`disconnect_reason`, `disconnected_at`);",
	}
	if !slices.Equal(got, want) {
		t.Errorf("SQL()\n got %s\nwant %s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestCheckSQLApplies runs the statements of Check on the server and checks
// again: nothing may be left to fix. Applied to the pre-migration table they
// must give exactly the table of testdata/schema.sql.
func TestCheckSQLApplies(t *testing.T) {
	tests := []struct {
		name  string
		setup string
		// sameAsSchema: the result must equal testdata/schema.sql.
		sameAsSchema bool
	}{
		{"pre-migration", premigration(t), true},
		{"only recommended items missing", premigration(t) + storageMigration, true},
		{
			// The AFTER columns of migrations 2, 3 and 4 are missing, and so are
			// the columns before them: the fixes fall back to earlier columns.
			name: "anchors missing",
			setup: `CREATE TABLE whatsapp_accounts (
				workspace_id BIGINT UNSIGNED NOT NULL,
				session_id VARCHAR(255) NOT NULL,
				phone_number VARCHAR(50) NULL,
				id BIGINT UNSIGNED NOT NULL,
				health_score TINYINT DEFAULT 100,
				UNIQUE KEY phone (phone_number)
			);`,
		},
		{
			name: "index name taken by other columns",
			setup: `CREATE TABLE whatsapp_accounts (
				id BIGINT UNSIGNED NOT NULL PRIMARY KEY,
				workspace_id BIGINT UNSIGNED NOT NULL,
				session_id VARCHAR(255) NOT NULL,
				disconnected_at TIMESTAMP NULL,
				KEY idx_disconnect_analytics (disconnected_at)
			);`,
		},
		{
			name: "storage columns of narrow types",
			setup: premigration(t) + `
				ALTER TABLE whatsapp_accounts ADD COLUMN session_storage_path TINYTEXT NULL;
				ALTER TABLE whatsapp_accounts ADD COLUMN session_file_size_bytes INT UNSIGNED NOT NULL DEFAULT 0;
				ALTER TABLE whatsapp_accounts ADD COLUMN session_storage_verified_at DATE NULL;`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dsn := dbtest.New(t)
			dbtest.Exec(t, dsn, tc.setup)
			fixes := checklist.Check(inspect(t, dsn, "")).SQL()
			if len(fixes) == 0 {
				t.Fatal("nothing to fix")
			}
			dbtest.Exec(t, dsn, strings.Join(fixes, "\n"))
			after := checklist.Check(inspect(t, dsn, ""))
			for _, it := range after.Items {
				if it.Fix != "" || it.Status == checklist.StatusError {
					t.Errorf("after the fixes: %s: %s: %s (fix %q)", it.Name, it.Status, it.Detail, it.Fix)
				}
			}
			if !tc.sameAsSchema {
				return
			}
			ref := newDB(t)
			if got, want := describe(t, dsn), describe(t, ref); !slices.Equal(got, want) {
				t.Errorf("fixed table differs from testdata/schema.sql\n got %s\nwant %s",
					strings.Join(got, "\n     "), strings.Join(want, "\n     "))
			}
		})
	}
}

// describe lists the columns (with everything information_schema says of
// them that a migration sets) and the indexes of whatsapp_accounts.
func describe(t *testing.T, dsn string) []string {
	t.Helper()
	conn, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var out []string
	for _, q := range []string{
		`SELECT CONCAT_WS(' | ', ordinal_position, column_name, column_type, is_nullable, COALESCE(column_default, 'NULL'), column_comment)
		 FROM information_schema.columns WHERE table_schema = DATABASE() AND table_name = 'whatsapp_accounts' ORDER BY ordinal_position`,
		`SELECT CONCAT_WS(' | ', index_name, non_unique, seq_in_index, column_name)
		 FROM information_schema.statistics WHERE table_schema = DATABASE() AND table_name = 'whatsapp_accounts' ORDER BY index_name, seq_in_index`,
	} {
		rows, err := conn.Query(q)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				t.Fatal(err)
			}
			out = append(out, s)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		rows.Close()
	}
	return out
}

// TestCheckMatchesOpen: the columns Open refuses to work without are exactly
// the required column items, so that schema check passes whenever Open does.
func TestCheckMatchesOpen(t *testing.T) {
	dsn := dbtest.New(t)
	dbtest.Exec(t, dsn, "CREATE TABLE whatsapp_accounts (other INT);")
	_, err := db.Open(context.Background(), db.Config{DSN: dsn})
	var mce *db.MissingColumnsError
	if !errors.As(err, &mce) {
		t.Fatalf("Open = %v, want a *MissingColumnsError", err)
	}
	var required []string
	for _, it := range checklist.Check(inspect(t, dsn, "")).Items {
		if it.Status == checklist.StatusError && strings.HasPrefix(it.Name, "column ") {
			required = append(required, strings.TrimPrefix(it.Name, "column "))
		}
	}
	slices.Sort(required)
	openCols := slices.Sorted(slices.Values(mce.Columns))
	if !slices.Equal(required, openCols) {
		t.Errorf("required column items %v, Open requires %v", required, openCols)
	}
}
