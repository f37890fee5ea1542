//go:build linux

package quarantine

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"sessaudit/scanner/beneath"
)

// The quarantine opens one name at a time, each relative to a directory
// it holds open, and checks every directory's mount id itself (sameMount),
// so it needs beneath's flags and not its path resolution.
const (
	// dirFlags open a directory without following a symbolic link in its
	// last element: a link gives ELOOP, anything else ENOTDIR.
	dirFlags = beneath.DirFlags
	// followFlags open a directory the operator named, which may be a link.
	followFlags = beneath.DirFlags &^ unix.O_NOFOLLOW
)

// fileStat is what a lookup tells of an entry.
type fileStat struct {
	id   Identity
	mode uint32
	// mnt is the id of the mount the entry is on; 0 when unknown. A bind
	// mount of the same filesystem has the same device and another mount
	// id.
	mnt uint64
}

func (st fileStat) isDir() bool { return st.mode&unix.S_IFMT == unix.S_IFDIR }

func (st fileStat) isRegular() bool { return st.mode&unix.S_IFMT == unix.S_IFREG }

// sameType reports whether st and o are of one file type.
func (st fileStat) sameType(o fileStat) bool { return st.mode&unix.S_IFMT == o.mode&unix.S_IFMT }

// statxMask asks for what a fileStat holds: the birth time tells a
// directory from one created again at once with the same inode number.
// The mount id tells a bind mount from a directory.
const statxMask = unix.STATX_TYPE | unix.STATX_INO | unix.STATX_BTIME | unix.STATX_MNT_ID

// statx looks at name in dirfd (the file dirfd itself with name "" and
// unix.AT_EMPTY_PATH). Before Linux 5.8, whose statx has no mount id,
// name_to_handle_at gives it.
func statx(dirfd int, name string, flags int) (fileStat, error) {
	var stx unix.Statx_t
	if err := ignoringEINTR(func() error { return unix.Statx(dirfd, name, flags, statxMask, &stx) }); err != nil {
		return fileStat{}, err
	}
	id := Identity{Dev: unix.Mkdev(stx.Dev_major, stx.Dev_minor), Ino: stx.Ino}
	if stx.Mask&unix.STATX_BTIME != 0 {
		id.Birth = stx.Btime.Sec*1e9 + int64(stx.Btime.Nsec)
	}
	st := fileStat{id: id, mode: uint32(stx.Mode)}
	if stx.Mask&unix.STATX_MNT_ID != 0 {
		st.mnt = stx.Mnt_id
	} else if _, mnt, err := unix.NameToHandleAt(dirfd, name, flags&unix.AT_EMPTY_PATH); err == nil {
		st.mnt = uint64(mnt)
	}
	return st, nil
}

// ignoringEINTR calls op until it returns something other than EINTR, which
// an interruptible network filesystem may return.
func ignoringEINTR(op func() error) error {
	for {
		if err := op(); !errors.Is(err, unix.EINTR) {
			return err
		}
	}
}

// openPath opens the directory at path, following links, as the operator
// named it.
func (c *calls) openPath(path string) (int, fileStat, error) {
	return c.openFlags(unix.AT_FDCWD, path, followFlags)
}

// openDir opens the directory name in dirfd without following a link there.
// A link or a non-directory gives an error wrapping ErrNotDir.
func (c *calls) openDir(dirfd int, name string) (int, fileStat, error) {
	fd, st, err := c.openFlags(dirfd, name, dirFlags)
	if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) {
		err = fmt.Errorf("%w (%w)", ErrNotDir, err)
	}
	return fd, st, err
}

