package scanner

import (
	"fmt"
	"os"
	"syscall"

	"github.com/spf13/afero"
	"golang.org/x/sys/unix"

	"sessaudit/scanner/beneath"
)

// openFileFlags make opening a file refuse a symbolic link and never block
// on a FIFO that took its place.
const openFileFlags = syscall.O_NOFOLLOW | syscall.O_NONBLOCK

// readNative is ReadSessionFile on the host filesystem, through
// descriptors: the workspace and the session are opened one at a time
// relative to the root with beneath.OpenEach (never a link, never another
// mounted filesystem), and the file relative to the session with
// O_NOFOLLOW, so nothing below root is followed. It reports false where
// Walk would not read fsys natively.
func readNative(fsys afero.Fs, root, rel, name string, limit int64) (read, bool, error) {
	if _, ok := hostFs(fsys); !ok {
		return read{}, false, nil
	}
	what := rel + "/" + name
	rootFD, err := openRetry(unix.AT_FDCWD, root, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC) // the root may be a link
	if err != nil {
		return read{}, true, fmt.Errorf("read %s: %w", what, &os.PathError{Op: "open", Path: root, Err: err})
	}
	var st unix.Stat_t
	if err := unix.Fstat(rootFD, &st); err != nil {
		unix.Close(rootFD)
		return read{}, true, fmt.Errorf("read %s: %w", what, &os.PathError{Op: "fstat", Path: root, Err: err})
	}
	dir, err := beneath.OpenEach(rootFD, rel, uint64(st.Dev))
	unix.Close(rootFD)
	switch {
	case err == unix.ELOOP || err == unix.ENOTDIR || err == unix.EXDEV:
		return read{}, true, fmt.Errorf("read %s: %w: %s is not a real directory on the root's filesystem", what, ErrNotSessionDir, rel)
	case err != nil:
		return read{}, true, fmt.Errorf("read %s: %w", what, &os.PathError{Op: "open", Path: rel, Err: err})
	}
	file, err := openRetry(dir, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC|unix.O_NOCTTY)
	unix.Close(dir)
	switch {
	case err == unix.ELOOP:
		return read{}, true, fmt.Errorf("read %s: %w (a symbolic link)", what, ErrNotRegular)
	case err != nil:
		return read{}, true, fmt.Errorf("read %s: %w", what, &os.PathError{Op: "open", Path: what, Err: err})
	}
	f := os.NewFile(uintptr(file), what)
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return read{}, true, fmt.Errorf("read %s: %w", what, err)
	}
	if !fi.Mode().IsRegular() {
		return read{}, true, fmt.Errorf("read %s: %w", what, ErrNotRegular)
	}
	b, err := readLimited(f, what, limit)
	return read{b, fi.ModTime()}, true, err
}

// openRetry opens name relative to dirfd, again when interrupted.
func openRetry(dirfd int, name string, flags int) (int, error) {
	for {
		fd, err := unix.Openat(dirfd, name, flags, 0)
		if err != unix.EINTR {
			return fd, err
		}
	}
}
