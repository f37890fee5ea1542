package scanner

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sessaudit/scanner/beneath"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/spf13/afero"
	"golang.org/x/sys/unix"
)

// nativeFS reads directories through file descriptors. The root is opened
// once; every directory under it is opened relative to its parent's
// descriptor with openat(O_NOFOLLOW|O_DIRECTORY), and every entry is
// lstat-ed relative to its directory's descriptor with statx, right after
// getdents listed it. No path is resolved from the root twice, no path is
// limited by PATH_MAX, and a symbolic link or a FIFO that takes a
// directory's place is refused by the kernel, not by a check that could
// race.
//
// Descriptors: where the kernel has openat2 (Linux 5.6), a directory inside
// a session is closed as soon as it is listed, and its subdirectories are
// opened relative to the session directory with RESOLVE_BENEATH and
// RESOLVE_NO_SYMLINKS, so that the kernel refuses a path that leaves the
// session or passes through a link anywhere, and RESOLVE_NO_XDEV, so that
// no mounted filesystem is entered. A walk then holds at most the root, one
// workspace being listed, and per worker one directory being listed, one
// session directory (open until its measurement is settled) and one
// workspace directory until its session is open: descriptorsPerWorker per
// worker, and Walk lowers the workers to what the soft RLIMIT_NOFILE leaves
// room for. Without openat2 a directory stays open until its last
// subdirectory is open, as many as the tree is deep per worker, and Walk
// allows a worker per descriptorsPerWorkerOpenat descriptors. Either way,
// an open that fails for want of a descriptor (EMFILE, ENFILE) waits for one
// and tries again, within Config.IOTimeout: it is not the session's fault.
type nativeFS struct {
	root  string
	kind  fsKind
	hooks *hooks
	// beneath: subdirectories of a session are opened with openat2
	// relative to the session directory.
	beneath bool
}

// fdDir is an open directory, shared by the goroutines that size its
// entries or open its subdirectories; the last reference closes it.
type fdDir struct {
	fd  int
	dev uint64 // the directory's own device
	rel string // relative to the root, slash-separated; "." for the root
	// trustIno: the d_ino its listing gives for a subdirectory can be
	// trusted (see fsKind), as decided for its filesystem.
	trustIno bool
	refs     atomic.Int32
	// sess is the session directory this one is in (itself for the
	// session directory), nil outside sessions; srel is the path from it.
	// sess stays open until the session is settled.
	sess *fdDir
	srel string
}

const (
	// direntBufSize is the getdents buffer of each slot: about 700 entries
	// of a Chromium profile per call.
	direntBufSize = 32 << 10
	// splitMin is the fewest bytes of listed entries (about 8 entries)
	// worth handing to an idle worker.
	splitMin = 256

	openFlags  = beneath.DirFlags
	statxFlags = unix.AT_SYMLINK_NOFOLLOW | unix.AT_NO_AUTOMOUNT
	// statxMask: the change time comes with the others (one inode read,
	// one GETATTR): a file's tells whether it stood still (FileSettle) and
	// how old the tree is (Entry.Oldest).
	statxMask = unix.STATX_TYPE | unix.STATX_MODE | unix.STATX_NLINK | unix.STATX_INO |
		unix.STATX_SIZE | unix.STATX_BLOCKS | unix.STATX_MTIME | unix.STATX_CTIME
	// dirStatxMask is asked of a directory opened, once: its birth time
	// tells whether a session directory was replaced while it was
	// measured.
	dirStatxMask = statxMask | unix.STATX_BTIME

	// descriptorsPerWorker is what one worker of a walk with openat2 holds
	// at most (see nativeFS), and descriptorReserve what Walk leaves to the
	// rest of the process (database connections, logs, CheckRoot).
	descriptorsPerWorker = 3
	descriptorReserve    = 16
	// descriptorsPerWorkerOpenat is what Walk allows a worker without
	// openat2, where a worker holds a directory open for every level it is
	// deep: a tree 16 levels deep (Chromium profiles are about 8).
	descriptorsPerWorkerOpenat = 16
	// anchorPathMax is the longest path opened beneath a directory; a
	// directory deeper than that is kept open for its subdirectories to be
	// opened beneath it instead, so that no path reaches PATH_MAX (4096,
	// and a name is at most 255).
	anchorPathMax = 3072
)

