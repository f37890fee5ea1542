// Package sample sets up the bundled sample (testdata/sample) for the demo
// and the end-to-end tests: it loads SQL files, copies the sample share as
// an operator copies one in, and changes what the application changed
// within the grace period.
package sample

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	_ "github.com/go-sql-driver/mysql" // the "mysql" driver for Load

	"sessaudit/db/dbtest"
	"sessaudit/scanner"
)

// NewSession is the sample session, and FreshRow the row, that the
// application changed within the grace period (see Fresh).
const (
	NewSession = "workspace_6/session_new"
	FreshRow   = 13
)

// LockedSession is where the demo and the tests inject a permission error,
// to show an unreadable session (root reads anything on a local disk).
const LockedSession = "workspace_5/session_locked"

// Load runs the statements of SQL files against dsn, in order.
func Load(ctx context.Context, dsn string, files ...string) error {
	conn, err := sql.Open("mysql", dsn)
	if err != nil {
		return fmt.Errorf("load: %w", err)
	}
	defer conn.Close()
	for _, file := range files {
		text, err := os.ReadFile(file)
		if err != nil {
			return fmt.Errorf("load: %w", err)
		}
		for _, stmt := range dbtest.Split(string(text)) {
			if _, err := conn.ExecContext(ctx, stmt); err != nil {
				return fmt.Errorf("load %s: %w", file, err)
			}
		}
	}
	return nil
}

// CopyShare copies the sample share src to dst, keeping symbolic links as
// links, and dates everything two days before now, as cp -a keeps the
// modification times of a copy. It returns once the copy has stood for
// scanner.Quiet, as a share that is not being copied stands: an audit right
// after it judges every session (a session changed moments before it was
// measured is never judged incomplete or bloated), not only those it
// measured late enough. The change times of the copy are of the moment it
// is made, and cannot be set back: the audit's grace period goes by them,
// so the sessions copied are judged past it only by an audit whose clock
// is past the grace period after the copy (a clock ahead, or a short
// --min-age waited out).
func CopyShare(src, dst string, now time.Time) error {
	old := now.Add(-48 * time.Hour)
	var dirs []string
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			link, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(link, target)
		case d.IsDir():
			dirs = append(dirs, rel)
			return os.MkdirAll(target, 0o755)
		default:
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			if err := os.WriteFile(target, data, 0o644); err != nil {
				return err
			}
			return os.Chtimes(target, old, old)
		}
	})
	if err != nil {
		return fmt.Errorf("copy sample share: %w", err)
	}
	// Children first: dating a directory after its entries keeps its time.
	for i := len(dirs) - 1; i >= 0; i-- {
		if err := os.Chtimes(filepath.Join(dst, dirs[i]), old, old); err != nil {
			return fmt.Errorf("copy sample share: %w", err)
		}
	}
	time.Sleep(scanner.Quiet)
	return nil
}

// Fresh changes, at now, what the application changed within the grace
// period: it dates NewSession under the share root and its file now (which
// sets their change times to the real time; an audit whose time budget
// sizes nothing sees the directory's own), and dates FreshRow's created_at
// and updated_at now in the database dsn. now may be ahead of the real time (an audit's clock moved forward); the
// row is dated in the server's own frame, NOW() plus the difference, as
// rows.sql dates it.
func Fresh(ctx context.Context, dsn, root string, now time.Time) error {
	dir := filepath.Join(root, filepath.FromSlash(NewSession))
	for _, p := range []string{filepath.Join(dir, "creds.json"), dir} {
		if err := os.Chtimes(p, now, now); err != nil {
			return fmt.Errorf("fresh session: %w", err)
		}
	}
	conn, err := sql.Open("mysql", dsn)
	if err != nil {
		return fmt.Errorf("fresh row: %w", err)
	}
	defer conn.Close()
	ahead := int64(time.Until(now).Round(time.Second) / time.Second)
	_, err = conn.ExecContext(ctx, "UPDATE whatsapp_accounts SET created_at = NOW() + INTERVAL ? SECOND, updated_at = NOW() + INTERVAL ? SECOND WHERE id = ?",
		ahead, ahead, FreshRow)
	if err != nil {
		return fmt.Errorf("fresh row: %w", err)
	}
	return nil
}
