package scanner_test

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/spf13/afero"
	"golang.org/x/sys/unix"

	"sessaudit/scanner"
)

// TestOsSizeOverflow sizes sparse files of 8 EiB - 1 on tmpfs, the largest
// a file can be: one of them meters past int64 (its size rounded up to
// 4 KiB), two of them sum past it. Such a session has an error and no
// sizes; it must never come out with a wrapped-around, negative size.
func TestOsSizeOverflow(t *testing.T) { forEachOS(t, testOsSizeOverflow) }

func testOsSizeOverflow(t *testing.T, impl osImpl) {
	// t.TempDir may be on ext4, whose files stop at 16 TiB.
	var sfs unix.Statfs_t
	if err := unix.Statfs("/dev/shm", &sfs); err != nil || sfs.Type != unix.TMPFS_MAGIC {
		t.Skipf("/dev/shm is not tmpfs (%v): no file can be large enough", err)
	}
	dir, err := os.MkdirTemp("/dev/shm", "sessaudit-overflow-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	root := filepath.Join(dir, "share")
	writeTree(t, afero.NewOsFs(), root, tree{
		"workspace_1/session_one/":  "",
		"workspace_1/session_two/a": "",
		"workspace_1/session_ok/f":  "x",
	})
	for _, p := range []string{"workspace_1/session_one/big", "workspace_1/session_two/a", "workspace_1/session_two/sub/b"} {
		p = filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(p, math.MaxInt64); err != nil {
			t.Fatal(err)
		}
	}
	fsys, cfg := impl.fs(t, faults{}, scanner.Config{})
	entries := walk(t, fsys, root, cfg)
	for _, rel := range []string{"workspace_1/session_one", "workspace_1/session_two"} {
		e := entries[rel]
		if !errors.Is(e.Err, scanner.ErrOverflow) || e.Usage != (scanner.Usage{}) {
			t.Errorf("%s = Err %v, Usage %+v; want ErrOverflow and no sizes", rel, e.Err, e.Usage)
		}
	}
	if e := entries["workspace_1/session_ok"]; e.Err != nil || e.Usage.Size != 1 {
		t.Errorf("session_ok = Err %v, Usage %+v; want 1 byte", e.Err, e.Usage)
	}
}
