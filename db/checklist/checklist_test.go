package checklist_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"sessaudit/db"
	"sessaudit/db/checklist"
)

// migrated is the fully migrated table as Inspect reads it from MySQL 8,
// reduced to what the checklist looks at.
func migrated() *db.Schema {
	col := func(name, dataType, columnType string, maxLength int64) db.Column {
		return db.Column{Name: name, DataType: dataType, ColumnType: columnType, MaxLength: maxLength, Nullable: true}
	}
	return &db.Schema{
		Database: "app",
		Table:    "whatsapp_accounts",
		Columns: []db.Column{
			col("id", "bigint", "bigint unsigned", 0),
			col("workspace_id", "bigint", "bigint unsigned", 0),
			col("assigned_instance_index", "tinyint", "tinyint", 0),
			col("previous_instance_index", "tinyint", "tinyint", 0),
			col("assigned_instance_url", "varchar", "varchar(255)", 255),
			col("session_id", "varchar", "varchar(255)", 255),
			col("phone_number", "varchar", "varchar(50)", 50),
			col("session_data", "longtext", "longtext", 4294967295),
			col("session_storage_path", "varchar", "varchar(500)", 500),
			col("session_file_size_bytes", "bigint", "bigint", 0),
			col("session_storage_verified_at", "timestamp", "timestamp", 0),
			col("last_connected_at", "timestamp", "timestamp", 0),
			col("disconnected_at", "timestamp", "timestamp", 0),
			col("disconnect_reason", "enum", "enum('user_initiated','instance_restart','timeout','error','qr_expired','unknown')", 16),
			col("disconnect_details", "text", "text", 65535),
			col("session_restore_count", "int", "int", 0),
			col("instance_migration_count", "int", "int", 0),
			col("last_instance_migration_at", "timestamp", "timestamp", 0),
		},
		Indexes: []db.Index{
			{Name: "PRIMARY", Unique: true, Columns: []string{"id"}},
			{Name: "idx_disconnect_analytics", Columns: []string{"disconnect_reason", "disconnected_at"}},
			{Name: "idx_instance_assignment", Columns: []string{"assigned_instance_index"}},
		},
	}
}

// with returns s with the named column replaced (or, when c has no name,
// removed).
func with(s *db.Schema, name string, c db.Column) *db.Schema {
	i := slices.IndexFunc(s.Columns, func(c db.Column) bool { return c.Name == name })
	if c.Name == "" {
		s.Columns = slices.Delete(s.Columns, i, i+1)
	} else {
		s.Columns[i] = c
	}
	return s
}

func item(cl *checklist.Result, name string) (checklist.Item, bool) {
	i := slices.IndexFunc(cl.Items, func(it checklist.Item) bool { return it.Name == name })
	if i < 0 {
		return checklist.Item{}, false
	}
	return cl.Items[i], true
}

