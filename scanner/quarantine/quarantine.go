package quarantine

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"sessaudit/scanner"
)

var (
	// ErrOtherFilesystem: the quarantine (or something met inside it) is on
	// another filesystem than the root, where a rename cannot go.
	ErrOtherFilesystem = errors.New("quarantine: not on the root's filesystem")
	// ErrBadPlace: the quarantine directory is one sessaudit must not use
	// (the root, a directory holding the root, a workspace or session
	// directory, or a directory inside the root not named
	// scanner.QuarantineName).
	ErrBadPlace = errors.New("quarantine: not a place for a quarantine")
	// ErrNotDir: a path that must be a real directory is a symbolic link or
	// something else, or passes through one.
	ErrNotDir = errors.New("quarantine: not a real directory")
	// ErrChanged: the directory at a path is not the one that was looked at
	// (another device or inode), so it is not touched.
	ErrChanged = errors.New("quarantine: directory changed since it was looked at")
	// ErrExists: the destination of a move exists and is never replaced.
	ErrExists = errors.New("quarantine: destination exists")
	// ErrNotSessionPath: a path that is neither workspace_<id>/session_<id>
	// nor a path below one.
	ErrNotSessionPath = errors.New("quarantine: not a session path")
)

// Identity tells one directory from another: its device and inode, and its
// birth time where the filesystem reports one (ext4, XFS, Btrfs; not NFS),
// which tells apart a directory removed and created again at once with the
// inode number the old one had. A rename keeps all three.
type Identity struct {
	Dev uint64 `json:"dev"`
	Ino uint64 `json:"ino"`
	// Birth is the creation time in Unix nanoseconds, 0 when unknown (and
	// in manifests written before it was recorded).
	Birth int64 `json:"birth,omitempty"`
}

// Same reports whether i and o identify the same directory. A birth time
// known on one side only is not compared.
func (i Identity) Same(o Identity) bool {
	return i.Dev == o.Dev && i.Ino == o.Ino && (i.Birth == 0 || o.Birth == 0 || i.Birth == o.Birth)
}

// Quarantine is a quarantine directory checked against the root it takes
// session directories from. It holds both directories open. It is not safe
// for concurrent use.
type Quarantine struct {
	root, dir     string // absolute, links resolved
	dev           uint64
	mnt           uint64 // the root's mount id; 0 when unknown
	rootID        Identity
	rootFD, dirFD int
	c             *calls
}

// Open checks that dir may hold what is moved out of root and opens both.
// Both must exist and be directories (either path may pass through links
// the operator chose; they are resolved once, here). dir must be on the
// same filesystem as root (ErrOtherFilesystem); it must not be root, hold
// root, or be a workspace or session directory, and inside root it must be
// root/scanner.QuarantineName (ErrBadPlace). A quarantine that recorded
// another root as its owner (OwnerName) is refused too (ErrBadPlace).
//
// Every filesystem call of the Quarantine and its runs is bounded by
// cfg.IOTimeout; once one has not returned in time, the Quarantine and its
// runs make no call anymore and every operation fails with an error
// wrapping scanner.ErrIOTimeout (see Run.Move).
func Open(root, dir string, cfg Config) (*Quarantine, error) {
	c := newCalls(cfg.IOTimeout)
	rootAbs, err := c.resolve(root)
	if err != nil {
		return nil, fmt.Errorf("root: %w", err)
	}
	dirAbs, err := c.resolve(dir)
	if err != nil {
		return nil, fmt.Errorf("quarantine: %w", err)
	}
	if err := checkPlace(rootAbs, dirAbs); err != nil {
		return nil, err
	}
	rootFD, rootSt, err := c.openPath(rootAbs)
	if err != nil {
		return nil, fmt.Errorf("open root %s: %w", rootAbs, err)
	}
	dirFD, dirSt, err := c.openPath(dirAbs)
	if err != nil {
		closeFD(rootFD)
		return nil, fmt.Errorf("open quarantine %s: %w", dirAbs, err)
	}
	if rootSt.id.Dev != dirSt.id.Dev {
		closeFD(rootFD)
		closeFD(dirFD)
		return nil, fmt.Errorf("%w: %s (device %d) and root %s (device %d); a move between filesystems would be a copy",
			ErrOtherFilesystem, dirAbs, dirSt.id.Dev, rootAbs, rootSt.id.Dev)
	}
	q := &Quarantine{root: rootAbs, dir: dirAbs, dev: rootSt.id.Dev, mnt: rootSt.mnt, rootID: rootSt.id, rootFD: rootFD, dirFD: dirFD, c: c}
	if !q.onMount(dirSt) {
		q.Close()
		return nil, fmt.Errorf("%w: %s and root %s are different mounts of one filesystem (a bind mount?); rename(2) does not cross them",
			ErrOtherFilesystem, dirAbs, rootAbs)
	}
	if err := q.checkOwner(); err != nil {
		q.Close()
		return nil, err
	}
	return q, nil
}

