package db_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"net"
	"slices"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/go-sql-driver/mysql"

	"sessaudit/db"
	"sessaudit/db/dbtest"
)

// secret is a password distinctive enough that finding it in an error
// message cannot be a coincidence.
const secret = "Pw-7f3k-SECRET"

func TestMain(m *testing.M) {
	fmt.Println("db tests run against:", dbtest.Backend())
	m.Run()
}

// newDB returns the DSN of a fresh database holding testdata/schema.sql.
func newDB(t *testing.T) string {
	t.Helper()
	dsn := dbtest.New(t)
	dbtest.LoadSchema(t, dsn)
	return dsn
}

func open(t *testing.T, cfg db.Config) *db.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := db.Open(ctx, cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// withPassword returns dsn with its password replaced.
func withPassword(t *testing.T, dsn, passwd string) string {
	t.Helper()
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		t.Fatalf("parse %q: %v", dsn, err)
	}
	cfg.Passwd = passwd
	return cfg.FormatDSN()
}

func dbName(t *testing.T, dsn string) string {
	t.Helper()
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		t.Fatalf("parse %q: %v", dsn, err)
	}
	return cfg.DBName
}

func TestOpen(t *testing.T) {
	t.Logf("backend: %s", dbtest.Backend())
	dsn := newDB(t)
	tests := []struct {
		name  string
		table string
	}{
		{"default table", ""},
		{"named table", "whatsapp_accounts"},
		{"schema-qualified table", dbName(t, dsn) + ".whatsapp_accounts"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t, db.Config{DSN: dsn, Table: tc.table})
			for _, c := range []string{"id", "workspace_id", "session_id", "session_storage_path",
				"session_file_size_bytes", "session_storage_verified_at",
				"deleted_at", "created_at", "updated_at", "assigned_instance_index", "SESSION_ID"} {
				if !s.HasColumn(c) {
					t.Errorf("HasColumn(%q) = false, want true", c)
				}
			}
			if s.HasColumn("no_such_column") {
				t.Errorf("HasColumn(no_such_column) = true")
			}
		})
	}
}

func TestOpenErrors(t *testing.T) {
	tests := []struct {
		name    string
		setup   string // SQL run in the fresh database first
		table   string
		want    error
		wantMsg string // exact message, when set
	}{
		{
			name:  "no table",
			setup: "",
			want:  db.ErrNoTable,
		},
		{
			name:  "other table only",
			setup: "CREATE TABLE accounts (id BIGINT UNSIGNED PRIMARY KEY);",
			want:  db.ErrNoTable,
		},
		{
			name: "missing storage columns",
			setup: `CREATE TABLE whatsapp_accounts (
				id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
				workspace_id BIGINT UNSIGNED NOT NULL,
				session_id VARCHAR(255) NOT NULL,
				session_storage_path VARCHAR(500) NULL,
				deleted_at TIMESTAMP NULL DEFAULT NULL
			);`,
			want:    db.ErrMissingColumns,
			wantMsg: "db: table whatsapp_accounts lacks required columns: session_file_size_bytes, session_storage_verified_at",
		},
		{
			name:  "bad table name",
			table: "whatsapp_accounts; DROP TABLE x",
			want:  db.ErrBadTable,
		},
		{
			name:  "too many qualifiers",
			table: "a.b.c",
			want:  db.ErrBadTable,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dsn := dbtest.New(t)
			if tc.setup != "" {
				dbtest.Exec(t, dsn, tc.setup)
			}
			s, err := db.Open(context.Background(), db.Config{DSN: dsn, Table: tc.table})
			if err == nil {
				s.Close()
				t.Fatalf("Open succeeded, want %v", tc.want)
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("Open error = %v, want %v", err, tc.want)
			}
			if tc.wantMsg != "" && err.Error() != tc.wantMsg {
				t.Errorf("Open error = %q, want %q", err, tc.wantMsg)
			}
			var mce *db.MissingColumnsError
			if errors.Is(tc.want, db.ErrMissingColumns) && !errors.As(err, &mce) {
				t.Errorf("Open error %T is not a *MissingColumnsError", err)
			}
		})
	}
}

func TestOpenBadDSN(t *testing.T) {
	tests := []struct {
		name string
		dsn  string
	}{
		{"empty", ""},
		{"no slash", "root:" + secret + "@tcp(127.0.0.1:3306)"},
		{"unterminated address", "root:" + secret + "@tcp(127.0.0.1:3306/test"},
		{"bad parameter", "root:" + secret + "@tcp(127.0.0.1:3306)/test?parseTime=maybe"},
		{"unknown network", "root:" + secret + "@127.0.0.1:3306/test"},
		{"slash in password, no database", "root:Pw/" + secret + "@tcp(127.0.0.1:3306)"},
		{"password without user info", secret + "/test"},
		{"no database", "root:" + secret + "@tcp(127.0.0.1:1)/"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := db.Open(context.Background(), db.Config{DSN: tc.dsn, ConnectTimeout: 2 * time.Second})
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded, want ErrBadDSN")
			}
			if !errors.Is(err, db.ErrBadDSN) {
				t.Errorf("Open error = %v, want ErrBadDSN", err)
			}
			assertNoSecret(t, err, secret)
		})
	}
}

