// Package sample sets up the bundled sample (testdata/sample) for the demo
// and the end-to-end tests: it loads SQL files and copies the sample share
// with the modification times the audit's grace period expects.
package sample

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	_ "github.com/go-sql-driver/mysql" // the "mysql" driver for Load

	"sessaudit/db/dbtest"
	"sessaudit/scanner"
)

// NewSession is the sample session left with a fresh modification time, to
// show the grace period.
const NewSession = "workspace_6/session_new"

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
// links, and dates everything two days before now except NewSession. It
// returns once the copy has stood for scanner.Quiet, as a share that is
// not being copied stands: an audit right after it judges every session
// (a session changed moments before it was measured is never judged
// incomplete or bloated), not only those it measured late enough.
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
			return age(target, rel, old)
		}
	})
	if err != nil {
		return fmt.Errorf("copy sample share: %w", err)
	}
	// Children first: dating a directory after its entries keeps its time.
	for i := len(dirs) - 1; i >= 0; i-- {
		if err := age(filepath.Join(dst, dirs[i]), dirs[i], old); err != nil {
			return fmt.Errorf("copy sample share: %w", err)
		}
	}
	time.Sleep(scanner.Quiet)
	return nil
}

func age(path, rel string, old time.Time) error {
	if strings.HasPrefix(filepath.ToSlash(rel), NewSession) {
		return nil
	}
	return os.Chtimes(path, old, old)
}