// walkNative walks with nativeFS when fsys is the host filesystem, and
// reports whether it did.
func walkNative(ctx context.Context, fsys afero.Fs, root string, cfg Config, fn func(Entry) error, start func(walkerStarter) error) (bool, error) {
	h, ok := hostFs(fsys)
	if !ok {
		return false, nil
	}
	n := &nativeFS{root: root, hooks: h}
	// statx, openat2 and statfs of the root.
	kind, err := bounded(ctx, cfg.bounds(), 3, func() (fsKind, error) {
		// statx is Linux 4.11 and may be refused by an old seccomp
		// profile: the afero walk needs neither.
		var stx unix.Statx_t
		if err := unix.Statx(unix.AT_FDCWD, root, 0, statxMask, &stx); errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EPERM) {
			return fsKind{}, errNoStatx
		}
		n.beneath = beneath.Probe(unix.AT_FDCWD, root) == nil && (h == nil || !h.noOpenat2)
		return statfsKind(root)
	})
	if errors.Is(err, errNoStatx) {
		return false, nil
	}
	if err != nil {
		return true, fmt.Errorf("root: %w", err)
	}
	n.kind = kind
	perWorker := descriptorsPerWorker
	if !n.beneath {
		perWorker = descriptorsPerWorkerOpenat
	}
	return true, run(ctx, n, root, min(cfg.workers(kind.remote), descriptorWorkers(perWorker)), cfg, fn, start)
}

// descriptorWorkers is the most workers, each holding perWorker
// descriptors, for which the soft RLIMIT_NOFILE leaves room after the
// descriptors open now, descriptorReserve and the workspaces being listed.
func descriptorWorkers(perWorker int) int {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil || lim.Cur > math.MaxInt32 {
		return math.MaxInt32
	}
	inUse := 0
	if fds, err := os.ReadDir("/proc/self/fd"); err == nil {
		inUse = len(fds)
	}
	free := int(lim.Cur) - inUse - descriptorReserve - maxListings - 1 // - 1: the root
	return max(1, free/perWorker)
}

var errNoStatx = errors.New("scanner: statx is not available")

func (n *nativeFS) newDir(fd int, dev uint64, rel string, trustIno bool) *fdDir {
	d := &fdDir{fd: fd, dev: dev, rel: rel, trustIno: trustIno && !n.lstatDirs()}
	d.refs.Store(1)
	return d
}

// maxListings bounds the workspaces a native walk lists at once; the
// descriptor budget keeps room for them (see descriptorWorkers).
const maxListings = 16

// listings is one workspace per eight workers, at least one, at most
// maxListings: on a network filesystem a listing waits for round trips,
// and a share has many workspaces of a few sessions each.
func (n *nativeFS) listings(workers int) int { return min(maxListings, max(1, workers/8)) }

func (n *nativeFS) lstatDirs() bool { return n.hooks != nil && n.hooks.lstatDirs }

func (n *nativeFS) retain(d *fdDir) { d.refs.Add(1) }

func (n *nativeFS) release(d *fdDir) {
	if d.refs.Add(-1) == 0 {
		unix.Close(d.fd)
	}
}

// restat is asked for exactly the session directories: it makes d the
// directory its subdirectories are opened beneath, and holds it open until
// the session is settled.
func (n *nativeFS) restat(d *fdDir) *restat {
	d.sess, d.srel = d, "."
	n.retain(d)
	return &restat{
		look: func() (restated, error) {
			defer n.release(d)
			var stx unix.Statx_t
			var err error
			for {
				err = unix.Statx(d.fd, "", unix.AT_EMPTY_PATH, dirStatxMask, &stx)
				if err != unix.EINTR {
					break
				}
			}
			if err != nil {
				return restated{}, &os.PathError{Op: "fstat", Path: d.rel, Err: err}
			}
			// Still open, it is the directory measured even when it was
			// removed since: no link left means it was.
			return restated{st: n.fromStatx(&stx, d.rel), gone: stx.Nlink == 0}, nil
		},
		release: func() { n.release(d) },
	}
}

func (n *nativeFS) abs(rel string) string { return filepath.Join(n.root, filepath.FromSlash(rel)) }

func (n *nativeFS) buffer(sl *slot) []byte {
	if sl.buf == nil {
		sl.buf = make([]byte, direntBufSize)
	}
	return sl.buf
}

