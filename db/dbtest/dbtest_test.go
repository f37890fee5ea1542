package dbtest_test

import (
	"context"
	"database/sql"
	"slices"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql"

	"sessaudit/db/dbtest"
)

func TestSplit(t *testing.T) {
	tests := []struct {
		name string
		text string
		want []string
	}{
		{"empty", "", nil},
		{"comments only", "-- one\n  -- two;\n\n", nil},
		{"one statement", "SELECT 1;", []string{"SELECT 1"}},
		{"no final semicolon", "SELECT 1;\nSELECT 2", []string{"SELECT 1", "SELECT 2"}},
		{
			"multi-line with comments and inline semicolon",
			"-- schema\nCREATE TABLE t (\n  a VARCHAR(3) DEFAULT ';x'\n);\n-- seed\nINSERT INTO t VALUES ('a;b');\n",
			[]string{"CREATE TABLE t (\n  a VARCHAR(3) DEFAULT ';x'\n)", "INSERT INTO t VALUES ('a;b')"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := dbtest.Split(tc.text); !slices.Equal(got, tc.want) {
				t.Errorf("Split = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestStart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := dbtest.Start(ctx, "demo")
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	conn, err := sql.Open("mysql", s.DSN())
	if err != nil {
		t.Fatal(err)
	}
	var name string
	if err := conn.QueryRowContext(ctx, "SELECT DATABASE()").Scan(&name); err != nil || name != "demo" {
		t.Errorf("SELECT DATABASE() = %q, %v; want demo", name, err)
	}
	conn.Close()
	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if _, err := dbtest.Start(ctx, "bad-name"); err == nil {
		t.Error("Start accepted the database name bad-name")
	}
}

func TestNew(t *testing.T) {
	t.Logf("backend: %s", dbtest.Backend())
	a, b := dbtest.New(t), dbtest.New(t)
	if a == b {
		t.Fatalf("New returned the same DSN twice: %s", a)
	}
	dbtest.LoadSchema(t, a)
	dbtest.Exec(t, a, "INSERT INTO whatsapp_accounts (uuid, workspace_id, session_id, created_by) VALUES ('u', 1, 's', 1);")
	for dsn, want := range map[string]int{a: 1, b: 0} {
		conn, err := sql.Open("mysql", dsn)
		if err != nil {
			t.Fatal(err)
		}
		var n int
		err = conn.QueryRow("SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE()").Scan(&n)
		conn.Close()
		if err != nil || n != want {
			t.Errorf("%s holds %d tables (%v), want %d", dsn, n, err, want)
		}
	}
}