func (c *calls) openFlags(dirfd int, name string, flags int) (int, fileStat, error) {
	fd := -1
	var st fileStat
	err := c.do("open "+name, func() error {
		err := ignoringEINTR(func() (err error) {
			fd, err = unix.Openat(dirfd, name, flags, 0)
			return err
		})
		if err != nil {
			return err
		}
		if st, err = statx(fd, "", unix.AT_EMPTY_PATH); err != nil {
			unix.Close(fd)
			return err
		}
		return nil
	}, func() { unix.Close(fd) })
	if err != nil {
		return -1, fileStat{}, err
	}
	return fd, st, nil
}

// statAt looks at name in dirfd without following a link.
func (c *calls) statAt(dirfd int, name string) (fileStat, error) {
	var st fileStat
	err := c.do("lstat "+name, func() (err error) {
		st, err = statx(dirfd, name, unix.AT_SYMLINK_NOFOLLOW)
		return err
	}, nil)
	return st, err
}

// mkdirAt creates the directory name in dirfd; an existing one is fine.
func (c *calls) mkdirAt(dirfd int, name string) error {
	err := c.mkdirNew(dirfd, name)
	if errors.Is(err, unix.EEXIST) {
		return nil
	}
	return err
}

// mkdirNew creates the directory name in dirfd, which must not exist.
func (c *calls) mkdirNew(dirfd int, name string) error {
	return c.do("mkdir "+name, func() error {
		return ignoringEINTR(func() error { return unix.Mkdirat(dirfd, name, 0o700) })
	}, nil)
}

// renameNoReplace renames oldName in oldfd to newName in newfd and fails
// with EEXIST when newName exists. renameat2(RENAME_NOREPLACE) makes that
// one atomic step; where the filesystem does not offer it (NFS, and so EFS,
// answer EINVAL) the destination is looked at first and a plain renameat
// follows. In that short window a directory created at the destination by
// someone else could be replaced only if it is empty: rename(2) never
// replaces a non-empty directory.
//
// Each of the calls is bounded (calls.do): a rename that does not return
// in time may still happen later, and the run stops.
func (c *calls) renameNoReplace(oldfd int, oldName string, newfd int, newName string) error {
	err := c.do("rename "+oldName, func() error {
		return ignoringEINTR(func() error { return unix.Renameat2(oldfd, oldName, newfd, newName, unix.RENAME_NOREPLACE) })
	}, nil)
	if !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOSYS) {
		return err
	}
	if _, err := c.statAt(newfd, newName); err == nil {
		return unix.EEXIST
	} else if !errors.Is(err, unix.ENOENT) {
		return err
	}
	return c.do("rename "+oldName, func() error {
		return ignoringEINTR(func() error { return unix.Renameat(oldfd, oldName, newfd, newName) })
	}, nil)
}

// syncFD flushes what fd names to stable storage; for a directory, its
// entries, so that a rename in it survives a crash.
func (c *calls) syncFD(fd int) error {
	return c.do("fsync", func() error { return ignoringEINTR(func() error { return unix.Fsync(fd) }) }, nil)
}

// lock takes the lock of the manifest f, without waiting: ErrBusy when
// another process holds it. A reclaim holds its run's for the whole run, a
// restore or purge --yes for as long as it works on the run, so that none
// of them reads a manifest another is changing or moves a directory
// another is moving or deleting. flock(2) is emulated on NFS by a lock of
// the whole file, which the server shares between clients (NFSv4, so
// EFS), unless the share is mounted with local_lock or nolock; where locks
// are refused (ENOLCK) there is none, and the purging line and rename
// (see EventPurging) still keep a restore from a directory being deleted.
func (c *calls) lock(f *os.File) error {
	fd := int(f.Fd())
	err := c.do("lock manifest", func() error {
		return ignoringEINTR(func() error { return unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB) })
	}, nil)
	switch {
	case errors.Is(err, unix.EWOULDBLOCK):
		return ErrBusy
	case errors.Is(err, unix.ENOLCK), errors.Is(err, unix.EOPNOTSUPP):
		return nil
	case err != nil:
		return fmt.Errorf("lock manifest: %w", err)
	}
	return nil
}

