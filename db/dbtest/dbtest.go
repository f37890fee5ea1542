package dbtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
)

// EnvDSN names the environment variable that points the tests at a real
// server, e.g. root@tcp(127.0.0.1:3306)/test. Its user must be allowed to
// create and drop databases.
const EnvDSN = "SESSAUDIT_TEST_MYSQL_DSN"

// Backend names the server New uses: "mariadb" when EnvDSN is set,
// "embedded" otherwise.
func Backend() string {
	if os.Getenv(EnvDSN) != "" {
		return "mariadb"
	}
	return "embedded"
}

// New returns the DSN of a fresh, empty database for one test. With EnvDSN set
// it creates a uniquely named scratch database (sessaudit_t_<random>) on that
// server and drops it when the test ends; otherwise it starts an embedded
// server for the test, closed when the test ends. Any failure fails the test:
// New never skips.
func New(t testing.TB) string {
	t.Helper()
	name := "sessaudit_t_" + randomHex(t, 8)
	env := os.Getenv(EnvDSN)
	if env == "" {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		s, err := Start(ctx, name)
		if err != nil {
			t.Fatalf("dbtest: %v", err)
		}
		t.Cleanup(func() {
			if err := s.Close(); err != nil {
				t.Errorf("dbtest: %v", err)
			}
		})
		return s.DSN()
	}

	base, err := mysql.ParseDSN(env)
	if err != nil {
		t.Fatalf("dbtest: parse %s: %v", EnvDSN, err)
	}
	base.DBName = ""
	admin := base.FormatDSN()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := execOne(ctx, admin, "CREATE DATABASE `"+name+"`"); err != nil {
		t.Fatalf("dbtest: create database %s on %s: %v", name, base.Addr, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := execOne(ctx, admin, "DROP DATABASE IF EXISTS `"+name+"`"); err != nil {
			t.Errorf("dbtest: drop database %s on %s: %v", name, base.Addr, err)
		}
	})
	scratch := base.Clone()
	scratch.DBName = name
	return scratch.FormatDSN()
}

func randomHex(t testing.TB, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("dbtest: random name: %v", err)
	}
	return hex.EncodeToString(b)
}

func execOne(ctx context.Context, dsn, stmt string) error {
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	_, err = db.ExecContext(ctx, stmt)
	return err
}

// Exec runs the statements of sqlText one after the other on one connection
// to dsn and fails the test at the first error. Statements end with a ';' at
// the end of a line; lines starting with "--" are comments and blank lines
// are ignored, so a ';' inside a line (a string literal, say) does not split.
func Exec(t testing.TB, dsn string, sqlText string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatalf("dbtest: open: %v", err)
	}
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatalf("dbtest: connect: %v", err)
	}
	defer conn.Close()
	for _, stmt := range Split(sqlText) {
		if _, err := conn.ExecContext(ctx, stmt); err != nil {
			t.Fatalf("dbtest: exec %q: %v", abbrev(stmt), err)
		}
	}
}

// Split cuts a multi-statement SQL text into statements as Exec does, without
// the terminating ';'.
func Split(sqlText string) []string {
	var (
		stmts []string
		cur   strings.Builder
	)
	flush := func() {
		if s := strings.TrimSpace(cur.String()); s != "" {
			stmts = append(stmts, s)
		}
		cur.Reset()
	}
	for _, line := range strings.Split(sqlText, "\n") {
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || strings.HasPrefix(trimmed, "--") {
			continue
		}
		if strings.HasSuffix(trimmed, ";") {
			cur.WriteString(strings.TrimSuffix(trimmed, ";"))
			flush()
			continue
		}
		cur.WriteString(line)
		cur.WriteByte('\n')
	}
	flush()
	return stmts
}

func abbrev(s string) string {
	if len(s) > 120 {
		return s[:120] + "..."
	}
	return s
}

// ErrNoModuleRoot is returned by SchemaPath when no go.mod is found above the
// working directory.
var ErrNoModuleRoot = errors.New("dbtest: no go.mod above the working directory")

// SchemaPath returns the path of testdata/schema.sql in the module that
// contains the working directory.
func SchemaPath() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("find schema: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, "testdata", "schema.sql"), nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("find schema: %w", ErrNoModuleRoot)
		}
		dir = parent
	}
}

// LoadSchema creates the whatsapp_accounts table of testdata/schema.sql in the
// database of dsn.
func LoadSchema(t testing.TB, dsn string) {
	t.Helper()
	path, err := SchemaPath()
	if err != nil {
		t.Fatalf("dbtest: %v", err)
	}
	text, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("dbtest: read schema: %v", err)
	}
	Exec(t, dsn, string(text))
}
