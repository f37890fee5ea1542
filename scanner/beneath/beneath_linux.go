package beneath

import (
	"errors"

	"golang.org/x/sys/unix"
)

// DirFlags opens a directory for reading: never a symbolic link in its
// place, never inherited by a child process.
const DirFlags = unix.O_RDONLY | unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_CLOEXEC

// resolve confines an openat2 to beneath its directory: no element that
// leaves it, no symbolic or magic link anywhere on the path, no mount
// crossed.
const resolve = unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS | unix.RESOLVE_NO_XDEV

// Open opens path, relative to dirfd, with openat2 confined beneath dirfd,
// again when a signal interrupted it or a rename raced the resolution
// (EAGAIN). fd is -1 on error. A link on the path fails with ELOOP (as its
// last element, with ENOTDIR under O_DIRECTORY), a mount point and an
// escape with EXDEV; ENOSYS and EPERM may
// mean that openat2 cannot be used (see Unavailable).
func Open(dirfd int, path string, flags int) (int, error) {
	how := unix.OpenHow{Flags: uint64(flags), Resolve: resolve}
	for {
		fd, err := unix.Openat2(dirfd, path, &how)
		if err != unix.EINTR && err != unix.EAGAIN {
			return fd, err
		}
	}
}

// Probe asks openat2, unconfined, for the directory path relative to dirfd
// and returns its error: nil where openat2 works. It tells a kernel before
// 5.6 (ENOSYS) or a seccomp profile that refuses openat2 (EPERM, for a
// path the caller may open) from a real failure of Open.
func Probe(dirfd int, path string) error {
	fd, err := unix.Openat2(dirfd, path, &unix.OpenHow{Flags: unix.O_RDONLY | unix.O_DIRECTORY | unix.O_CLOEXEC})
	if err == nil {
		unix.Close(fd)
	}
	return err
}

// Unavailable reports whether err, of Probe, says that openat2 cannot be
// used here.
func Unavailable(err error) bool {
	return errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EPERM)
}

// OpenEach opens path, relative to dirfd, one element at a time, each with
// openat(DirFlags) relative to the one before: where openat2 cannot be
// used. An element that is a symbolic link or not a directory fails with
// ENOTDIR (or ELOOP), one on another device than dev (a mount
// point) with EXDEV. path "." opens dirfd's directory again.
func OpenEach(dirfd int, path string, dev uint64) (int, error) {
	fd := dirfd
	start := 0
	for i := 0; i <= len(path); i++ {
		if i < len(path) && path[i] != '/' {
			continue
		}
		next, err := openChild(fd, path[start:i], dev)
		if fd != dirfd {
			unix.Close(fd)
		}
		if err != nil {
			return -1, err
		}
		fd, start = next, i+1
	}
	return fd, nil
}

// openChild opens the directory name inside the directory parent, on
// device dev.
func openChild(parent int, name string, dev uint64) (int, error) {
	fd, err := unix.Openat(parent, name, DirFlags, 0)
	if err != nil {
		return -1, err
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return -1, err
	}
	if st.Dev != dev {
		unix.Close(fd)
		return -1, unix.EXDEV
	}
	return fd, nil
}
