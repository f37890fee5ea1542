package cli_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/spf13/afero"

	"sessaudit/cmd/internal/cli"
	"sessaudit/cmd/internal/sample"
	"sessaudit/db/dbtest"
	"sessaudit/reconcile"
	"sessaudit/scanner/faultfs"
)

// fixture is the bundled sample, loaded into a fresh database and copied to
// a temporary root.
type fixture struct {
	dsn  string
	root string
	fsys afero.Fs
}

func newFixture(t *testing.T) fixture {
	t.Helper()
	t.Logf("database backend: %s", dbtest.Backend())
	dsn := dbtest.New(t)
	dbtest.LoadSchema(t, dsn)
	schema, err := dbtest.SchemaPath()
	if err != nil {
		t.Fatal(err)
	}
	testdata := filepath.Dir(schema)
	if err := sample.Load(context.Background(), dsn, filepath.Join(testdata, "sample", "rows.sql")); err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(t.TempDir(), "share")
	if err := sample.CopyShare(filepath.Join(testdata, "sample", "share"), root, time.Now()); err != nil {
		t.Fatal(err)
	}
	fsys := faultfs.New(afero.NewOsFs(), faultfs.Rule{Path: filepath.Join(root, sample.LockedSession), Err: syscall.EACCES})
	return fixture{dsn: dsn, root: root, fsys: fsys}
}

type result struct {
	code           int
	stdout, stderr string
}

func run(t *testing.T, fsys afero.Fs, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := cli.Run(context.Background(), args, cli.Env{Stdout: &stdout, Stderr: &stderr, Fs: fsys,
		Getenv: func(string) string { return "" }})
	return result{code, stdout.String(), stderr.String()}
}

func (f fixture) audit(t *testing.T, extra ...string) (result, *reconcile.Report) {
	t.Helper()
	args := append([]string{"audit", "--root", f.root, "--path-prefix", "/mnt/efs", "--dsn", f.dsn,
		"--format", "json", "--log-level", "warn"}, extra...)
	res := run(t, f.fsys, args...)
	if res.code == cli.ExitFailed {
		return res, nil
	}
	var rep reconcile.Report
	if err := json.Unmarshal([]byte(res.stdout), &rep); err != nil {
		t.Fatalf("report is not JSON: %v\n%s", err, res.stdout)
	}
	return res, &rep
}