func assertNoSecret(t *testing.T, err error, secrets ...string) {
	t.Helper()
	for e := err; e != nil; {
		for _, s := range secrets {
			if strings.Contains(e.Error(), s) {
				t.Errorf("error %q contains the password %q", e, s)
			}
		}
		switch u := e.(type) {
		case interface{ Unwrap() error }:
			e = u.Unwrap()
		case interface{ Unwrap() []error }:
			for _, inner := range u.Unwrap() {
				assertNoSecret(t, inner, secrets...)
			}
			e = nil
		default:
			e = nil
		}
	}
}

func TestOpenUnreachable(t *testing.T) {
	// A listener that accepts connections and never says a word: the
	// handshake hangs until ConnectTimeout.
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	go func() {
		var held []net.Conn
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()

	tests := []struct {
		name    string
		dsn     string
		timeout time.Duration
		within  time.Duration
	}{
		{"refused", "root:" + secret + "@tcp(127.0.0.1:1)/test", 10 * time.Second, 3 * time.Second},
		{"silent server", "root:" + secret + "@tcp(" + silent.Addr().String() + ")/test", 500 * time.Millisecond, 3 * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			s, err := db.Open(context.Background(), db.Config{DSN: tc.dsn, ConnectTimeout: tc.timeout})
			elapsed := time.Since(start)
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded, want ErrUnreachable")
			}
			if !errors.Is(err, db.ErrUnreachable) {
				t.Errorf("Open error = %v, want ErrUnreachable", err)
			}
			if elapsed > tc.within {
				t.Errorf("Open took %s, want under %s", elapsed, tc.within)
			}
			assertNoSecret(t, err, secret)
			t.Logf("%s: %v", elapsed.Round(time.Millisecond), err)
		})
	}
}

// TestOpenRejected: a server that answers and refuses the login is told
// apart from one that cannot be reached, by the error number it sends.
func TestOpenRejected(t *testing.T) {
	dsn := newDB(t)
	noDB := strings.Replace(dsn, "/"+dbName(t, dsn), "/sessaudit_no_such_db", 1)
	tests := []struct {
		name string
		// dsn makes the case's DSN; it runs inside the subtest, so that a
		// user made for the case belongs to it.
		dsn  func(t *testing.T) string
		want error
		// mariadbOnly: the embedded server accepts any user and password,
		// so the case cannot happen there.
		mariadbOnly bool
	}{
		{"wrong password", func(t *testing.T) string { return withPassword(t, dsn, secret) }, db.ErrAccessDenied, true},
		{"unknown database", func(*testing.T) string { return noDB }, db.ErrUnknownDatabase, false},
		// MariaDB checks the password before the database.
		{"wrong password and unknown database", func(t *testing.T) string { return withPassword(t, noDB, secret) }, db.ErrAccessDenied, true},
		{"user without rights on the database", func(t *testing.T) string {
			own := secretDSN(t, dsn, "SELECT")
			cfg, err := mysql.ParseDSN(own)
			if err != nil {
				t.Fatal(err)
			}
			cfg.DBName = "sessaudit_no_such_db"
			return cfg.FormatDSN()
		}, db.ErrAccessDenied, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.mariadbOnly && dbtest.Backend() == "embedded" {
				t.Skip("the embedded server accepts any user and password; this case runs against MariaDB")
			}
			s, err := db.Open(context.Background(), db.Config{DSN: tc.dsn(t), ConnectTimeout: 10 * time.Second})
			if err == nil {
				s.Close()
				t.Fatalf("Open succeeded, want %v", tc.want)
			}
			if !errors.Is(err, tc.want) {
				t.Errorf("Open error = %v, want %v", err, tc.want)
			}
			if errors.Is(err, db.ErrUnreachable) {
				t.Errorf("Open error = %v, also matches ErrUnreachable", err)
			}
			var me *mysql.MySQLError
			if !errors.As(err, &me) {
				t.Errorf("Open error %v does not wrap the server's *mysql.MySQLError", err)
			}
			assertNoSecret(t, err, secret)
			t.Logf("%v", err)
		})
	}
}