func TestCheckColumnTypes(t *testing.T) {
	tests := []struct {
		name       string
		column     string
		dataType   string
		columnType string
		maxLength  int64
		want       checklist.Status
		detail     string // in Detail
		fix        string // Fix, "" for none
	}{
		{"path varchar 500", "session_storage_path", "varchar", "varchar(500)", 500, checklist.StatusOK, "varchar(500)", ""},
		{"path varchar 1024", "session_storage_path", "varchar", "varchar(1024)", 1024, checklist.StatusOK, "", ""},
		{"path text (MariaDB length)", "session_storage_path", "text", "text", 65535, checklist.StatusOK, "", ""},
		{"path text (go-mysql-server length)", "session_storage_path", "text", "text", 16383, checklist.StatusOK, "", ""},
		{"path longtext", "session_storage_path", "longtext", "longtext", 4294967295, checklist.StatusOK, "", ""},
		{"path varchar 255", "session_storage_path", "varchar", "varchar(255)", 255, checklist.StatusWarn, "holds 255 characters",
			"ALTER TABLE `whatsapp_accounts` MODIFY COLUMN `session_storage_path` VARCHAR(500) NULL DEFAULT NULL COMMENT 'Path to session files in shared storage';"},
		{"path tinytext", "session_storage_path", "tinytext", "tinytext", 255, checklist.StatusWarn, "255 bytes",
			"ALTER TABLE `whatsapp_accounts` MODIFY COLUMN `session_storage_path` VARCHAR(500) NULL DEFAULT NULL COMMENT 'Path to session files in shared storage';"},
		{"path char", "session_storage_path", "char", "char(200)", 200, checklist.StatusError, "not VARCHAR or TEXT",
			"ALTER TABLE `whatsapp_accounts` MODIFY COLUMN `session_storage_path` VARCHAR(500) NULL DEFAULT NULL COMMENT 'Path to session files in shared storage';"},
		{"path varbinary", "session_storage_path", "varbinary", "varbinary(500)", 500, checklist.StatusError, "not VARCHAR or TEXT",
			"ALTER TABLE `whatsapp_accounts` MODIFY COLUMN `session_storage_path` VARCHAR(500) NULL DEFAULT NULL COMMENT 'Path to session files in shared storage';"},

		{"size bigint", "session_file_size_bytes", "bigint", "bigint", 0, checklist.StatusOK, "bigint", ""},
		{"size bigint unsigned (MariaDB)", "session_file_size_bytes", "bigint", "bigint(20) unsigned", 0, checklist.StatusOK, "bigint(20) unsigned", ""},
		{"size int", "session_file_size_bytes", "int", "int(11)", 0, checklist.StatusError, "up to 2147483647 bytes (2 GiB)",
			"ALTER TABLE `whatsapp_accounts` MODIFY COLUMN `session_file_size_bytes` BIGINT NULL DEFAULT NULL COMMENT 'Total size of session files';"},
		{"size int unsigned", "session_file_size_bytes", "int", "int unsigned", 0, checklist.StatusError, "up to 4294967295 bytes (4 GiB)",
			"ALTER TABLE `whatsapp_accounts` MODIFY COLUMN `session_file_size_bytes` BIGINT NULL DEFAULT NULL COMMENT 'Total size of session files';"},
		{"size mediumint", "session_file_size_bytes", "mediumint", "mediumint", 0, checklist.StatusError, "(8 MiB)",
			"ALTER TABLE `whatsapp_accounts` MODIFY COLUMN `session_file_size_bytes` BIGINT NULL DEFAULT NULL COMMENT 'Total size of session files';"},
		{"size decimal", "session_file_size_bytes", "decimal", "decimal(20,0)", 0, checklist.StatusError, "not an integer type",
			"ALTER TABLE `whatsapp_accounts` MODIFY COLUMN `session_file_size_bytes` BIGINT NULL DEFAULT NULL COMMENT 'Total size of session files';"},

		{"verified timestamp", "session_storage_verified_at", "timestamp", "timestamp", 0, checklist.StatusOK, "", ""},
		{"verified datetime", "session_storage_verified_at", "datetime", "datetime(6)", 0, checklist.StatusOK, "datetime(6)", ""},
		{"verified date", "session_storage_verified_at", "date", "date", 0, checklist.StatusError, "not TIMESTAMP or DATETIME",
			"ALTER TABLE `whatsapp_accounts` MODIFY COLUMN `session_storage_verified_at` TIMESTAMP NULL DEFAULT NULL COMMENT 'Last time session files were verified';"},

		// A recommended column of another type is a warning without a fix.
		{"instance index smallint", "assigned_instance_index", "smallint", "smallint", 0, checklist.StatusOK, "", ""},
		{"instance index varchar", "assigned_instance_index", "varchar", "varchar(10)", 10, checklist.StatusWarn, "the audit reads it as an integer", ""},
		{"instance url varchar 100", "assigned_instance_url", "varchar", "varchar(100)", 100, checklist.StatusWarn, "holds 100 characters, the migration 255", ""},
		{"instance url text", "assigned_instance_url", "text", "text", 65535, checklist.StatusOK, "", ""},
		{"disconnected_at datetime", "disconnected_at", "datetime", "datetime", 0, checklist.StatusOK, "", ""},
		{"reason superset", "disconnect_reason", "enum", "enum('user_initiated','instance_restart','timeout','error','qr_expired','unknown','banned')", 16, checklist.StatusOK, "", ""},
		{"reason lacking values", "disconnect_reason", "enum", "enum('user_initiated','timeout','error','unknown')", 14, checklist.StatusWarn, "lacks the values 'instance_restart', 'qr_expired'", ""},
		{"reason varchar", "disconnect_reason", "varchar", "varchar(32)", 32, checklist.StatusWarn, "not ENUM", ""},
		{"details varchar", "disconnect_details", "varchar", "varchar(255)", 255, checklist.StatusWarn, "not TEXT", ""},
		{"migration count bigint", "instance_migration_count", "bigint", "bigint", 0, checklist.StatusOK, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := with(migrated(), tc.column, db.Column{Name: tc.column, DataType: tc.dataType, ColumnType: tc.columnType, MaxLength: tc.maxLength})
			cl := checklist.Check(s)
			it, ok := item(cl, "column "+tc.column)
			if !ok {
				t.Fatalf("no item for %s", tc.column)
			}
			if it.Status != tc.want || !strings.Contains(it.Detail, tc.detail) || it.Fix != tc.fix {
				t.Errorf("got %s %q fix %q\nwant %s %q fix %q", it.Status, it.Detail, it.Fix, tc.want, tc.detail, tc.fix)
			}
			if want := tc.want != checklist.StatusError; cl.Ready() != want {
				t.Errorf("Ready() = %v, want %v", cl.Ready(), want)
			}
			for _, other := range cl.Items {
				if other.Name != it.Name && other.Status != checklist.StatusOK {
					t.Errorf("%s: %s (%s), want ok", other.Name, other.Status, other.Detail)
				}
			}
		})
	}
}

