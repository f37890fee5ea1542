package watch

import (
	"errors"
	"fmt"
	"os"
	"sessaudit/scanner/beneath"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// dirs opens directories below the root without following a symbolic link
// anywhere on the way and without crossing into another mounted filesystem.
type dirs struct {
	root    string
	rootFD  int
	rootDev uint64
	// noOpenat2 is set once openat2 turned out to be unavailable (kernels
	// before 5.6, or a seccomp profile that does not know it).
	noOpenat2 atomic.Bool
}

// errSkip marks a path that is not a directory to watch: a file, a symbolic
// link, a mount point. It is not worth an error.
var errSkip = errors.New("watch: not a directory on the root's filesystem")

func openRoot(root string) (*dirs, error) {
	fd, err := unix.Open(root, beneath.DirFlags&^unix.O_NOFOLLOW, 0)
	if err != nil {
		return nil, fmt.Errorf("open root %s: %w", root, err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("stat root %s: %w", root, err)
	}
	return &dirs{root: root, rootFD: fd, rootDev: st.Dev}, nil
}

func (d *dirs) close() { unix.Close(d.rootFD) }

// rootIDMask is what statx is asked of the root to tell it from another
// directory at its path.
const rootIDMask = unix.STATX_INO | unix.STATX_BTIME | unix.STATX_MNT_ID

// rootID tells the directory at the root's path from another: its device
// and inode, its mount (a filesystem mounted again, or another mounted
// over the root, has another mount id, however its inodes are numbered)
// and its birth time (a directory made again may get a freed inode
// number). A mount id or birth time the kernel or filesystem does not give
// is not compared.
type rootID struct {
	dev, ino, mnt uint64
	btime         unix.StatxTimestamp
	mask          uint32
}

func statxRoot(dirfd int, path string, flags int) (rootID, error) {
	var stx unix.Statx_t
	if err := unix.Statx(dirfd, path, flags, rootIDMask, &stx); err != nil {
		return rootID{}, err
	}
	return rootID{dev: unix.Mkdev(stx.Dev_major, stx.Dev_minor), ino: stx.Ino, mnt: stx.Mnt_id, btime: stx.Btime, mask: stx.Mask}, nil
}

func (a rootID) same(b rootID) bool {
	both := a.mask & b.mask
	return a.dev == b.dev && a.ino == b.ino &&
		(both&unix.STATX_MNT_ID == 0 || a.mnt == b.mnt) &&
		(both&unix.STATX_BTIME == 0 || a.btime == b.btime)
}

// replaced reports whether the directory at the root's path is no longer
// the one open (replaced, unmounted, mounted over), and returns an error
// when the path cannot be looked at. A kernel without statx (before 4.11)
// never reports a replacement.
func (d *dirs) replaced() (bool, error) {
	held, err := statxRoot(d.rootFD, "", unix.AT_EMPTY_PATH)
	if errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EPERM) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("stat root %s: %w", d.root, err)
	}
	now, err := statxRoot(unix.AT_FDCWD, d.root, 0)
	if err != nil {
		return false, fmt.Errorf("stat root %s: %w", d.root, err)
	}
	return !held.same(now), nil
}

// open opens the directory rel (slash-separated, relative to the root; ""
// is the root) and returns its descriptor. A path that is not a directory,
// passes through a symbolic link or lies on another filesystem gives an
// error matching errSkip; one that does not exist, fs.ErrNotExist.
func (d *dirs) open(rel string) (int, error) {
	if rel == "" {
		return d.openChild(d.rootFD, ".")
	}
	if !d.noOpenat2.Load() {
		fd, err := beneath.Open(d.rootFD, rel, beneath.DirFlags)
		switch {
		case err == nil:
			return fd, nil
		case errors.Is(err, unix.ENOSYS), errors.Is(err, unix.EPERM) && fd == -1 && beneath.Unavailable(beneath.Probe(d.rootFD, ".")):
			// EPERM for the root itself too: a seccomp filter that
			// answers EPERM to openat2, not a real permission error.
			d.noOpenat2.Store(true)
		default:
			return -1, classify(err)
		}
	}
	fd, err := beneath.OpenEach(d.rootFD, rel, d.rootDev)
	if err != nil {
		return -1, classify(err)
	}
	return fd, nil
}

// openChild opens the directory name inside the directory parent.
func (d *dirs) openChild(parent int, name string) (int, error) {
	fd, err := beneath.OpenEach(parent, name, d.rootDev)
	if err != nil {
		return -1, classify(err)
	}
	return fd, nil
}

func classify(err error) error {
	switch {
	case errors.Is(err, unix.ENOENT):
		return os.ErrNotExist
	case errors.Is(err, unix.ENOTDIR), errors.Is(err, unix.ELOOP), errors.Is(err, unix.EXDEV):
		// ELOOP: a symbolic link where O_NOFOLLOW or RESOLVE_NO_SYMLINKS
		// refuses one. EXDEV: a mount point (see package beneath).
		return errSkip
	}
	return err
}