func (n *nativeFS) openRoot(sl *slot) (*fdDir, error) {
	fd, st, err := n.openIn(sl, unix.AT_FDCWD, n.root, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, false) // the root may be a link
	if err != nil {
		return nil, err
	}
	return n.newDir(fd, st.dev, ".", n.kind.trustIno), nil
}

// openIn is openNow as a call of sl.
func (n *nativeFS) openIn(sl *slot, dirfd int, name, rel string, flags int, confined bool) (fd int, st stat, err error) {
	err = sl.do(func() (err error) {
		fd, st, err = n.openNow(sl, dirfd, name, rel, flags, confined)
		return err
	}, func() { closeFD(fd) })
	if err != nil {
		return -1, stat{}, err
	}
	return fd, st, nil
}

// openNow opens name relative to dirfd, confined beneath dirfd when
// confined (see package beneath), and fstats it; fd is -1 on error. It runs
// inside a call of sl: for want of a descriptor it waits until the watchdog
// gives up.
func (n *nativeFS) openNow(sl *slot, dirfd int, name, rel string, flags int, confined bool) (fd int, st stat, err error) {
	fd = -1
	if n.hooks != nil && n.hooks.open != nil {
		if err := n.hooks.open(n.abs(rel)); err != nil {
			return -1, stat{}, err
		}
	}
	for wait := time.Duration(0); ; {
		if confined {
			fd, err = beneath.Open(dirfd, name, flags) // again on EINTR and EAGAIN itself
		} else {
			fd, err = unix.Openat(dirfd, name, flags, 0)
		}
		switch {
		case err == unix.EINTR:
			continue
		case (err == unix.EMFILE || err == unix.ENFILE) && !sl.detached():
			// Descriptors are counted per process (EMFILE) or system
			// (ENFILE): another part of the process, or another walk,
			// will close one.
			wait = min(max(2*wait, time.Millisecond), 50*time.Millisecond)
			time.Sleep(wait)
			continue
		}
		break
	}
	if err != nil {
		return -1, stat{}, &os.PathError{Op: "open", Path: rel, Err: err}
	}
	var stx unix.Statx_t
	if err := unix.Statx(fd, "", unix.AT_EMPTY_PATH, dirStatxMask, &stx); err != nil {
		unix.Close(fd)
		return -1, stat{}, &os.PathError{Op: "fstat", Path: rel, Err: err}
	}
	st = n.fromStatx(&stx, rel)
	return fd, st, nil
}

func closeFD(fd int) {
	if fd >= 0 {
		unix.Close(fd)
	}
}

// lstatAt lstats name in parent.
func (n *nativeFS) lstatAt(sl *slot, parent *fdDir, name, rel string) (stat, error) {
	return n.statxAt(sl, parent, name, rel, statxMask, 0)
}

func (n *nativeFS) look(sl *slot, d *fdDir, name string) (stat, error) {
	return n.statxAt(sl, d, name, joinRel(d.rel, name), dirStatxMask, 0)
}

// statxAt lstats name in parent, asking for mask, with flags added to
// statxFlags.
func (n *nativeFS) statxAt(sl *slot, parent *fdDir, name, rel string, mask, flags int) (stat, error) {
	var stx unix.Statx_t
	err := sl.do(func() (err error) {
		for {
			err = unix.Statx(parent.fd, name, statxFlags|flags, mask, &stx)
			if err != unix.EINTR {
				return err
			}
		}
	}, nil)
	if errors.Is(err, errDetached) {
		return stat{}, err
	}
	if err != nil {
		return stat{}, &os.PathError{Op: "lstat", Path: rel, Err: err}
	}
	return n.fromStatx(&stx, rel), nil
}

func (n *nativeFS) fromStatx(stx *unix.Statx_t, rel string) stat {
	st := stat{
		mode:      modeOf(uint32(stx.Mode)),
		size:      int64(stx.Size),
		mtime:     stx.Mtime.Sec*1e9 + int64(stx.Mtime.Nsec),
		sys:       true,
		dev:       unix.Mkdev(stx.Dev_major, stx.Dev_minor),
		ino:       stx.Ino,
		nlink:     uint64(stx.Nlink),
		blocks512: int64(stx.Blocks),
		ctime:     stx.Ctime.Sec*1e9 + int64(stx.Ctime.Nsec),
	}
	if stx.Mask&unix.STATX_BTIME != 0 {
		st.btime = stx.Btime.Sec*1e9 + int64(stx.Btime.Nsec)
	}
	if n.hooks != nil && n.hooks.dev != nil {
		st.dev = n.hooks.dev(n.abs(rel), st.dev)
	}
	return st
}