// resolve makes p absolute and resolves the links in it.
func (c *calls) resolve(p string) (string, error) {
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", err
	}
	var resolved string
	err = c.do("resolve "+abs, func() (err error) {
		resolved, err = filepath.EvalSymlinks(abs)
		return err
	}, nil)
	return resolved, err
}

// checkPlace applies the rules of Open on where dir may be.
func checkPlace(root, dir string) error {
	switch {
	case dir == root:
		return fmt.Errorf("%w: %s is the root itself", ErrBadPlace, dir)
	case within(dir, root):
		return fmt.Errorf("%w: %s holds the root %s", ErrBadPlace, dir, root)
	case within(root, dir):
		if dir != filepath.Join(root, scanner.QuarantineName) {
			return fmt.Errorf("%w: %s is inside the root; there it must be %s, which the audit recognises",
				ErrBadPlace, dir, filepath.Join(root, scanner.QuarantineName))
		}
		return nil
	}
	base := filepath.Base(dir)
	if _, ok := scanner.ParseWorkspace(base); ok {
		return fmt.Errorf("%w: %s is named like a workspace directory", ErrBadPlace, dir)
	}
	if _, ok := scanner.ParseSession(base); ok {
		return fmt.Errorf("%w: %s is named like a session directory", ErrBadPlace, dir)
	}
	return nil
}

// within reports whether p lies strictly below dir (both clean, absolute).
func within(dir, p string) bool {
	return strings.HasPrefix(p, strings.TrimSuffix(dir, "/")+"/")
}

// Root returns the root, absolute with links resolved.
func (q *Quarantine) Root() string { return q.root }

// Dir returns the quarantine directory, absolute with links resolved.
func (q *Quarantine) Dir() string { return q.dir }

// Close closes the directories.
func (q *Quarantine) Close() error {
	closeFD(q.rootFD)
	closeFD(q.dirFD)
	q.rootFD, q.dirFD = -1, -1
	return nil
}

// Look returns the identity of the session directory at rel
// ("workspace_<id>/session_<id>") under the root as it is now, or of a part
// of one (rel a path inside it, see Run.Move): a real directory, or for a
// part a regular file too, reached without following a link. An error
// wraps fs.ErrNotExist when it is not there, ErrNotDir when it or a
// directory above it is not what it must be, and ErrOtherFilesystem when
// it is another mount.
func (q *Quarantine) Look(rel string) (Identity, error) {
	pl, err := parsePlace(rel)
	if err != nil {
		return Identity{}, err
	}
	fd, err := q.openDirs(q.rootFD, pl.dirs, nil)
	if err != nil {
		return Identity{}, fmt.Errorf("look at %s: %w", rel, err)
	}
	defer closeFD(fd)
	st, err := q.entryAt(fd, pl.name, pl.part())
	if err != nil {
		return Identity{}, fmt.Errorf("look at %s: %w", rel, err)
	}
	return st.id, nil
}

// Names returns the names in the directory at rel under the root, a
// session directory or a directory below one, reached without following a
// link as Look reaches it.
func (q *Quarantine) Names(rel string) ([]string, error) {
	pl, err := parsePlace(rel)
	if err != nil {
		return nil, err
	}
	fd, err := q.openDirs(q.rootFD, append(pl.dirs[:len(pl.dirs):len(pl.dirs)], pl.name), nil)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", rel, err)
	}
	defer closeFD(fd)
	names, err := q.c.listNames(fd)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", rel, err)
	}
	return names, nil
}