func TestCheckPositions(t *testing.T) {
	tests := []struct {
		name    string
		table   string
		columns []string // the table's columns; all of them VARCHAR(10)
		want    []string // the ADD COLUMN fixes, "column position"
	}{
		{
			name:    "base table",
			columns: []string{"id", "workspace_id", "session_id", "session_data", "last_connected_at", "session_restore_count"},
			want: []string{
				"session_storage_path AFTER `session_data`",
				"session_file_size_bytes AFTER `session_storage_path`",
				"session_storage_verified_at AFTER `session_file_size_bytes`",
				"assigned_instance_index AFTER `workspace_id`",
				"assigned_instance_url AFTER `assigned_instance_index`",
				"disconnected_at AFTER `last_connected_at`",
				"disconnect_reason AFTER `disconnected_at`",
				"disconnect_details AFTER `disconnect_reason`",
				"instance_migration_count AFTER `session_restore_count`",
				"last_instance_migration_at AFTER `instance_migration_count`",
				"previous_instance_index AFTER `assigned_instance_index`",
			},
		},
		{
			name:    "the AFTER columns missing",
			columns: []string{"session_id", "uuid", "qr_code", "is_active", "id"},
			want: []string{
				"session_storage_path AFTER `qr_code`",
				"session_file_size_bytes AFTER `session_storage_path`",
				"session_storage_verified_at AFTER `session_file_size_bytes`",
				"assigned_instance_index AFTER `uuid`",
				"assigned_instance_url AFTER `assigned_instance_index`",
				"disconnected_at AFTER `is_active`",
				"disconnect_reason AFTER `disconnected_at`",
				"disconnect_details AFTER `disconnect_reason`",
				"instance_migration_count AFTER `disconnect_details`",
				"last_instance_migration_at AFTER `instance_migration_count`",
				"previous_instance_index AFTER `assigned_instance_index`",
			},
		},
		{
			name:    "nothing before workspace_id",
			columns: []string{"session_id", "session_data"},
			want: []string{
				"session_storage_path AFTER `session_data`",
				"session_file_size_bytes AFTER `session_storage_path`",
				"session_storage_verified_at AFTER `session_file_size_bytes`",
				"assigned_instance_index FIRST",
				"assigned_instance_url AFTER `assigned_instance_index`",
				"disconnected_at AFTER `session_storage_verified_at`",
				"disconnect_reason AFTER `disconnected_at`",
				"disconnect_details AFTER `disconnect_reason`",
				"instance_migration_count AFTER `disconnect_details`",
				"last_instance_migration_at AFTER `instance_migration_count`",
				"previous_instance_index AFTER `assigned_instance_index`",
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := &db.Schema{Table: "whatsapp_accounts"}
			for _, c := range tc.columns {
				s.Columns = append(s.Columns, db.Column{Name: c, DataType: "varchar", ColumnType: "varchar(10)", MaxLength: 10})
			}
			var got []string
			for _, fix := range checklist.Check(s).SQL() {
				rest, ok := strings.CutPrefix(fix, "ALTER TABLE `whatsapp_accounts` ADD COLUMN `")
				if !ok {
					continue
				}
				name, _, _ := strings.Cut(rest, "`")
				pos := rest[strings.LastIndex(rest, "'")+2 : len(rest)-1]
				got = append(got, name+" "+pos)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("positions\n got %s\nwant %s", strings.Join(got, "\n     "), strings.Join(tc.want, "\n     "))
			}
		})
	}
}