// minimalTable has the required columns and nothing else.
const minimalTable = `CREATE TABLE whatsapp_accounts (
	id BIGINT UNSIGNED NOT NULL PRIMARY KEY,
	workspace_id BIGINT UNSIGNED NOT NULL,
	session_id VARCHAR(255) NOT NULL,
	session_storage_path VARCHAR(500) NULL,
	session_file_size_bytes BIGINT NULL,
	session_storage_verified_at TIMESTAMP NULL DEFAULT NULL
);
INSERT INTO whatsapp_accounts (id, workspace_id, session_id, session_storage_path) VALUES
	(1, 7, 's1', '/mnt/efs/workspace_7/session_s1'),
	(2, 7, 's2', NULL),
	(3, 8, 's3', '/mnt/efs/workspace_8/session_s3');
`

func TestMinimalTable(t *testing.T) {
	dsn := dbtest.New(t)
	dbtest.Exec(t, dsn, minimalTable)
	s := open(t, db.Config{DSN: dsn})
	for _, c := range []string{"deleted_at", "created_at", "updated_at", "assigned_instance_index", "status", "provider_type"} {
		if s.HasColumn(c) {
			t.Errorf("HasColumn(%q) = true on the minimal table", c)
		}
	}
	rows, err := s.Rows(context.Background(), db.Selection{})
	if err != nil {
		t.Fatalf("Rows: %v", err)
	}
	want := []db.Row{
		{ID: 1, WorkspaceID: 7, SessionID: "s1", StoragePath: ptr("/mnt/efs/workspace_7/session_s1")},
		{ID: 2, WorkspaceID: 7, SessionID: "s2"},
		{ID: 3, WorkspaceID: 8, SessionID: "s3", StoragePath: ptr("/mnt/efs/workspace_8/session_s3")},
	}
	assertRows(t, rows, want)

	at := time.Date(2025, 11, 21, 8, 30, 15, 0, time.UTC)
	n, err := s.WriteSizes(context.Background(), []db.SizeUpdate{
		{ID: 1, StoragePath: "/mnt/efs/workspace_7/session_s1", SizeBytes: 4096},
		{ID: 3, StoragePath: "/mnt/efs/workspace_8/session_OTHER", SizeBytes: 1},
	}, at)
	if err != nil || n != 1 {
		t.Fatalf("WriteSizes = %d, %v; want 1, nil", n, err)
	}
	got := snapshot(t, dsn)
	if g := got[1]["session_file_size_bytes"]; g != "4096" {
		t.Errorf("row 1 size = %q, want 4096", g)
	}
	if g := got[3]["session_file_size_bytes"]; g != "NULL" {
		t.Errorf("row 3 size = %q, want NULL", g)
	}
}

func ptr[T any](v T) *T { return &v }

func assertRows(t *testing.T, got, want []db.Row) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d rows, want %d:\n got %s\nwant %s", len(got), len(want), fmtRows(got), fmtRows(want))
	}
	for i := range want {
		if fmtRow(got[i]) != fmtRow(want[i]) {
			t.Errorf("row %d:\n got %s\nwant %s", i, fmtRow(got[i]), fmtRow(want[i]))
		}
	}
}

func fmtRows(rs []db.Row) string {
	var parts []string
	for _, r := range rs {
		parts = append(parts, fmtRow(r))
	}
	return strings.Join(parts, "\n     ")
}

// fmtRow renders a Row with its pointers followed and times as instants
// with their zone offset.
func fmtRow(r db.Row) string {
	str := func(p *string) string {
		if p == nil {
			return "nil"
		}
		return fmt.Sprintf("%q", *p)
	}
	tm := func(p *time.Time) string {
		if p == nil {
			return "nil"
		}
		return p.Format(time.RFC3339Nano)
	}
	idx := "nil"
	if r.InstanceIndex != nil {
		idx = fmt.Sprint(*r.InstanceIndex)
	}
	return fmt.Sprintf("{id=%d ws=%d sid=%q path=%s verified=%s deleted=%s created=%s updated=%s instance=%s status=%s provider=%s}",
		r.ID, r.WorkspaceID, r.SessionID, str(r.StoragePath), tm(r.VerifiedAt), tm(r.DeletedAt), tm(r.CreatedAt), tm(r.UpdatedAt), idx, str(r.Status), str(r.ProviderType))
}