// modeOf returns the type bits of a stat mode.
func modeOf(m uint32) fs.FileMode {
	switch m & unix.S_IFMT {
	case unix.S_IFREG:
		return 0
	case unix.S_IFDIR:
		return fs.ModeDir
	case unix.S_IFLNK:
		return fs.ModeSymlink
	case unix.S_IFIFO:
		return fs.ModeNamedPipe
	case unix.S_IFSOCK:
		return fs.ModeSocket
	case unix.S_IFCHR:
		return fs.ModeDevice | fs.ModeCharDevice
	case unix.S_IFBLK:
		return fs.ModeDevice
	}
	return fs.ModeIrregular
}

// modeOfDT returns the type bits of a getdents d_type, and false for
// DT_UNKNOWN.
func modeOfDT(t byte) (fs.FileMode, bool) {
	switch t {
	case unix.DT_REG:
		return 0, true
	case unix.DT_DIR:
		return fs.ModeDir, true
	case unix.DT_LNK:
		return fs.ModeSymlink, true
	case unix.DT_FIFO:
		return fs.ModeNamedPipe, true
	case unix.DT_SOCK:
		return fs.ModeSocket, true
	case unix.DT_CHR:
		return fs.ModeDevice | fs.ModeCharDevice, true
	case unix.DT_BLK:
		return fs.ModeDevice, true
	}
	return 0, false
}

// A getdents64 record: d_ino (8 bytes), d_off (8), d_reclen (2), d_type (1),
// then the name, NUL-terminated and padded.
const (
	direntIno    = 0
	direntReclen = 16
	direntType   = 18
	direntName   = 19
)

// dirent returns the record at off of a getdents buffer: its length, inode,
// type and name (without the NUL, which follows it in b).
func dirent(b []byte, off int) (reclen int, ino uint64, typ byte, name []byte) {
	reclen = int(binary.NativeEndian.Uint16(b[off+direntReclen:]))
	ino = binary.NativeEndian.Uint64(b[off+direntIno:])
	typ = b[off+direntType]
	name = b[off+direntName : off+reclen]
	if i := bytes.IndexByte(name, 0); i >= 0 {
		name = name[:i]
	}
	return reclen, ino, typ, name
}

func isDot(name []byte) bool {
	return len(name) == 1 && name[0] == '.' || len(name) == 2 && name[0] == '.' && name[1] == '.'
}

// getdents reads the next batch of d's entries into buf.
func (n *nativeFS) getdents(sl *slot, d *fdDir, buf []byte) (int, error) {
	if n.hooks != nil && n.hooks.list != nil {
		if err := n.hooks.list(n.abs(d.rel)); err != nil {
			return 0, err
		}
	}
	var nb int
	err := sl.do(func() (err error) {
		for {
			nb, err = unix.Getdents(d.fd, buf)
			if err != unix.EINTR {
				return err
			}
		}
	}, nil)
	if errors.Is(err, errDetached) {
		return 0, err
	}
	if err != nil {
		return 0, &os.PathError{Op: "readdirent", Path: d.rel, Err: err}
	}
	return nb, nil
}

// listedAs returns what the record of a getdents buffer of d tells of an
// entry.
func (n *nativeFS) listedAs(d *fdDir, ino uint64, typ byte) listed {
	mode, ok := modeOfDT(typ)
	switch {
	case !ok:
		return listed{}
	case mode.IsDir() && d.trustIno:
		return listed{st: stat{mode: mode, ino: ino}, know: knowIno}
	}
	return listed{st: stat{mode: mode}, know: knowType}
}

func (n *nativeFS) list(sl *slot, d *fdDir, fn func(name string, e listed)) error {
	buf := n.buffer(sl)
	for {
		nb, err := n.getdents(sl, d, buf)
		if err != nil {
			return err
		}
		if nb == 0 {
			return nil
		}
		for off := 0; off < nb; {
			reclen, ino, typ, name := dirent(buf, off)
			off += reclen
			if !isDot(name) {
				fn(string(name), n.listedAs(d, ino, typ))
			}
		}
	}
}

