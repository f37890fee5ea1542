package scanner_test

import (
	"context"
	"errors"
	"io/fs"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"sessaudit/scanner"
)

// ReadSessionFile reads a session's regular file and nothing that a link
// or a FIFO stands for, on every implementation, and counts its calls.
func TestReadSessionFile(t *testing.T) { forEachOS(t, testReadSessionFile) }

func testReadSessionFile(t *testing.T, impl osImpl) {
	root := osTree(t, tree{
		"workspace_1/session_a/creds.json": `{"noiseKey":{}}`,
		"workspace_1/session_a/big.json":   "0123456789",
		"workspace_1/session_a/Default/":   "",
		"elsewhere/session_b/creds.json":   "{}",
		"elsewhere/secret":                 "s",
	})
	symlink(t, filepath.Join(root, "elsewhere/secret"), filepath.Join(root, "workspace_1/session_a/link.json"))
	symlink(t, filepath.Join(root, "elsewhere/session_b"), filepath.Join(root, "workspace_1/session_b"))
	symlink(t, "elsewhere", filepath.Join(root, "workspace_2"))
	if err := syscall.Mkfifo(filepath.Join(root, "workspace_1/session_a/fifo.json"), 0o644); err != nil {
		t.Fatal(err)
	}
	fsys, cfg := impl.fs(t, faults{}, scanner.Config{Progress: &scanner.Progress{}})
	ctx := context.Background()
	b, mtime, err := scanner.ReadSessionFile(ctx, fsys, root, "workspace_1/session_a", "creds.json", 100, cfg)
	if err != nil || string(b) != `{"noiseKey":{}}` || time.Since(mtime) > time.Minute {
		t.Errorf("creds.json: %q, %v, %v", b, mtime, err)
	}
	if calls := cfg.Progress.Calls.Load(); calls == 0 {
		t.Errorf("a read counted no calls")
	}
	for _, tc := range []struct {
		rel, name string
		want      error
	}{
		{"workspace_1/session_a", "none.json", fs.ErrNotExist},
		{"workspace_1/session_z", "creds.json", fs.ErrNotExist},
		{"workspace_1/session_a", "link.json", scanner.ErrNotRegular},
		{"workspace_1/session_a", "fifo.json", scanner.ErrNotRegular},
		{"workspace_1/session_a", "Default", scanner.ErrNotRegular},
		{"workspace_1/session_a", "big.json", scanner.ErrTooLarge},
		{"workspace_1/session_b", "creds.json", scanner.ErrNotSessionDir},
		{"workspace_2/session_b", "creds.json", scanner.ErrNotSessionDir},
		{"workspace_1/session_a", "../session_a/creds.json", scanner.ErrNotSessionDir},
		{"elsewhere/session_b", "creds.json", scanner.ErrNotSessionDir},
	} {
		b, _, err := scanner.ReadSessionFile(ctx, fsys, root, tc.rel, tc.name, 5, cfg)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s/%s: %q, %v; want %v", tc.rel, tc.name, b, err, tc.want)
		}
	}
}