// seed fills the full schema with rows whose every column is set, so that a
// write to a column it should not touch shows.
const seed = `
INSERT INTO whatsapp_accounts (id, uuid, workspace_id, assigned_instance_index, previous_instance_index, assigned_instance_url,
	session_id, phone_number, provider_type, status, qr_code, session_data,
	session_storage_path, session_file_size_bytes, session_storage_verified_at,
	is_primary, is_active, last_activity_at, last_connected_at, disconnected_at, disconnect_reason, disconnect_details,
	last_cleanup_at, session_restore_count, instance_migration_count, last_instance_migration_at, health_score, metadata,
	created_by, created_at, updated_at, deleted_at) VALUES
	(1, 'uuid-1', 1, 1, 0, 'http://instance-1:3001', 'sess-1', '+100001', 'webjs', 'connected', 'qr-1', 'blob-1',
	 '/mnt/efs/workspace_1/session_sess-1', 4096, '2025-11-01 00:00:00',
	 1, 1, '2025-11-19 10:00:00', '2025-11-19 09:00:00', '2025-11-18 09:00:00', 'timeout', 'details-1',
	 '2025-11-17 09:00:00', 3, 1, '2025-11-16 09:00:00', 90, '{"k": 1}',
	 42, '2025-11-20 10:00:00', '2025-11-20 11:00:00', NULL),
	(2, 'uuid-2', 1, 2, 1, 'http://instance-2:3001', 'sess-2', '+100002', 'meta', 'disconnected', 'qr-2', 'blob-2',
	 '/mnt/efs/workspace_1/session_sess-2', 5000, '2025-11-02 00:00:00',
	 0, 1, '2025-11-19 10:00:00', '2025-11-19 09:00:00', '2025-11-18 09:00:00', 'error', 'details-2',
	 '2025-11-17 09:00:00', 0, 2, '2025-11-16 09:00:00', 80, '{"k": 2}',
	 42, '2025-11-20 10:00:00', '2025-11-20 11:00:00', NULL),
	(3, 'uuid-3', 2, 0, 3, 'http://instance-0:3001', 'sess-3', '+100003', 'webjs', 'failed', 'qr-3', 'blob-3',
	 '/mnt/efs/workspace_2/session_sess-3', 6000, '2025-11-03 00:00:00',
	 0, 0, '2025-11-19 10:00:00', '2025-11-19 09:00:00', '2025-11-18 09:00:00', 'user_initiated', 'details-3',
	 '2025-11-17 09:00:00', 1, 0, '2025-11-16 09:00:00', 70, '{"k": 3}',
	 42, '2025-11-20 10:00:00', '2025-11-20 11:00:00', '2025-11-21 07:00:00'),
	(4, 'uuid-4', 2, 3, NULL, 'http://instance-3:3001', 'sess-4', '+100004', 'webjs', 'connected', 'qr-4', 'blob-4',
	 '/mnt/efs/workspace_2/session_ABC', 7000, '2025-11-04 00:00:00',
	 1, 1, '2025-11-19 10:00:00', '2025-11-19 09:00:00', NULL, NULL, NULL,
	 '2025-11-17 09:00:00', 0, 0, NULL, 100, '{"k": 4}',
	 42, '2025-11-20 10:00:00', '2025-11-20 11:00:00', NULL),
	(5, 'uuid-5', 3, NULL, NULL, NULL, 'sess-5', NULL, 'webjs', 'qr_scanning', NULL, NULL,
	 NULL, NULL, NULL,
	 0, 1, NULL, NULL, NULL, NULL, NULL,
	 NULL, 0, 0, NULL, 100, NULL,
	 42, NULL, NULL, NULL),
	(6, 'uuid-6', 3, 1, NULL, 'http://instance-1:3001', 'sess-6', '+100006', 'webjs', 'authenticated', 'qr-6', 'blob-6',
	 '/mnt/efs/workspace_3/session_sess-6', NULL, NULL,
	 0, 1, '2025-11-19 10:00:00', NULL, NULL, NULL, NULL,
	 NULL, 0, 0, NULL, 100, '{"k": 6}',
	 42, '2025-11-20 10:00:00', '2025-11-20 12:30:00', NULL),
	(7, 'uuid-7', 4, 1, NULL, 'http://instance-1:3001', 'sess-7', '+100007', 'webjs', 'connected', 'qr-7', 'blob-7',
	 '/mnt/efs/workspace_4/session_sess-7', 100, '2025-11-07 00:00:00',
	 0, 1, '2025-11-19 10:00:00', NULL, NULL, NULL, NULL,
	 NULL, 0, 0, NULL, 100, '{"k": 7}',
	 42, '2025-11-20 10:00:00', '2025-11-20 11:00:00', NULL);
`