func TestCheckPhoneUnique(t *testing.T) {
	tests := []struct {
		name    string
		indexes []db.Index
		want    []string // "status name fix"
	}{
		{
			name:    "non-unique index on phone_number",
			indexes: []db.Index{{Name: "by_phone", Columns: []string{"phone_number"}}},
			want:    []string{"ok unique index on phone_number "},
		},
		{
			name: "two unique indexes",
			indexes: []db.Index{
				{Name: "phone_number", Unique: true, Columns: []string{"phone_number", "workspace_id", "status"}},
				{Name: "Phone", Unique: true, Columns: []string{"workspace_id", "PHONE_NUMBER"}},
			},
			want: []string{
				"error unique index phone_number ALTER TABLE `app`.`whatsapp_accounts` DROP INDEX `phone_number`;",
				"error unique index Phone ALTER TABLE `app`.`whatsapp_accounts` DROP INDEX `Phone`;",
			},
		},
		{
			name:    "primary key",
			indexes: []db.Index{{Name: "PRIMARY", Unique: true, Columns: []string{"id", "phone_number"}}},
			want:    []string{"error unique index PRIMARY "},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := migrated()
			s.Table = "app.whatsapp_accounts"
			s.Indexes = append(s.Indexes, tc.indexes...)
			cl := checklist.Check(s)
			var got []string
			for _, it := range cl.Items {
				if strings.HasPrefix(it.Name, "unique index") {
					got = append(got, string(it.Status)+" "+it.Name+" "+it.Fix)
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("items\n got %q\nwant %q", got, tc.want)
			}
			if want := tc.want[0][:2] == "ok"; cl.Ready() != want {
				t.Errorf("Ready() = %v, want %v", cl.Ready(), want)
			}
		})
	}
}

