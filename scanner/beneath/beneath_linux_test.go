package beneath_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"sessaudit/scanner/beneath"
)

// TestOpen: Open and OpenEach open the directories beneath the root and
// refuse, alike, a symbolic link anywhere on the path, a path that leaves
// the root, and a file.
func TestOpen(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{"a/b/c", "elsewhere/d"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "a", "f"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(root, "elsewhere"), filepath.Join(root, "a", "link")); err != nil {
		t.Fatal(err)
	}
	rootFD, err := unix.Open(root, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(rootFD)
	var st unix.Stat_t
	if err := unix.Fstat(rootFD, &st); err != nil {
		t.Fatal(err)
	}
	openat2 := beneath.Probe(rootFD, ".") == nil
	if !openat2 {
		t.Log("openat2 cannot be used here: only OpenEach is tested")
	}
	for _, tc := range []struct {
		path string
		want error // nil: the directory opens
		// wantAt2 and wantEach are Open's and OpenEach's refusals when
		// they differ from want.
		wantAt2, wantEach error
	}{
		{path: "."},
		{path: "a"},
		{path: "a/b/c"},
		{path: "elsewhere/d"},
		// A link as the last element: O_DIRECTORY|O_NOFOLLOW says ENOTDIR.
		{path: "a/link", want: unix.ENOTDIR},
		{path: "a/link/d", want: unix.ELOOP, wantEach: unix.ENOTDIR},
		{path: "a/f", want: unix.ENOTDIR},
		{path: "a/none", want: unix.ENOENT},
		{path: "a/../../" + filepath.Base(root), want: nil, wantAt2: unix.EXDEV}, // openat2: leaves the root
	} {
		check := func(name string, fd int, err error, want error) {
			t.Helper()
			if fd >= 0 {
				defer unix.Close(fd)
			}
			if !errors.Is(err, want) || (want == nil) != (fd >= 0) {
				t.Errorf("%s(%s) = %d, %v; want %v", name, tc.path, fd, err, want)
			}
		}
		if openat2 {
			want := tc.want
			if tc.wantAt2 != nil {
				want = tc.wantAt2
			}
			fd, err := beneath.Open(rootFD, tc.path, beneath.DirFlags)
			check("Open", fd, err, want)
		}
		if tc.wantAt2 != nil {
			continue // OpenEach follows ".." as openat does; the callers give it none
		}
		want := tc.want
		if tc.wantEach != nil {
			want = tc.wantEach
		}
		fd, err := beneath.OpenEach(rootFD, tc.path, uint64(st.Dev))
		check("OpenEach", fd, err, want)
	}
	if fd, err := beneath.OpenEach(rootFD, "a", uint64(st.Dev)+1); !errors.Is(err, unix.EXDEV) {
		if fd >= 0 {
			unix.Close(fd)
		}
		t.Errorf("OpenEach on another device = %d, %v; want EXDEV", fd, err)
	}
	if !beneath.Unavailable(unix.ENOSYS) || !beneath.Unavailable(unix.EPERM) || beneath.Unavailable(unix.EACCES) {
		t.Error("Unavailable: want ENOSYS and EPERM only")
	}
}