// openDirs opens in dirfd each of dirs in turn, each in the one before,
// without following a link, each a real directory on the root's mount, and
// returns the last. When session is not nil, the second of dirs (the
// session directory of a part) must be that directory, else the error
// wraps ErrChanged.
func (q *Quarantine) openDirs(dirfd int, dirs []string, session *Identity) (int, error) {
	fd := dirfd
	for i, d := range dirs {
		next, st, err := q.openDir(fd, d)
		if fd != dirfd {
			closeFD(fd)
		}
		if err != nil {
			return -1, fmt.Errorf("%s: %w", strings.Join(dirs[:i+1], "/"), err)
		}
		fd = next
		if i == 1 && session != nil && !st.id.Same(*session) {
			closeFD(fd)
			return -1, fmt.Errorf("%s: %w: not the session directory the part was moved from", strings.Join(dirs[:i+1], "/"), ErrChanged)
		}
	}
	return fd, nil
}

// openDir opens the directory name in dirfd without following a link, on
// the root's filesystem and mount.
func (q *Quarantine) openDir(dirfd int, name string) (int, fileStat, error) {
	fd, st, err := q.c.openDir(dirfd, name)
	if err != nil {
		return -1, st, err
	}
	if st.id.Dev != q.dev || !q.onMount(st) {
		closeFD(fd)
		return -1, st, ErrOtherFilesystem
	}
	return fd, st, nil
}

// onMount reports whether st is on the root's mount, as far as the mount
// ids are known.
func (q *Quarantine) onMount(st fileStat) bool {
	return q.mnt == 0 || st.mnt == 0 || st.mnt == q.mnt
}

// entryAt looks at the entry name in dirfd without following a link: a
// session directory (part false) must be a real directory, a part a real
// directory or a regular file; both on the root's filesystem and mount.
func (q *Quarantine) entryAt(dirfd int, name string, part bool) (fileStat, error) {
	st, err := q.c.statAt(dirfd, name)
	switch {
	case err != nil:
		return fileStat{}, err
	case !st.isDir() && !(part && st.isRegular()):
		return fileStat{}, ErrNotDir
	case st.id.Dev != q.dev || !q.onMount(st):
		return fileStat{}, ErrOtherFilesystem
	}
	return st, nil
}

// place is where an entry of a run lies, relative to the root and to the
// run's directory alike: the directories passed through and its name. A
// session directory's place is its workspace and its name; a part's (a
// directory or file inside a session directory, moved alone) is the
// workspace, the session directory and the directories below it, and its
// name.
type place struct {
	dirs []string
	name string
}

// part reports whether the place is a part's.
func (p place) part() bool { return len(p.dirs) > 1 }

// dir returns the slash-separated path of the directory holding it.
func (p place) dir() string { return strings.Join(p.dirs, "/") }

// parsePlace checks rel, "workspace_<id>/session_<id>" or a path below
// one, and splits it. Below the session directory no element may be
// empty, "." or ".." or hold a NUL, and a part's name may not begin as
// purgingName's do.
func parsePlace(rel string) (place, error) {
	elems := strings.Split(rel, "/")
	if len(elems) < 2 {
		return place{}, fmt.Errorf("%w: %q", ErrNotSessionPath, rel)
	}
	if _, _, ok := scanner.ParseSessionPath(elems[0] + "/" + elems[1]); !ok {
		return place{}, fmt.Errorf("%w: %q", ErrNotSessionPath, rel)
	}
	for _, e := range elems[2:] {
		if e == "" || e == "." || e == ".." || strings.ContainsRune(e, 0) {
			return place{}, fmt.Errorf("%w: %q", ErrNotSessionPath, rel)
		}
	}
	name := elems[len(elems)-1]
	if len(elems) > 2 && strings.HasPrefix(name, purgingName("")) {
		return place{}, fmt.Errorf("%w: %q is named as purge names what it deletes", ErrNotSessionPath, rel)
	}
	return place{dirs: elems[:len(elems)-1], name: name}, nil
}
