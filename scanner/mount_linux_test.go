package scanner_test

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/spf13/afero"

	"sessaudit/scanner"
)

// devFs is a real filesystem on which one directory and everything under it
// report another st_dev, as a mounted filesystem does. Mounting needs privileges a test may not have; this
// needs none.
type devFs struct {
	afero.Fs
	mount string // absolute, cleaned
}

func (d *devFs) Open(name string) (afero.File, error) {
	return d.OpenFile(name, os.O_RDONLY, 0)
}

func (d *devFs) OpenFile(name string, flag int, perm os.FileMode) (afero.File, error) {
	f, err := d.Fs.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &devFile{File: f, fs: d, name: filepath.Clean(name)}, nil
}

func (d *devFs) LstatIfPossible(name string) (os.FileInfo, bool, error) {
	fi, ok, err := d.Fs.(afero.Lstater).LstatIfPossible(name)
	if err == nil && d.under(filepath.Clean(name)) {
		fi = otherDev(fi)
	}
	return fi, ok, err
}

// under reports whether the cleaned path name is on the other filesystem.
func (d *devFs) under(name string) bool {
	return name == d.mount || strings.HasPrefix(name, d.mount+"/")
}

type devFile struct {
	afero.File
	fs   *devFs
	name string
}

func (f *devFile) Stat() (os.FileInfo, error) {
	fi, err := f.File.Stat()
	if err == nil && f.fs.under(f.name) {
		fi = otherDev(fi)
	}
	return fi, err
}

func (f *devFile) Readdir(n int) ([]os.FileInfo, error) {
	infos, err := f.File.Readdir(n)
	for i, fi := range infos {
		if f.fs.under(filepath.Join(f.name, fi.Name())) {
			infos[i] = otherDev(fi)
		}
	}
	return infos, err
}

type otherDevInfo struct {
	os.FileInfo
	st syscall.Stat_t
}

func (o otherDevInfo) Sys() any { return &o.st }

func otherDev(fi os.FileInfo) os.FileInfo {
	st := *fi.Sys().(*syscall.Stat_t)
	st.Dev ^= 0x5a5a
	return otherDevInfo{FileInfo: fi, st: st}
}

// TestOsMountNotEntered checks that a filesystem mounted inside a session is
// not entered: neither the mount point nor anything under it counts.
func TestOsMountNotEntered(t *testing.T) { forEachOS(t, testOsMountNotEntered) }

func testOsMountNotEntered(t *testing.T, impl osImpl) {
	tr := tree{
		"workspace_1/session_a/f":             "abc",
		"workspace_1/session_a/mnt/":          "",
		"workspace_1/session_a/other/g":       "de",
		"workspace_1/session_b/mounted-here/": "",
	}
	// f and other/g: 2 × (4096 + 2048); dirs session and other: 2 × 2048.
	// The mount point and what it holds add nothing.
	wantA := func(root string) scanner.Usage {
		return scanner.Usage{Size: 5,
			Allocated: allocated(t, filepath.Join(root, "workspace_1/session_a/f"), filepath.Join(root, "workspace_1/session_a/other/g")),
			Metered:   16384, Files: 2, Dirs: 2}
	}

	t.Run("reported st_dev", func(t *testing.T) {
		root := osTree(t, tr)
		mnt := filepath.Join(root, "workspace_1", "session_a", "mnt")
		if err := os.WriteFile(filepath.Join(mnt, "big"), []byte(strings.Repeat("m", 50000)), 0o644); err != nil {
			t.Fatal(err)
		}
		fsys, cfg := impl.fs(t, faults{mount: mnt}, scanner.Config{})
		e := walk(t, fsys, root, cfg)["workspace_1/session_a"]
		if e.Err != nil || e.Usage != wantA(root) {
			t.Errorf("session_a = Err %v, Usage %+v; want %+v", e.Err, e.Usage, wantA(root))
		}
	})

	t.Run("session that is itself a mount point", func(t *testing.T) {
		root := osTree(t, tr)
		sess := filepath.Join(root, "workspace_1", "session_a")
		fsys, cfg := impl.fs(t, faults{mount: sess}, scanner.Config{})
		// The session's own filesystem is the one measured: everything in
		// it counts, as on a share where each session is its own volume.
		e := walk(t, fsys, root, cfg)["workspace_1/session_a"]
		// f, other/g; dirs session, mnt, other: 2 × 6144 + 3 × 2048
		want := scanner.Usage{Size: 5, Allocated: wantA(root).Allocated, Metered: 18432, Files: 2, Dirs: 3}
		if e.Err != nil || e.Usage != want {
			t.Errorf("session_a = Err %v, Usage %+v; want %+v", e.Err, e.Usage, want)
		}
	})

	t.Run("real tmpfs", func(t *testing.T) {
		root := osTree(t, tr)
		mnt := filepath.Join(root, "workspace_1", "session_a", "mnt")
		if err := syscall.Mount("tmpfs", mnt, "tmpfs", 0, "size=4m"); err != nil {
			// Mounting needs CAP_SYS_ADMIN; "reported st_dev" above covers
			// the rule without it.
			t.Skipf("cannot mount tmpfs here (%v); the reported st_dev subtest covers this case", err)
		}
		t.Cleanup(func() {
			if err := syscall.Unmount(mnt, syscall.MNT_DETACH); err != nil {
				t.Errorf("unmount %s: %v", mnt, err)
			}
		})
		if err := os.WriteFile(filepath.Join(mnt, "big"), []byte(strings.Repeat("m", 50000)), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Join(mnt, "deep", "er"), 0o755); err != nil {
			t.Fatal(err)
		}
		fsys, cfg := impl.fs(t, faults{}, scanner.Config{})
		e := walk(t, fsys, root, cfg)["workspace_1/session_a"]
		if e.Err != nil || e.Usage != wantA(root) {
			t.Errorf("session_a = Err %v, Usage %+v; want %+v", e.Err, e.Usage, wantA(root))
		}
	})
}