func (n *nativeFS) open(sl *slot, parent *fdDir, name string, e listed) (*fdDir, stat, error) {
	rel := joinRel(parent.rel, name)
	sl.where = rel
	if e.know == knowNothing || e.know == knowType && e.st.mode.IsDir() {
		// Look first: what the listing said is not enough to refuse a
		// directory swapped for another. (Never inside a session, where
		// every subdirectory is listed knowIno or knowAll: parent may be
		// closed there.)
		st, err := n.lstatAt(sl, parent, name, rel)
		if err != nil {
			return nil, stat{}, err
		}
		e = listed{st: st, know: knowAll}
	}
	if reason := e.notDir(); reason != "" {
		return nil, stat{}, &notDirError{reason}
	}
	dirfd, path, confined := parent.fd, name, false
	if n.beneathOf(parent) {
		// parent may be closed already: open relative to the session
		// directory, which stays open.
		dirfd, path, confined = parent.sess.fd, joinRel(parent.srel, name), true
	}
	fd, st, err := n.openIn(sl, dirfd, path, rel, openFlags, confined)
	if err != nil {
		return nil, stat{}, err
	}
	switch {
	case e.know == knowAll && !sameDir(e.st, st),
		// A filesystem mounted there has another inode than the directory
		// it covers, which is the one listed.
		e.know == knowIno && st.dev == parent.dev && st.ino != e.st.ino:
		unix.Close(fd)
		return nil, stat{}, fmt.Errorf("open %s: %w", rel, errChanged)
	}
	trust := parent.trustIno
	if st.dev != parent.dev {
		// Another filesystem is mounted here (a workspace or a session
		// may be one): its d_ino is judged by its own type.
		var sfs unix.Statfs_t
		err := sl.do(func() error { return unix.Fstatfs(fd, &sfs) }, nil)
		if errors.Is(err, errDetached) {
			unix.Close(fd)
			return nil, stat{}, err
		}
		trust = err == nil && kindOf(uint32(sfs.Type)).trustIno
	}
	d := n.newDir(fd, st.dev, rel, trust)
	if parent.sess != nil {
		d.sess, d.srel = parent.sess, joinRel(parent.srel, name)
		if n.beneath && len(d.srel) > anchorPathMax {
			// Paths beneath it would pass PATH_MAX: d is the directory
			// its subdirectories are opened beneath.
			d.sess, d.srel = d, "."
		}
	}
	return d, st, nil
}

// beneathOf reports whether the subdirectories of d are opened relative to
// its session directory, so that d's own descriptor is not needed for it.
func (n *nativeFS) beneathOf(d *fdDir) bool { return n.beneath && d.sess != nil }

// size reads d, sizing each entry as getdents lists it, then descends into
// its subdirectories.
func (n *nativeFS) size(w *walker[*fdDir], sl *slot, s *session, d *fdDir) error {
	if s.failed() || w.stopping() {
		n.release(d)
		return nil // done reports the cancellation
	}
	buf := n.buffer(sl)
	t := s.tallyIn(d.rel)
	var subs []named
	var recent []recentFile
	for {
		sl.where = d.rel
		nb, err := n.getdents(sl, d, buf)
		if errors.Is(err, errDetached) {
			n.release(d)
			return err
		}
		if errors.Is(err, fs.ErrNotExist) {
			// Removed since it was opened: what it held is gone.
			s.change(changedDirGone)
			break
		}
		if err != nil {
			s.fail(fmt.Errorf("read dir %s: %w", d.rel, err))
			n.release(d)
			return nil
		}
		if nb == 0 {
			break
		}
		if err := n.sizeEntries(w, sl, s, d, buf[:nb], &t, &subs, &recent); err != nil {
			n.release(d)
			return err
		}
		if s.failed() || w.stopping() {
			n.release(d)
			return nil
		}
	}
	if err := n.steady(w, sl, s, d, &t, recent); err != nil {
		n.release(d)
		return err
	}
	s.merge(&t)
	return n.descend(w, sl, s, d, subs)
}