func TestRows(t *testing.T) {
	dsn := newDB(t)
	dbtest.Exec(t, dsn, seed)
	utc := func(s string) *time.Time {
		tm, err := time.ParseInLocation(time.DateTime, s, time.UTC)
		if err != nil {
			t.Fatal(err)
		}
		return &tm
	}
	all := []db.Row{
		{ID: 1, WorkspaceID: 1, SessionID: "sess-1", StoragePath: ptr("/mnt/efs/workspace_1/session_sess-1"), VerifiedAt: utc("2025-11-01 00:00:00"),
			CreatedAt: utc("2025-11-20 10:00:00"), UpdatedAt: utc("2025-11-20 11:00:00"), InstanceIndex: ptr(1), Status: ptr("connected"), ProviderType: ptr("webjs")},
		{ID: 2, WorkspaceID: 1, SessionID: "sess-2", StoragePath: ptr("/mnt/efs/workspace_1/session_sess-2"), VerifiedAt: utc("2025-11-02 00:00:00"),
			CreatedAt: utc("2025-11-20 10:00:00"), UpdatedAt: utc("2025-11-20 11:00:00"), InstanceIndex: ptr(2), Status: ptr("disconnected"), ProviderType: ptr("meta")},
		{ID: 3, WorkspaceID: 2, SessionID: "sess-3", StoragePath: ptr("/mnt/efs/workspace_2/session_sess-3"), VerifiedAt: utc("2025-11-03 00:00:00"),
			DeletedAt: utc("2025-11-21 07:00:00"),
			CreatedAt: utc("2025-11-20 10:00:00"), UpdatedAt: utc("2025-11-20 11:00:00"), InstanceIndex: ptr(0), Status: ptr("failed"), ProviderType: ptr("webjs")},
		{ID: 4, WorkspaceID: 2, SessionID: "sess-4", StoragePath: ptr("/mnt/efs/workspace_2/session_ABC"), VerifiedAt: utc("2025-11-04 00:00:00"),
			CreatedAt: utc("2025-11-20 10:00:00"), UpdatedAt: utc("2025-11-20 11:00:00"), InstanceIndex: ptr(3), Status: ptr("connected"), ProviderType: ptr("webjs")},
		{ID: 5, WorkspaceID: 3, SessionID: "sess-5", Status: ptr("qr_scanning"), ProviderType: ptr("webjs")},
		{ID: 6, WorkspaceID: 3, SessionID: "sess-6", StoragePath: ptr("/mnt/efs/workspace_3/session_sess-6"),
			CreatedAt: utc("2025-11-20 10:00:00"), UpdatedAt: utc("2025-11-20 12:30:00"), InstanceIndex: ptr(1), Status: ptr("authenticated"), ProviderType: ptr("webjs")},
		{ID: 7, WorkspaceID: 4, SessionID: "sess-7", StoragePath: ptr("/mnt/efs/workspace_4/session_sess-7"), VerifiedAt: utc("2025-11-07 00:00:00"),
			CreatedAt: utc("2025-11-20 10:00:00"), UpdatedAt: utc("2025-11-20 11:00:00"), InstanceIndex: ptr(1), Status: ptr("connected"), ProviderType: ptr("webjs")},
	}
	byID := func(ids ...uint64) []db.Row {
		var out []db.Row
		for _, r := range all {
			if slices.Contains(ids, r.ID) {
				out = append(out, r)
			}
		}
		return out
	}
	many := make([]uint64, 0, 2500)
	for w := uint64(2500); w > 0; w-- {
		many = append(many, w)
	}
	list := func(ids ...uint64) db.Selection { return db.Selection{Workspaces: ids, Listed: true} }
	tests := []struct {
		name string
		sel  db.Selection
		want []db.Row
	}{
		{"all", db.Selection{}, all},
		{"empty list is none", list(), nil},
		{"one workspace", list(2), byID(3, 4)},
		{"two workspaces, unordered, repeated", list(3, 1, 3), byID(1, 2, 5, 6)},
		{"unknown workspace", list(99), nil},
		{"more workspaces than one IN list", list(many...), all},
		{"shard", db.Selection{ShardIndex: 1, ShardCount: 2}, byID(1, 2, 5, 6)},
		{"list in a shard", db.Selection{Workspaces: []uint64{1, 2, 3}, Listed: true, ShardIndex: 0, ShardCount: 2}, byID(3, 4)},
		{"cross rows of a healthy table", db.Selection{Workspaces: []uint64{2}, Listed: true, CrossPrefix: "/mnt/efs"}, byID(3, 4)},
	}
	s := open(t, db.Config{DSN: dsn})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.Rows(context.Background(), tc.sel)
			if err != nil {
				t.Fatalf("Rows: %v", err)
			}
			assertRows(t, got, tc.want)
		})
	}

	t.Run("time zone", func(t *testing.T) {
		zone := time.FixedZone("UTC+2", 2*3600)
		s := open(t, db.Config{DSN: dsn, TimeZone: zone})
		got, err := s.Rows(context.Background(), db.Selection{Workspaces: []uint64{2}, Listed: true})
		if err != nil {
			t.Fatalf("Rows: %v", err)
		}
		want := time.Date(2025, 11, 20, 10, 0, 0, 0, zone)
		if len(got) != 2 || got[0].CreatedAt == nil || !got[0].CreatedAt.Equal(want) {
			t.Fatalf("Rows = %s, want created_at %s", fmtRows(got), want)
		}
	})

	// An audit holds a million rows: equal times and instance indexes are
	// one value, and a session id that ends its stored path is that end.
	t.Run("rows share equal values", func(t *testing.T) {
		got, err := s.Rows(context.Background(), db.Selection{})
		if err != nil {
			t.Fatalf("Rows: %v", err)
		}
		assertRows(t, got, all)
		if got[0].CreatedAt != got[1].CreatedAt || got[1].CreatedAt != got[3].CreatedAt {
			t.Errorf("created_at of rows 1, 2, 4 are %p, %p, %p, want one value", got[0].CreatedAt, got[1].CreatedAt, got[3].CreatedAt)
		}
		if got[5].InstanceIndex != got[6].InstanceIndex {
			t.Errorf("instance of rows 6 and 7 are %p and %p, want one value", got[5].InstanceIndex, got[6].InstanceIndex)
		}
		for _, r := range got {
			if r.StoragePath == nil || !strings.HasSuffix(*r.StoragePath, "/session_"+r.SessionID) {
				continue
			}
			end := unsafe.Add(unsafe.Pointer(unsafe.StringData(*r.StoragePath)), len(*r.StoragePath)-len(r.SessionID))
			if unsafe.Pointer(unsafe.StringData(r.SessionID)) != end {
				t.Errorf("row %d: session id %q is a string of its own, want the end of its path %q", r.ID, r.SessionID, *r.StoragePath)
			}
		}
	})
}