// dump returns every column of every row, as text, ordered by id.
func dump(t *testing.T, dsn string) map[string][]string {
	t.Helper()
	conn := open(t, dsn)
	rows, err := conn.Query("SELECT * FROM whatsapp_accounts ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	out := map[string][]string{}
	for rows.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		rec := make([]string, len(cols))
		for i, v := range vals {
			rec[i] = cols[i] + "=" + fmt.Sprint(v.String, v.Valid)
		}
		out[vals[0].String] = rec
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func open(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	cfg.ParseTime = true
	conn, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func TestAuditSampleEndToEnd(t *testing.T) {
	f := newFixture(t)
	before := dump(t, f.dsn)
	start := time.Now().Add(-time.Second).UTC().Truncate(time.Second)

	res, rep := f.audit(t)
	if res.code != cli.ExitFindings {
		t.Fatalf("exit %d, want 1\nstderr: %s", res.code, res.stderr)
	}
	var got []string
	for _, fd := range rep.Findings {
		got = append(got, fmt.Sprintf("%s %s %v", fd.Kind, fd.Path, fd.RowIDs))
	}
	sort.Strings(got)
	want := []string{
		"conflict workspace_3/session_moved [8]",
		"conflict workspace_3/session_shared [6 7]",
		"missing workspace_1/session_gone [3]",
		"orphan workspace_2/session_stray []",
		"soft_deleted workspace_2/session_old [4]",
		"unlinked workspace_2/session_nopath [5]",
		"unreadable workspace_5/session_locked [12]",
		"unrecognized lost+found []",
		"unrecognized workspace_1/tmp []",
		"unrecognized workspace_abc []",
		"unsafe_path  [10]",
		"unsafe_path  [9]",
		"unsafe_path workspace_1/session_link [11]",
	}
	if !slices.Equal(got, want) {
		t.Errorf("findings:\n got %q\nwant %q", got, want)
	}
	wantCounts := map[reconcile.Outcome]int{
		reconcile.Verified: 2, reconcile.Recent: 2, reconcile.NoPath: 1, reconcile.Cleaned: 1,
		reconcile.Missing: 1, reconcile.Orphan: 1, reconcile.SoftDeleted: 1, reconcile.Unlinked: 1,
		reconcile.Conflict: 2, reconcile.UnsafePath: 3, reconcile.Unreadable: 1, reconcile.Unrecognized: 3,
	}
	for o, n := range wantCounts {
		if rep.Summary.Outcomes[o] != n {
			t.Errorf("outcome %s: %d, want %d", o, rep.Summary.Outcomes[o], n)
		}
	}
	if rep.Summary.RowsWritten != 2 || !rep.Summary.Complete {
		t.Errorf("summary: %+v", rep.Summary)
	}

	// Exactly rows 1 and 2 changed, and only in the two storage columns.
	after := dump(t, f.dsn)
	for id, rec := range before {
		for i, col := range rec {
			name := strings.SplitN(col, "=", 2)[0]
			storage := name == "session_file_size_bytes" || name == "session_storage_verified_at"
			if (id == "1" || id == "2") && storage {
				continue
			}
			if after[id][i] != col {
				t.Errorf("row %s: %s changed to %s", id, col, after[id][i])
			}
		}
	}
	conn := open(t, f.dsn)
	for id, size := range map[int]int64{1: 9245, 2: 396} {
		var got int64
		var verified time.Time
		err := conn.QueryRow("SELECT session_file_size_bytes, session_storage_verified_at FROM whatsapp_accounts WHERE id = ?", id).
			Scan(&got, &verified)
		if err != nil {
			t.Fatal(err)
		}
		if got != size {
			t.Errorf("row %d: size %d, want %d", id, got, size)
		}
		if verified.Before(start) || verified.After(time.Now().Add(time.Second)) {
			t.Errorf("row %d: verified at %v, want about now (UTC)", id, verified)
		}
	}
}

func TestAuditDryRunChangesNothing(t *testing.T) {
	f := newFixture(t)
	before := dump(t, f.dsn)
	checksum := func() string {
		if dbtest.Backend() != "mariadb" {
			return "" // CHECKSUM TABLE is MySQL's; the dump comparison covers the embedded server
		}
		var table string
		var sum sql.NullInt64
		if err := open(t, f.dsn).QueryRow("CHECKSUM TABLE whatsapp_accounts").Scan(&table, &sum); err != nil {
			t.Fatal(err)
		}
		return fmt.Sprint(sum.Int64, sum.Valid)
	}
	sumBefore := checksum()
	res, rep := f.audit(t, "--dry-run")
	if res.code != cli.ExitFindings || rep.Summary.RowsWritten != 0 || !rep.Summary.DryRun {
		t.Fatalf("exit %d, summary %+v\n%s", res.code, rep.Summary, res.stderr)
	}
	if sumAfter := checksum(); sumAfter != sumBefore {
		t.Errorf("CHECKSUM TABLE changed: %s → %s", sumBefore, sumAfter)
	}
	after := dump(t, f.dsn)
	for id := range before {
		if !slices.Equal(before[id], after[id]) {
			t.Errorf("row %s changed under --dry-run", id)
		}
	}
}

func TestAuditRefusals(t *testing.T) {
	f := newFixture(t)
	before := dump(t, f.dsn)
	emptyRoot := t.TempDir()
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	unreachable := "root:Pw-7f3k-SECRET@tcp(127.0.0.1:1)/test"
	badPassword := f.dsn
	if cfg, err := mysql.ParseDSN(f.dsn); err == nil && dbtest.Backend() == "mariadb" {
		cfg.User, cfg.Passwd = "sessaudit_nobody", "Pw-7f3k-SECRET"
		badPassword = cfg.FormatDSN()
	}
	unknownDB := f.dsn
	if cfg, err := mysql.ParseDSN(f.dsn); err == nil {
		cfg.DBName = "sessaudit_no_such_db"
		unknownDB = cfg.FormatDSN()
	}
	tests := []struct {
		name string
		args []string
		want string // in the one line on stderr
	}{
		{"empty root looks unmounted", []string{"--root", emptyRoot, "--dsn", f.dsn}, "is the share mounted there?"},
		{"root missing", []string{"--root", filepath.Join(emptyRoot, "nope"), "--dsn", f.dsn}, "no such file or directory"},
		{"root is a file", []string{"--root", file, "--dsn", f.dsn}, "not a directory"},
		{"unreachable database", []string{"--root", f.root, "--dsn", unreachable}, "unreachable"},
		{"bad dsn", []string{"--root", f.root, "--dsn", "not a dsn"}, "--dsn"},
		{"missing table", []string{"--root", f.root, "--dsn", f.dsn, "--table", "nope"}, "nope"},
		{"bad table name", []string{"--root", f.root, "--dsn", f.dsn, "--table", "a;b"}, "a;b"},
		{"bad ratio", []string{"--root", f.root, "--dsn", f.dsn, "--max-missing-ratio", "2"}, "--max-missing-ratio"},
		{"bad time zone", []string{"--root", f.root, "--dsn", f.dsn, "--db-time-zone", "Mars/Olympus"}, "--db-time-zone"},
		{"no dsn", []string{"--root", f.root}, "--dsn"},
		{"wrong password", []string{"--root", f.root, "--dsn", badPassword}, "access denied"},
		{"unknown database", []string{"--root", f.root, "--dsn", unknownDB}, "check the database in --dsn"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "wrong password" && dbtest.Backend() != "mariadb" {
				t.Skip("the embedded server accepts any password; this case runs against MariaDB")
			}
			args := append([]string{"audit", "--path-prefix", "/mnt/efs", "--log-level", "error"}, tc.args...)
			res := run(t, f.fsys, args...)
			if res.code != cli.ExitFailed {
				t.Fatalf("exit %d, want 2\nstdout %s\nstderr %s", res.code, res.stdout, res.stderr)
			}
			lines := strings.Split(strings.TrimSpace(res.stderr), "\n")
			if len(lines) != 1 || !strings.Contains(lines[0], tc.want) {
				t.Errorf("stderr should be one line containing %q, got:\n%s", tc.want, res.stderr)
			}
			if strings.Contains(res.stderr+res.stdout, "Pw-7f3k-SECRET") {
				t.Errorf("password leaked:\n%s", res.stderr)
			}
			if res.stdout != "" {
				t.Errorf("stdout not empty: %s", res.stdout)
			}
		})
	}
	after := dump(t, f.dsn)
	for id := range before {
		if !slices.Equal(before[id], after[id]) {
			t.Errorf("row %s changed by a refused audit", id)
		}
	}
}

func TestAuditOutputFile(t *testing.T) {
	f := newFixture(t)
	out := filepath.Join(t.TempDir(), "report.txt")
	res := run(t, f.fsys, "audit", "--root", f.root, "--path-prefix", "/mnt/efs", "--dsn", f.dsn, "--output", out, "--dry-run", "--log-level", "warn")
	if res.code != cli.ExitFindings || res.stdout != "" {
		t.Fatalf("exit %d stdout %q stderr %s", res.code, res.stdout, res.stderr)
	}
	text, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"dry run", "missing (1)", `"workspace_1/session_gone"`, "unreadable (1)"} {
		if !strings.Contains(string(text), want) {
			t.Errorf("text report lacks %q:\n%s", want, text)
		}
	}
	entries, _ := os.ReadDir(filepath.Dir(out))
	if len(entries) != 1 {
		t.Errorf("temporary files left beside the report: %v", entries)
	}
}

func TestAuditInstanceCount(t *testing.T) {
	f := newFixture(t)
	res, rep := f.audit(t, "--dry-run", "--instance-count", "4")
	if res.code != cli.ExitFindings {
		t.Fatalf("exit %d\n%s", res.code, res.stderr)
	}
	var misrouted []string
	for _, fd := range rep.Findings {
		if fd.Kind == reconcile.Misrouted {
			misrouted = append(misrouted, fmt.Sprintf("%v %s", fd.RowIDs, fd.Detail))
		}
	}
	want := []string{"[14] assigned to instance 1; workspace 7 routes to instance 3 of 4"}
	if !slices.Equal(misrouted, want) {
		t.Errorf("misrouted %q, want %q", misrouted, want)
	}
	instances := map[string]reconcile.InstanceSummary{}
	for _, is := range rep.Summary.Instances {
		instances[is.Instance] = is
	}
	// Instance 1 holds alice (9245 B) and bob (396 B), verified, among others.
	if is := instances["1"]; is.Bytes < 9245+396 || is.Sessions < 2 {
		t.Errorf("instance 1: %+v", is)
	}
	if _, ok := instances["unassigned"]; !ok {
		t.Errorf("no unassigned bucket for the orphan: %+v", rep.Summary.Instances)
	}
}

// A second audit of the same table while one runs exits 2 within seconds,
// saying another audit holds the lock, and writes nothing.
func TestAuditOneAtATime(t *testing.T) {
	f := newFixture(t)
	cfg, err := mysql.ParseDSN(f.dsn)
	if err != nil {
		t.Fatal(err)
	}
	holder := open(t, f.dsn)
	conn, err := holder.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	name := "sessaudit:" + cfg.DBName + ".whatsapp_accounts:all"
	var got sql.NullInt64
	if err := conn.QueryRowContext(context.Background(), "SELECT GET_LOCK(?, 0)", name).Scan(&got); err != nil || got.Int64 != 1 {
		t.Fatalf("take the lock as another audit would: %v %v", got, err)
	}
	before := dump(t, f.dsn)
	start := time.Now()
	res, _ := f.audit(t)
	if res.code != cli.ExitFailed || !strings.Contains(res.stderr, "another audit holds the lock") {
		t.Fatalf("exit %d, stderr %s", res.code, res.stderr)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("refusal took %v", d)
	}
	after := dump(t, f.dsn)
	for id := range before {
		if !slices.Equal(before[id], after[id]) {
			t.Errorf("row %s changed by a refused audit", id)
		}
	}
	// Once the first run ends, the next one goes ahead.
	if err := conn.QueryRowContext(context.Background(), "SELECT RELEASE_LOCK(?)", name).Scan(&got); err != nil {
		t.Fatal(err)
	}
	if res, _ := f.audit(t, "--dry-run"); res.code != cli.ExitFindings {
		t.Fatalf("after release: exit %d, stderr %s", res.code, res.stderr)
	}
}

// SIGINT/SIGTERM cancel the run's context: the audit stops walking, writes
// nothing, prints a report marked incomplete and exits 2 promptly, even
// while a filesystem call hangs.
func TestAuditStopsOnSignal(t *testing.T) {
	f := newFixture(t)
	before := dump(t, f.dsn)
	stalled := faultfs.New(f.fsys, faultfs.Rule{Path: "session_bob", Ops: faultfs.OpOpen, Stall: make(chan struct{})})
	t.Cleanup(stalled.Release)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for stalled.Counts().Waiting == 0 {
			time.Sleep(time.Millisecond)
		}
		cancel() // what the signal does in main
	}()
	var stdout, stderr bytes.Buffer
	start := time.Now()
	code := cli.Run(ctx, []string{"audit", "--root", f.root, "--path-prefix", "/mnt/efs", "--dsn", f.dsn, "--format", "json"},
		cli.Env{Stdout: &stdout, Stderr: &stderr, Fs: stalled, Getenv: func(string) string { return "" }})
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("stopping took %v", d)
	}
	if code != cli.ExitFailed {
		t.Fatalf("exit %d, want 2\n%s", code, stderr.String())
	}
	var rep reconcile.Report
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("no report on stdout: %v\n%s", err, stdout.String())
	}
	if rep.Summary.Complete || !strings.Contains(rep.Summary.Error, "canceled") {
		t.Errorf("report not marked incomplete: %+v", rep.Summary)
	}
	after := dump(t, f.dsn)
	for id := range before {
		if !slices.Equal(before[id], after[id]) {
			t.Errorf("row %s changed by an interrupted audit", id)
		}
	}
}
