package db_test

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
	"sessaudit/db/dbtest"
)

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

func TestInspect(t *testing.T) {
	t.Logf("backend: %s", dbtest.Backend())
	dsn := newDB(t)
	for _, table := range []string{"", "whatsapp_accounts", dbName(t, dsn) + ".whatsapp_accounts"} {
		t.Run("table "+table, func(t *testing.T) {
			s := inspect(t, dsn, table)
			if s.Database != dbName(t, dsn) {
				t.Errorf("Database = %q, want %q", s.Database, dbName(t, dsn))
			}
			if want := cmpOr(table, "whatsapp_accounts"); s.Table != want {
				t.Errorf("Table = %q, want %q", s.Table, want)
			}
			var names []string
			for _, c := range s.Columns {
				names = append(names, c.Name)
			}
			want := []string{"id", "uuid", "workspace_id", "assigned_instance_index", "previous_instance_index",
				"assigned_instance_url", "session_id", "phone_number", "provider_type", "status", "qr_code",
				"session_data", "session_storage_path", "session_file_size_bytes", "session_storage_verified_at",
				"is_primary", "is_active", "last_activity_at", "last_connected_at", "disconnected_at",
				"disconnect_reason", "disconnect_details", "last_cleanup_at", "session_restore_count",
				"instance_migration_count", "last_instance_migration_at", "health_score", "metadata",
				"created_by", "created_at", "updated_at", "deleted_at"}
			if !slices.Equal(names, want) {
				t.Errorf("columns\n got %v\nwant %v", names, want)
			}
			for _, tc := range []struct {
				name, dataType string
				maxLength      int64
				unsigned       bool
				nullable       bool
			}{
				{"id", "bigint", 0, true, false},
				{"session_storage_path", "varchar", 500, false, true},
				{"session_file_size_bytes", "bigint", 0, false, true},
				{"session_storage_verified_at", "timestamp", 0, false, true},
				{"disconnect_reason", "enum", 16, false, true},
				{"SESSION_ID", "varchar", 255, false, false},
			} {
				c, ok := s.Column(tc.name)
				if !ok {
					t.Errorf("Column(%q) not found", tc.name)
					continue
				}
				if c.DataType != tc.dataType || c.MaxLength != tc.maxLength || c.Unsigned() != tc.unsigned || c.Nullable != tc.nullable {
					t.Errorf("Column(%q) = %+v, want %s, length %d, unsigned %v, nullable %v",
						tc.name, c, tc.dataType, tc.maxLength, tc.unsigned, tc.nullable)
				}
			}
			var indexes []string
			for _, ix := range s.Indexes {
				u := ""
				if ix.Unique {
					u = "unique "
				}
				indexes = append(indexes, u+ix.Name+"("+strings.Join(ix.Columns, ",")+")")
			}
			wantIx := []string{
				"unique PRIMARY(id)",
				"idx_disconnect_analytics(disconnect_reason,disconnected_at)",
				"idx_instance_assignment(assigned_instance_index)",
				"idx_provider_active(provider_type,is_active)",
				"idx_session_status(session_id,status)",
				"idx_stale_detection(status,last_activity_at)",
				"idx_workspace_primary(workspace_id,is_primary)",
				"idx_workspace_status(workspace_id,status)",
				"unique whatsapp_accounts_session_id_unique(session_id)",
				"unique whatsapp_accounts_uuid_unique(uuid)",
			}
			if !slices.Equal(indexes, wantIx) {
				t.Errorf("indexes\n got %v\nwant %v", indexes, wantIx)
			}
		})
	}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func TestInspectErrors(t *testing.T) {
	dsn := dbtest.New(t)
	dbtest.Exec(t, dsn, "CREATE TABLE accounts (id BIGINT UNSIGNED PRIMARY KEY);")
	tests := []struct {
		name  string
		dsn   string
		table string
		want  error
	}{
		{"no table", dsn, "", db.ErrNoTable},
		{"no table in that schema", dsn, "nope.accounts", db.ErrNoTable},
		{"bad table name", dsn, "a;b", db.ErrBadTable},
		{"bad dsn", "root:" + secret + "@tcp(127.0.0.1:3306", "", db.ErrBadDSN},
		{"no database", "root:" + secret + "@tcp(127.0.0.1:1)/", "", db.ErrBadDSN},
		{"unreachable", "root:" + secret + "@tcp(127.0.0.1:1)/test", "", db.ErrUnreachable},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := db.Inspect(context.Background(), db.Config{DSN: tc.dsn, Table: tc.table, ConnectTimeout: 5 * time.Second})
			if !errors.Is(err, tc.want) {
				t.Fatalf("Inspect = %+v, %v; want %v", s, err, tc.want)
			}
			assertNoSecret(t, err, secret)
		})
	}
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
	allRecommended := map[string]db.Status{
		"column assigned_instance_index":    db.StatusWarn,
		"column assigned_instance_url":      db.StatusWarn,
		"column disconnected_at":            db.StatusWarn,
		"column disconnect_reason":          db.StatusWarn,
		"column disconnect_details":         db.StatusWarn,
		"column instance_migration_count":   db.StatusWarn,
		"column last_instance_migration_at": db.StatusWarn,
		"column previous_instance_index":    db.StatusWarn,
		"index idx_instance_assignment":     db.StatusWarn,
		"index idx_disconnect_analytics":    db.StatusWarn,
	}
	merge := func(m map[string]db.Status, more map[string]db.Status) map[string]db.Status {
		out := make(map[string]db.Status)
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
		want      map[string]db.Status
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
			want: merge(allRecommended, map[string]db.Status{
				"column session_storage_path":                                            db.StatusError,
				"column session_file_size_bytes":                                         db.StatusError,
				"column session_storage_verified_at":                                     db.StatusError,
				"unique index whatsapp_accounts_phone_number_workspace_id_status_unique": db.StatusError,
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
			want: merge(allRecommended, map[string]db.Status{
				"column session_storage_path":    db.StatusWarn,
				"column session_file_size_bytes": db.StatusError,
				"unique index phone_number":      db.StatusError,
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
			want:      map[string]db.Status{"index idx_disconnect_analytics": db.StatusWarn},
			wantFixes: 1,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dsn := dbtest.New(t)
			dbtest.Exec(t, dsn, tc.setup)
			cl := inspect(t, dsn, "").Check()
			if cl.Ready() != tc.wantReady {
				t.Errorf("Ready() = %v, want %v", cl.Ready(), tc.wantReady)
			}
			seen := map[string]bool{}
			for _, it := range cl.Items {
				seen[it.Name] = true
				want, listed := tc.want[it.Name]
				if !listed {
					want = db.StatusOK
				}
				if it.Status != want {
					t.Errorf("%s: %s (%s), want %s", it.Name, it.Status, it.Detail, want)
				}
				if (it.Status == db.StatusOK) != (it.Fix == "") {
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
	got := inspect(t, dsn, "").Check().SQL()
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
			fixes := inspect(t, dsn, "").Check().SQL()
			if len(fixes) == 0 {
				t.Fatal("nothing to fix")
			}
			dbtest.Exec(t, dsn, strings.Join(fixes, "\n"))
			after := inspect(t, dsn, "").Check()
			for _, it := range after.Items {
				if it.Fix != "" || it.Status == db.StatusError {
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
	for _, it := range inspect(t, dsn, "").Check().Items {
		if it.Status == db.StatusError && strings.HasPrefix(it.Name, "column ") {
			required = append(required, strings.TrimPrefix(it.Name, "column "))
		}
	}
	slices.Sort(required)
	openCols := slices.Sorted(slices.Values(mce.Columns))
	if !slices.Equal(required, openCols) {
		t.Errorf("required column items %v, Open requires %v", required, openCols)
	}
}