// TestRowsCross checks that a limited selection with CrossPrefix also reads
// every row whose stored path may name a directory of another workspace,
// and none of the rows whose path is plainly their own workspace's.
func TestRowsCross(t *testing.T) {
	dsn := newDB(t)
	dbtest.Exec(t, dsn, seed)
	dbtest.Exec(t, dsn, `UPDATE whatsapp_accounts SET session_storage_path = '/mnt/efs/workspace_2/session_x' WHERE id = 7;
UPDATE whatsapp_accounts SET session_storage_path = '/mnt/efs//workspace_3/session_sess-6' WHERE id = 6;
UPDATE whatsapp_accounts SET session_storage_path = '/mnt/efs/workspaceX1/session_sess-2' WHERE id = 2;`)
	s := open(t, db.Config{DSN: dsn})
	tests := []struct {
		name string
		sel  db.Selection
		want []uint64
	}{
		// 7 names workspace 2 from workspace 4; 6 and 2 are not plainly
		// their own (a doubled slash, an X where the pattern has "_").
		{"a workspace", db.Selection{Workspaces: []uint64{2}, Listed: true, CrossPrefix: "/mnt/efs"}, []uint64{2, 3, 4, 6, 7}},
		{"a shard", db.Selection{ShardIndex: 1, ShardCount: 2, CrossPrefix: "/mnt/efs/"}, []uint64{1, 2, 5, 6, 7}},
		{"no cross rows asked for", db.Selection{ShardIndex: 1, ShardCount: 2}, []uint64{1, 2, 5, 6}},
		{"an empty list still reads cross rows", db.Selection{Listed: true, CrossPrefix: "/mnt/efs"}, []uint64{2, 6, 7}},
		{"another prefix makes every path a cross row", db.Selection{Workspaces: []uint64{1}, Listed: true, CrossPrefix: "/efs"}, []uint64{1, 2, 3, 4, 6, 7}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.Rows(context.Background(), tc.sel)
			if err != nil {
				t.Fatalf("Rows: %v", err)
			}
			var ids []uint64
			for _, r := range got {
				ids = append(ids, r.ID)
			}
			if !slices.Equal(ids, tc.want) {
				t.Errorf("Rows = ids %v, want %v", ids, tc.want)
			}
		})
	}
}

// snapshot reads every column of every row as text ("NULL" for NULL), keyed
// by id and column name.
func snapshot(t *testing.T, dsn string) map[uint64]map[string]string {
	t.Helper()
	conn, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	rows, err := conn.Query("SELECT * FROM whatsapp_accounts ORDER BY id")
	if err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[uint64]map[string]string)
	for rows.Next() {
		vals := make([]sql.NullString, len(cols))
		dest := make([]any, len(cols))
		for i := range vals {
			dest[i] = &vals[i]
		}
		if err := rows.Scan(dest...); err != nil {
			t.Fatalf("snapshot: %v", err)
		}
		row := make(map[string]string, len(cols))
		var id uint64
		for i, c := range cols {
			row[c] = "NULL"
			if vals[i].Valid {
				row[c] = vals[i].String
			}
			if c == "id" {
				fmt.Sscan(vals[i].String, &id)
			}
		}
		out[id] = row
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	return out
}