// sameMount checks that st is on the mount of on, and that both mount ids
// are known.
func sameMount(st, on fileStat) error {
	switch {
	case st.id.Dev != on.id.Dev:
		return ErrOtherFilesystem
	case st.mnt == 0 || on.mnt == 0:
		return fmt.Errorf("%w: this kernel tells no mount id, so a mount point cannot be told from a directory", ErrOtherFilesystem)
	case st.mnt != on.mnt:
		return fmt.Errorf("%w: a mount point (mount id %d, not %d)", ErrOtherFilesystem, st.mnt, on.mnt)
	}
	return nil
}

func closeFD(fd int) {
	if fd >= 0 {
		unix.Close(fd)
	}
}

// openFileAt opens the regular file name in dirfd with flags (O_NOFOLLOW
// always added) as an *os.File.
func (c *calls) openFileAt(dirfd int, name string, flags int, perm uint32) (*os.File, error) {
	fd := -1
	err := c.do("open "+name, func() error {
		return ignoringEINTR(func() (err error) {
			fd, err = unix.Openat(dirfd, name, flags|unix.O_NOFOLLOW|unix.O_CLOEXEC, perm)
			return err
		})
	}, func() { unix.Close(fd) })
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), name), nil
}

// removeTree deletes name in dirfd and everything under it, without
// following a link and without entering another mount: a directory opened
// whose device is not on's or whose mount id is not on's (a bind mount of
// the same filesystem has its device) is an error and is left alone, as
// is every directory when the mount ids are not known.
func (c *calls) removeTree(dirfd int, name string, on fileStat) error {
	st, err := c.statAt(dirfd, name)
	if err != nil {
		return err
	}
	if !st.isDir() {
		return c.unlinkAt(dirfd, name)
	}
	fd, st, err := c.openDir(dirfd, name)
	if err != nil {
		return err
	}
	if err := sameMount(st, on); err != nil {
		closeFD(fd)
		return fmt.Errorf("%s: %w", name, err)
	}
	names, err := c.listNames(fd)
	if err == nil {
		for _, n := range names {
			if err = c.removeTree(fd, n, on); err != nil {
				err = fmt.Errorf("%s/%w", name, err)
				break
			}
		}
	}
	closeFD(fd)
	if err != nil {
		return err
	}
	return c.do("rmdir "+name, func() error {
		return ignoringEINTR(func() error { return unix.Unlinkat(dirfd, name, unix.AT_REMOVEDIR) })
	}, nil)
}

// removeEmptyDir removes the directory name in dirfd when it is empty and
// reports whether it did.
func (c *calls) removeEmptyDir(dirfd int, name string) (bool, error) {
	err := c.do("rmdir "+name, func() error {
		return ignoringEINTR(func() error { return unix.Unlinkat(dirfd, name, unix.AT_REMOVEDIR) })
	}, nil)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, unix.ENOTEMPTY), errors.Is(err, unix.EEXIST):
		return false, nil
	}
	return false, err
}

// unlinkAt removes the file name in dirfd.
func (c *calls) unlinkAt(dirfd int, name string) error {
	return c.do("unlink "+name, func() error { return ignoringEINTR(func() error { return unix.Unlinkat(dirfd, name, 0) }) }, nil)
}

// listNames returns the names in the directory fd.
func (c *calls) listNames(fd int) ([]string, error) {
	var names []string
	err := c.do("list directory", func() error {
		dup, err := unix.Dup(fd)
		if err != nil {
			return err
		}
		d := os.NewFile(uintptr(dup), "")
		defer d.Close()
		// The duplicate shares fd's offset: read from the start.
		if _, err := d.Seek(0, 0); err != nil {
			return err
		}
		names, err = d.Readdirnames(-1)
		return err
	}, nil)
	return names, err
}

var (
	errNotEmpty = unix.ENOTEMPTY
	errExist    = unix.EEXIST
)
