// Command sessaudit-demo runs a full audit of the bundled sample: it starts
// an embedded MySQL-compatible server (go-mysql-server) in this process,
// loads testdata/schema.sql and testdata/sample/rows.sql, copies the sample
// share testdata/sample/share to a temporary directory, waits out a grace
// period of a few seconds (a copy's change times are of now, and the audit
// goes by them), runs exactly what `sessaudit audit --min-age` of that
// period runs against it over the MySQL protocol, and prints the report and
// then the rows as the audit left them.
//
// It is a separate command so that the production binary never links the
// embedded server.
package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/spf13/afero"
	"golang.org/x/term"

	"sessaudit/cmd/internal/cli"
	"sessaudit/cmd/internal/sample"
	"sessaudit/db/dbtest"
	"sessaudit/scanner/faultfs"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code, err := run(ctx, os.Args[1:])
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "sessaudit-demo: %v\n", err)
	}
	os.Exit(code)
}

// minAge is the demo audit's grace period, in place of the default hour:
// the demo waits it out after copying the share.
const minAge = 3 * time.Second

func run(ctx context.Context, args []string) (int, error) {
	flags := flag.NewFlagSet("sessaudit-demo", flag.ContinueOnError)
	testdata := flags.String("testdata", "", "the repository's testdata directory (default: found from the working directory)")
	format := flags.String("format", "text", "report format: text, json or html")
	if err := flags.Parse(args); err != nil {
		return 2, nil
	}
	if *testdata == "" {
		schema, err := dbtest.SchemaPath()
		if err != nil {
			return 2, fmt.Errorf("%w (run it from the repository, or pass -testdata)", err)
		}
		*testdata = filepath.Dir(schema)
	}

	srv, err := dbtest.Start(ctx, "sessaudit_demo")
	if err != nil {
		return 2, fmt.Errorf("start embedded server: %w", err)
	}
	defer srv.Close()
	for _, file := range []string{"schema.sql", "sample/rows.sql"} {
		if err := sample.Load(ctx, srv.DSN(), filepath.Join(*testdata, file)); err != nil {
			return 2, err
		}
	}

	tmp, err := os.MkdirTemp("", "sessaudit-demo-")
	if err != nil {
		return 2, err
	}
	defer os.RemoveAll(tmp)
	root := filepath.Join(tmp, "share")
	copied := time.Now()
	if err := sample.CopyShare(filepath.Join(*testdata, "sample", "share"), root, copied); err != nil {
		return 2, err
	}
	// A copy is as new as the moment it was made, whatever modification
	// times it kept: the audit judges its sessions once the grace period
	// has passed since.
	t := time.NewTimer(time.Until(copied.Add(minAge + 100*time.Millisecond)))
	select {
	case <-t.C:
	case <-ctx.Done():
		t.Stop()
		return 2, ctx.Err()
	}
	if err := sample.Fresh(ctx, srv.DSN(), root, time.Now()); err != nil {
		return 2, err
	}

	fmt.Printf("sessaudit demo: the sample share is at %s, stored in the table as /mnt/efs;\n", root)
	fmt.Printf("it was copied %s ago, longer than the grace period (--min-age %s; an hour by default).\n", minAge, minAge)
	fmt.Printf("A permission error is injected at %s; %s and row %d were just changed.\n\n", sample.LockedSession, sample.NewSession, sample.FreshRow)
	fsys := faultfs.New(afero.NewOsFs(), faultfs.Rule{Path: filepath.Join(root, sample.LockedSession), Err: syscall.EACCES})
	auditArgs := []string{"audit", "--root", root, "--path-prefix", "/mnt/efs", "--dsn", srv.DSN(), "--min-age", minAge.String(),
		"--instance-count", "4", "--format", *format}
	fmt.Printf("$ sessaudit %s\n", shellJoin(auditArgs))
	// The command line above is the whole configuration: SESSAUDIT_*
	// variables of the caller's shell (a production DSN, say) play no part.
	code := cli.Run(ctx, auditArgs, cli.Env{
		Stdout: os.Stdout, Stderr: os.Stderr, Fs: fsys,
		Getenv:           func(string) string { return "" },
		StderrIsTerminal: term.IsTerminal(int(os.Stderr.Fd())),
	})
	fmt.Printf("\nexit status %d (0 nothing found, 1 findings present, 2 could not audit)\n\n", code)
	if code == cli.ExitFailed {
		return 2, errors.New("the audit failed")
	}
	if err := printRows(ctx, os.Stdout, srv.DSN()); err != nil {
		return 2, err
	}
	return 0, nil
}

func printRows(ctx context.Context, w io.Writer, dsn string) error {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return err
	}
	cfg.ParseTime = true
	conn, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		return err
	}
	defer conn.Close()
	rows, err := conn.QueryContext(ctx, `SELECT id, workspace_id, session_id, session_storage_path,
		session_file_size_bytes, session_storage_verified_at, deleted_at IS NOT NULL
		FROM whatsapp_accounts ORDER BY id`)
	if err != nil {
		return fmt.Errorf("read rows: %w", err)
	}
	defer rows.Close()
	fmt.Fprintln(w, "the rows afterwards:")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tWORKSPACE\tSESSION\tDELETED\tSESSION_STORAGE_PATH\tSIZE_BYTES\tVERIFIED_AT")
	for rows.Next() {
		var (
			id, ws     uint64
			session    string
			path       sql.NullString
			size       sql.NullInt64
			verifiedAt sql.NullTime
			deleted    bool
		)
		if err := rows.Scan(&id, &ws, &session, &path, &size, &verifiedAt, &deleted); err != nil {
			return fmt.Errorf("read rows: %w", err)
		}
		fmt.Fprintf(tw, "%d\t%d\t%s\t%s\t%s\t%s\t%s\n", id, ws, session, yesNo(deleted),
			orNull(fmt.Sprintf("%q", path.String), path.Valid), orNull(fmt.Sprint(size.Int64), size.Valid),
			orNull(verifiedAt.Time.Format(time.DateTime), verifiedAt.Valid))
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read rows: %w", err)
	}
	return tw.Flush()
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func orNull(s string, valid bool) string {
	if !valid {
		return "NULL"
	}
	return s
}

// shellJoin joins args into a command line a POSIX shell reads back as the
// same words: a word with anything but letters, digits and @%+=:,./_- in it
// is single-quoted, a ' inside written as '\”. The DSN's parentheses need it.
func shellJoin(args []string) string {
	quoted := make([]string, len(args))
	for i, a := range args {
		quoted[i] = shellQuote(a)
	}
	return strings.Join(quoted, " ")
}

func shellQuote(s string) string {
	safe := s != ""
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("@%+=:,./_-", r)) {
			safe = false
			break
		}
	}
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