// assertWritten compares two snapshots: the rows in written must differ from
// before exactly in their size (set to the given value) and verified time;
// every other row and column must be unchanged.
func assertWritten(t *testing.T, before, after map[uint64]map[string]string, written map[uint64]int64, verified string) {
	t.Helper()
	if len(before) != len(after) {
		t.Fatalf("row count changed from %d to %d", len(before), len(after))
	}
	for id, b := range before {
		a := after[id]
		size, isWritten := written[id]
		for col, bv := range b {
			av := a[col]
			switch {
			case isWritten && col == "session_file_size_bytes":
				if av != fmt.Sprint(size) {
					t.Errorf("row %d: %s = %s, want %d", id, col, av, size)
				}
			case isWritten && col == "session_storage_verified_at":
				if av != verified {
					t.Errorf("row %d: %s = %s, want %s", id, col, av, verified)
				}
			case av != bv:
				t.Errorf("row %d: %s changed from %s to %s", id, col, bv, av)
			}
		}
	}
}

func TestWriteSizes(t *testing.T) {
	verifiedAt := time.Date(2025, 11, 21, 8, 30, 15, 0, time.UTC)
	batch := []db.SizeUpdate{
		{ID: 1, StoragePath: "/mnt/efs/workspace_1/session_sess-1", SizeBytes: 123456789012},
		{ID: 2, StoragePath: "/mnt/efs/workspace_1/session_sess-2-old", SizeBytes: 1}, // path changed since read
		{ID: 3, StoragePath: "/mnt/efs/workspace_2/session_sess-3", SizeBytes: 1},     // soft-deleted
		{ID: 4, StoragePath: "/mnt/efs/workspace_2/session_abc", SizeBytes: 1},        // differs only by case
		{ID: 5, StoragePath: "", SizeBytes: 1},                                        // path is NULL
		{ID: 6, StoragePath: "/mnt/efs/workspace_3/session_sess-6", SizeBytes: 0},
		{ID: 404, StoragePath: "/mnt/efs/workspace_9/session_gone", SizeBytes: 1}, // no such row
	}
	written := map[uint64]int64{1: 123456789012, 6: 0}

	tests := []struct {
		name      string
		zone      *time.Location
		batchSize int
		// verified is how the written time reads back in a plain session.
		verified string
	}{
		{"one chunk", nil, 0, "2025-11-21 08:30:15"},
		{"chunks of two", nil, 2, "2025-11-21 08:30:15"},
		{"chunks of one", nil, 1, "2025-11-21 08:30:15"},
		{"time zone", time.FixedZone("UTC+2", 2*3600), 0, "2025-11-21 10:30:15"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dsn := newDB(t)
			dbtest.Exec(t, dsn, seed)
			s := open(t, db.Config{DSN: dsn, TimeZone: tc.zone, BatchSize: tc.batchSize})
			before := snapshot(t, dsn)
			n, err := s.WriteSizes(context.Background(), batch, verifiedAt)
			if err != nil {
				t.Fatalf("WriteSizes: %v", err)
			}
			if n != len(written) {
				t.Errorf("WriteSizes wrote %d rows, want %d", n, len(written))
			}
			after := snapshot(t, dsn)
			assertWritten(t, before, after, written, tc.verified)

			// Writing the same values again changes nothing but still counts
			// the rows the guard matched.
			n, err = s.WriteSizes(context.Background(), batch, verifiedAt)
			if err != nil || n != len(written) {
				t.Errorf("second WriteSizes = %d, %v; want %d, nil", n, err, len(written))
			}
		})
	}

	t.Run("empty batch", func(t *testing.T) {
		dsn := newDB(t)
		s := open(t, db.Config{DSN: dsn})
		n, err := s.WriteSizes(context.Background(), nil, verifiedAt)
		if n != 0 || err != nil {
			t.Errorf("WriteSizes(nil) = %d, %v; want 0, nil", n, err)
		}
	})
}

