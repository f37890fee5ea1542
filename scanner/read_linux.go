package scanner

import (
	"fmt"
	"os"
	"syscall"

	"github.com/spf13/afero"
	"golang.org/x/sys/unix"
)

// openFileFlags make opening a file refuse a symbolic link and never block
// on a FIFO that took its place.
const openFileFlags = syscall.O_NOFOLLOW | syscall.O_NONBLOCK

// readNative is ReadSessionFile on the host filesystem, through
// descriptors: the workspace, the session and the file are each opened
// relative to the one before with O_NOFOLLOW, so nothing below root is
// followed. It reports false where Walk would not read fsys natively.
func readNative(fsys afero.Fs, root, rel, name string, limit int64) (read, bool, error) {
	if _, ok := hostFs(fsys); !ok {
		return read{}, false, nil
	}
	ws, id, _ := ParseSessionPath(rel)
	what := rel + "/" + name
	fd, err := openRetry(unix.AT_FDCWD, root, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC)
	if err != nil {
		return read{}, true, fmt.Errorf("read %s: %w", what, &os.PathError{Op: "open", Path: root, Err: err})
	}
	for _, dir := range []string{WorkspaceName(ws), SessionName(id)} {
		next, err := openRetry(fd, dir, openFlags)
		unix.Close(fd)
		switch {
		case err == unix.ELOOP || err == unix.ENOTDIR:
			return read{}, true, fmt.Errorf("read %s: %w: %s is not a real directory", what, ErrNotSessionDir, dir)
		case err != nil:
			return read{}, true, fmt.Errorf("read %s: %w", what, &os.PathError{Op: "open", Path: dir, Err: err})
		}
		fd = next
	}
	file, err := openRetry(fd, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC|unix.O_NOCTTY)
	unix.Close(fd)
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
