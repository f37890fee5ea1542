package db_test

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"sessaudit/db"
	"sessaudit/db/dbtest"
)

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

// TestStoreSchema: Open reads the same facts as Inspect, and Store.Schema
// hands out a copy.
func TestStoreSchema(t *testing.T) {
	dsn := newDB(t)
	s := open(t, db.Config{DSN: dsn})
	got, want := s.Schema(), inspect(t, dsn, "")
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Store.Schema() = %+v\nInspect = %+v", got, want)
	}
	got.Columns[0].Name = "changed"
	got.Indexes[0].Columns[0] = "changed"
	if again := s.Schema(); !reflect.DeepEqual(again, want) {
		t.Errorf("Store.Schema() changed through an earlier result: %+v", again)
	}
}