// steady sizes the files of d that were modified moments before they were
// looked at, once they stood still (session.steady), looking at them again
// relative to d.
func (n *nativeFS) steady(w *walker[*fdDir], sl *slot, s *session, d *fdDir, t *tally, recent []recentFile) error {
	if len(recent) == 0 {
		return nil
	}
	return s.steady(w.ctx, t, recent, func(name string) (stat, error) {
		// Looked at afresh: a network filesystem's client would
		// otherwise answer from the attributes it holds.
		return n.statxAt(sl, d, name, joinRel(d.rel, name), statxMask, unix.AT_STATX_FORCE_SYNC)
	})
}

// sizeEntries sizes the entries in b, a part of a getdents buffer of d,
// into t, and appends the subdirectories to descend into to subs. While a
// slot is idle it hands half of what is left to it, so that the entries of
// a large directory are looked at in parallel where each lstat waits for a
// server. Its only error is errDetached; others fail s.
func (n *nativeFS) sizeEntries(w *walker[*fdDir], sl *slot, s *session, d *fdDir, b []byte, t *tally, subs *[]named, recent *[]recentFile) error {
	var stx unix.Statx_t
	for off := 0; off < len(b); {
		if len(b)-off >= splitMin && w.idle() {
			n.split(w, s, d, &b, off)
		}
		reclen, ino, typ, name := dirent(b, off)
		nameAt := off + direntName
		off += reclen
		if isDot(name) {
			continue
		}
		if typ == unix.DT_DIR && d.trustIno {
			// Opening it tells its device and modification time.
			*subs = append(*subs, named{string(name), listed{st: stat{mode: fs.ModeDir, ino: ino}, know: knowIno}})
			continue
		}
		var errno unix.Errno
		err := sl.do(func() error {
			for {
				_, _, errno = unix.Syscall6(unix.SYS_STATX, uintptr(d.fd), uintptr(unsafe.Pointer(&b[nameAt])),
					statxFlags, statxMask, uintptr(unsafe.Pointer(&stx)), 0)
				if errno != unix.EINTR {
					return nil
				}
			}
		}, nil)
		if errors.Is(err, errDetached) {
			return err
		}
		if err != nil {
			// The walk was cancelled while the call waited for its turn
			// (Config.Limiter): done reports the cancellation.
			s.fail(fmt.Errorf("lstat %s: %w", joinRel(d.rel, string(name)), err))
			return nil
		}
		switch errno {
		case 0:
		case unix.ENOENT: // removed since it was listed
			if typ == unix.DT_DIR {
				s.change(changedDirGone)
			} else {
				s.change(changedVanished)
			}
			continue
		default:
			s.fail(fmt.Errorf("lstat %s: %w", joinRel(d.rel, string(name)), errno))
			return nil
		}
		rel := ""
		if n.hooks != nil {
			rel = joinRel(d.rel, string(name))
		}
		st := n.fromStatx(&stx, rel)
		if s.emptied(&st) {
			again, err := n.statxAt(sl, d, string(name), joinRel(d.rel, string(name)), statxMask, 0)
			if errors.Is(err, errDetached) {
				return err
			}
			if err == nil {
				st = again
			}
			// Gone or unreadable now: sized as it was listed, as a file
			// removed after its lstat is.
		}
		if s.truncating(&st) {
			*recent = append(*recent, recentFile{name: string(name), st: st, at: time.Now()})
			continue
		}
		if s.add(t, t.entryName(name), &st) {
			*subs = append(*subs, named{string(name), listed{st: st, know: knowAll}})
		}
	}
	return nil
}

// split hands the second half of the entries of *b after off to an idle
// slot, if one is still free, and shortens *b to the first half.
func (n *nativeFS) split(w *walker[*fdDir], s *session, d *fdDir, b *[]byte, off int) {
	buf := *b
	mid, half := off, off+(len(buf)-off)/2
	for mid < half {
		mid += int(binary.NativeEndian.Uint16(buf[mid+direntReclen:]))
	}
	if mid >= len(buf) {
		return
	}
	rest := bytes.Clone(buf[mid:])
	n.retain(d)
	if !w.goSession(s, func(sl *slot) error { return n.sizePart(w, sl, s, d, rest) }) {
		n.release(d)
		return
	}
	*b = buf[:mid]
}