func TestCheckIndexes(t *testing.T) {
	tests := []struct {
		name    string
		indexes []db.Index
		want    string // "status detail fix" of index idx_instance_assignment
	}{
		{
			"as the migration",
			[]db.Index{{Name: "idx_instance_assignment", Columns: []string{"assigned_instance_index"}}},
			"ok (assigned_instance_index) ",
		},
		{
			"leading columns under another name",
			[]db.Index{{Name: "by_instance", Columns: []string{"Assigned_Instance_Index", "status"}}},
			"ok (Assigned_Instance_Index, status) as by_instance ",
		},
		{
			"missing",
			nil,
			"warn missing: no index on (assigned_instance_index); recommended (migration 1, instance tracking) CREATE INDEX `idx_instance_assignment` ON `whatsapp_accounts` (`assigned_instance_index`);",
		},
		{
			"not leading",
			[]db.Index{{Name: "by_status", Columns: []string{"status", "assigned_instance_index"}}},
			"warn missing: no index on (assigned_instance_index); recommended (migration 1, instance tracking) CREATE INDEX `idx_instance_assignment` ON `whatsapp_accounts` (`assigned_instance_index`);",
		},
		{
			"name taken",
			[]db.Index{{Name: "idx_instance_assignment", Columns: []string{"status"}}},
			"warn indexes (status), the migration's indexes (assigned_instance_index); recommended (migration 1, instance tracking) ALTER TABLE `whatsapp_accounts` DROP INDEX `idx_instance_assignment`, ADD INDEX `idx_instance_assignment` (`assigned_instance_index`);",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := migrated()
			s.Indexes = slices.DeleteFunc(s.Indexes, func(ix db.Index) bool { return ix.Name == "idx_instance_assignment" })
			s.Indexes = append(s.Indexes, tc.indexes...)
			it, ok := item(checklist.Check(s), "index idx_instance_assignment")
			if !ok {
				t.Fatal("no item")
			}
			if got := string(it.Status) + " " + it.Detail + " " + it.Fix; got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestCheckMigrated(t *testing.T) {
	cl := checklist.Check(migrated())
	if !cl.Ready() || len(cl.SQL()) != 0 {
		t.Errorf("Ready() = %v, SQL() = %q; want true, none", cl.Ready(), cl.SQL())
	}
	var names []string
	for _, it := range cl.Items {
		if it.Status != checklist.StatusOK {
			t.Errorf("%s: %s (%s)", it.Name, it.Status, it.Detail)
		}
		names = append(names, it.Name)
	}
	want := []string{
		"column id", "column workspace_id", "column session_id",
		"column session_storage_path", "column session_file_size_bytes", "column session_storage_verified_at",
		"column assigned_instance_index", "column assigned_instance_url",
		"column disconnected_at", "column disconnect_reason", "column disconnect_details",
		"column instance_migration_count", "column last_instance_migration_at", "column previous_instance_index",
		"unique index on phone_number", "index idx_instance_assignment", "index idx_disconnect_analytics",
	}
	if !slices.Equal(names, want) {
		t.Errorf("items\n got %q\nwant %q", names, want)
	}
}

// TestUsable: the audit refuses exactly the required columns that Check
// rates an error; warnings and a unique index on phone_number pass.
func TestUsable(t *testing.T) {
	tests := []struct {
		name   string
		schema func() *db.Schema
		want   error  // nil: usable
		detail string // in the error
	}{
		{"migrated", migrated, nil, ""},
		{"int size", func() *db.Schema {
			return with(migrated(), "session_file_size_bytes", db.Column{Name: "session_file_size_bytes", DataType: "int", ColumnType: "int(11)"})
		}, checklist.ErrUnusableColumns, "session_file_size_bytes is int(11): holds sizes up to 2147483647 bytes (2 GiB)"},
		{"char path", func() *db.Schema {
			return with(migrated(), "session_storage_path", db.Column{Name: "session_storage_path", DataType: "char", ColumnType: "char(200)", MaxLength: 200})
		}, checklist.ErrUnusableColumns, "session_storage_path is char(200): not VARCHAR or TEXT"},
		{"short path only warns", func() *db.Schema {
			return with(migrated(), "session_storage_path", db.Column{Name: "session_storage_path", DataType: "varchar", ColumnType: "varchar(255)", MaxLength: 255})
		}, nil, ""},
		{"recommended column of another type", func() *db.Schema {
			return with(migrated(), "assigned_instance_index", db.Column{Name: "assigned_instance_index", DataType: "varchar", ColumnType: "varchar(10)", MaxLength: 10})
		}, nil, ""},
		{"unique index on phone_number", func() *db.Schema {
			s := migrated()
			s.Indexes = append(s.Indexes, db.Index{Name: "by_phone", Unique: true, Columns: []string{"phone_number"}})
			return s
		}, nil, ""},
		{"missing size column", func() *db.Schema {
			return with(migrated(), "session_file_size_bytes", db.Column{})
		}, db.ErrMissingColumns, "session_file_size_bytes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := checklist.Check(tc.schema()).Usable()
			if tc.want == nil {
				if err != nil {
					t.Fatalf("Usable() = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, tc.want) || !strings.Contains(fmt.Sprint(err), tc.detail) {
				t.Fatalf("Usable() = %v, want %v containing %q", err, tc.want, tc.detail)
			}
		})
	}
}