func TestWriteSizesBatches(t *testing.T) {
	verifiedAt := time.Date(2025, 11, 22, 1, 2, 3, 0, time.UTC)
	const rows = `
INSERT INTO whatsapp_accounts (id, uuid, workspace_id, session_id, session_storage_path, created_by) VALUES
	(1, 'u1', 1, 's1', '/p/1', 1),
	(2, 'u2', 1, 's2', '/p/2', 1),
	(3, 'u3', 1, 's3', '/p/3', 1),
	(4, 'u4', 1, 's4', '/p/4', 1),
	(5, 'u5', 1, 's5', '/p/5', 1);
`
	var batch []db.SizeUpdate
	for i := uint64(1); i <= 5; i++ {
		batch = append(batch, db.SizeUpdate{ID: i, StoragePath: fmt.Sprintf("/p/%d", i), SizeBytes: int64(i * 1000)})
	}

	t.Run("five rows in chunks of two", func(t *testing.T) {
		dsn := newDB(t)
		dbtest.Exec(t, dsn, rows)
		s := open(t, db.Config{DSN: dsn, BatchSize: 2})
		before := snapshot(t, dsn)
		n, err := s.WriteSizes(context.Background(), batch, verifiedAt)
		if err != nil || n != 5 {
			t.Fatalf("WriteSizes = %d, %v; want 5, nil", n, err)
		}
		assertWritten(t, before, snapshot(t, dsn), map[uint64]int64{1: 1000, 2: 2000, 3: 3000, 4: 4000, 5: 5000}, "2025-11-22 01:02:03")
	})

	// Rows 1, 2, 4 and 5 are dense: one range, values picked by offset.
	// Sizes past 2⁵³ must arrive exactly, not through a float.
	t.Run("dense ids with a gap and large sizes", func(t *testing.T) {
		dsn := newDB(t)
		dbtest.Exec(t, dsn, rows)
		s := open(t, db.Config{DSN: dsn})
		before := snapshot(t, dsn)
		want := map[uint64]int64{1: 1<<53 + 1, 2: 1<<62 + 3, 4: math.MaxInt64, 5: 0}
		var dense []db.SizeUpdate
		for id, size := range want {
			dense = append(dense, db.SizeUpdate{ID: id, StoragePath: fmt.Sprintf("/p/%d", id), SizeBytes: size})
		}
		n, err := s.WriteSizes(context.Background(), dense, verifiedAt)
		if err != nil || n != 4 {
			t.Fatalf("WriteSizes = %d, %v; want 4, nil", n, err)
		}
		assertWritten(t, before, snapshot(t, dsn), want, "2025-11-22 01:02:03")
	})

	t.Run("failing chunk stops the write", func(t *testing.T) {
		dsn := newDB(t)
		dbtest.Exec(t, dsn, rows)
		// The server rejects the second chunk: a size over the CHECK limit.
		dbtest.Exec(t, dsn, "ALTER TABLE whatsapp_accounts ADD CONSTRAINT size_limit CHECK (session_file_size_bytes < 1000000);")
		bad := slices.Clone(batch)
		bad[3].SizeBytes = 5000000 // id 4, second chunk
		s := open(t, db.Config{DSN: dsn, BatchSize: 2})
		before := snapshot(t, dsn)
		n, err := s.WriteSizes(context.Background(), bad, verifiedAt)
		if err == nil {
			t.Fatal("WriteSizes succeeded, want the CHECK violation")
		}
		if n != 2 {
			t.Errorf("WriteSizes = %d, want the 2 rows of the first chunk", n)
		}
		t.Logf("error: %v", err)
		assertWritten(t, before, snapshot(t, dsn), map[uint64]int64{1: 1000, 2: 2000}, "2025-11-22 01:02:03")
	})

	t.Run("cancelled context", func(t *testing.T) {
		dsn := newDB(t)
		dbtest.Exec(t, dsn, rows)
		s := open(t, db.Config{DSN: dsn, BatchSize: 2})
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		n, err := s.WriteSizes(ctx, batch, verifiedAt)
		if n != 0 || !errors.Is(err, context.Canceled) {
			t.Errorf("WriteSizes = %d, %v; want 0, context.Canceled", n, err)
		}
	})
}

// TestOpenSessionTimeZone: a session time zone that is not a time_zone value
// is refused before connecting, and one the server does not know when
// connecting, both as ErrBadTimeZone.
func TestOpenSessionTimeZone(t *testing.T) {
	dsn := newDB(t)
	s := open(t, db.Config{DSN: dsn, SessionTimeZone: "+03:00"})
	if s.Schema() == nil {
		t.Fatal("no schema")
	}
	for _, tc := range []struct {
		name, zone  string
		mariadbOnly bool
	}{
		{"quote", "+03:00'; DROP TABLE whatsapp_accounts; --", false},
		{"unknown to the server", "Mars/Olympus", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.mariadbOnly && dbtest.Backend() == "embedded" {
				t.Skip("the embedded server accepts any time_zone value; this case runs against MariaDB")
			}
			s, err := db.Open(context.Background(), db.Config{DSN: dsn, SessionTimeZone: tc.zone, ConnectTimeout: 10 * time.Second})
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded, want ErrBadTimeZone")
			}
			if !errors.Is(err, db.ErrBadTimeZone) {
				t.Errorf("Open error = %v, want ErrBadTimeZone", err)
			}
			t.Logf("%v", err)
		})
	}
}