// sizePart sizes entries of d handed over by split, and what is under them.
func (n *nativeFS) sizePart(w *walker[*fdDir], sl *slot, s *session, d *fdDir, b []byte) error {
	if s.failed() || w.stopping() {
		n.release(d)
		return nil
	}
	sl.where = d.rel
	t := s.tallyIn(d.rel)
	var subs []named
	var recent []recentFile
	if err := n.sizeEntries(w, sl, s, d, b, &t, &subs, &recent); err != nil {
		n.release(d)
		return err
	}
	if err := n.steady(w, sl, s, d, &t, recent); err != nil {
		n.release(d)
		return err
	}
	s.merge(&t)
	return n.descend(w, sl, s, d, subs)
}

// descend opens and sizes the subdirectories subs of d, on new goroutines
// while slots are free and inline otherwise. It consumes a reference to d,
// which it drops at once when the subdirectories are opened beneath the
// session directory: d is listed, its descriptor no longer needed.
func (n *nativeFS) descend(w *walker[*fdDir], sl *slot, s *session, d *fdDir, subs []named) error {
	hold := !n.beneathOf(d)
	if hold || d.sess == d {
		defer n.release(d)
	} else {
		n.release(d)
	}
	for _, sub := range subs {
		if s.failed() || w.stopping() {
			return nil
		}
		if hold {
			n.retain(d)
		} else {
			n.retain(d.sess) // released once sub is sized: what is under it is opened beneath it too
		}
		if w.goSession(s, func(sl *slot) error { return n.subdir(w, sl, s, d, sub, hold) }) {
			continue
		}
		if err := n.subdir(w, sl, s, d, sub, hold); err != nil {
			return err
		}
	}
	return nil
}

// subdir opens the subdirectory sub of parent and sizes it. It consumes a
// reference to parent when held, and otherwise one to the directory it is
// opened beneath (parent.sess), which it drops once sub is sized.
func (n *nativeFS) subdir(w *walker[*fdDir], sl *slot, s *session, parent *fdDir, sub named, held bool) error {
	if !held {
		defer n.release(parent.sess)
	}
	release := func() {
		if held {
			n.release(parent)
		}
	}
	if s.failed() || w.stopping() {
		release()
		return nil
	}
	child, st, err := n.open(sl, parent, sub.name, sub.e)
	counted := sub.e.know == knowAll // sized when it was listed
	if err != nil && !errors.Is(err, errDetached) && !counted {
		err = n.openFailed(sl, s, parent, sub.name, err)
	}
	release()
	var nd *notDirError
	switch {
	case err == nil:
	case errors.Is(err, errDetached):
		return err
	case errors.Is(err, fs.ErrNotExist):
		s.change(changedDirGone)
		if !counted { // it was listed as a directory: it counts as one
			t := s.tallyIn(parent.rel)
			s.add(&t, sub.name, &stat{mode: fs.ModeDir, mtime: noTime})
			s.merge(&t)
		}
		return nil
	case errors.Is(err, errSkip):
		return nil
	case errors.As(err, &nd):
		s.fail(fmt.Errorf("read dir %s: %w", joinRel(parent.rel, sub.name), errChanged))
		return nil
	default:
		s.fail(fmt.Errorf("read dir %s: %w", joinRel(parent.rel, sub.name), err))
		return nil
	}
	if !counted {
		t := s.tallyIn(parent.rel)
		if !s.add(&t, sub.name, &st) {
			n.release(child) // another filesystem mounted here is not entered
			return nil
		}
		s.merge(&t)
	}
	s.opened(&st)
	return n.size(w, sl, s, child)
}

// errSkip is openFailed's verdict for a directory that is not entered.
var errSkip = errors.New("scanner: not entered")

// openFailed decides what a failure to open a subdirectory that was listed
// but not lstat-ed means: a mount point that cannot be opened is skipped,
// as an lstat would have shown it on another device.
func (n *nativeFS) openFailed(sl *slot, s *session, parent *fdDir, name string, err error) error {
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, errChanged) {
		return err
	}
	if n.beneathOf(parent) {
		// openat2 refuses to cross into another filesystem by itself.
		if errors.Is(err, unix.EXDEV) {
			return errSkip
		}
		return err
	}
	st, lerr := n.lstatAt(sl, parent, name, joinRel(parent.rel, name))
	switch {
	case errors.Is(lerr, errDetached), errors.Is(lerr, fs.ErrNotExist):
		return lerr
	case lerr == nil && s.sys && st.dev != s.dev:
		return errSkip
	}
	return err
}
