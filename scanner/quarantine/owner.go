package quarantine

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"sessaudit/scanner"
)

// OwnerName is the file in a quarantine directory that names the root the
// quarantine belongs to, written by the first run that moves something
// into it. Restore reads it, not the manifest, to know where a run may go
// back to: a manifest is a file anyone may edit.
const OwnerName = ".sessaudit-root.json"

// ownerFormat marks an owner file.
const ownerFormat = "sessaudit-quarantine-root"

// owner is the content of OwnerName.
type owner struct {
	Format   string   `json:"format"`
	Root     string   `json:"root"`
	Identity Identity `json:"identity"`
}

// matches reports whether the root at path (absolute, links resolved),
// whose directory is id, is the owner's root: the same path, or the same
// directory by inode and birth time (the share mounted elsewhere now; a
// remount may give it another device number).
func (o *owner) matches(path string, id Identity) bool {
	return path == o.Root || (id.Ino == o.Identity.Ino && (id.Birth == 0 || o.Identity.Birth == 0 || id.Birth == o.Identity.Birth))
}

// readOwner reads the owner file of the quarantine dirFD; nil when there is
// none (a quarantine nothing was moved into yet, or made by a sessaudit
// that did not write one).
func (c *calls) readOwner(dirFD int) (*owner, error) {
	f, err := c.openFileAt(dirFD, OwnerName, os.O_RDONLY, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", OwnerName, err)
	}
	defer f.Close()
	var data []byte
	if err := c.do("read "+OwnerName, func() (err error) { data, err = io.ReadAll(f); return err }, nil); err != nil {
		return nil, fmt.Errorf("read %s: %w", OwnerName, err)
	}
	var o owner
	if err := json.Unmarshal(data, &o); err != nil || o.Format != ownerFormat || o.Root == "" {
		return nil, fmt.Errorf("%s is not a sessaudit quarantine's record of its root", OwnerName)
	}
	return &o, nil
}

// checkOwner refuses a quarantine that belongs to another root.
func (q *Quarantine) checkOwner() error {
	o, err := q.c.readOwner(q.dirFD)
	if err != nil {
		return fmt.Errorf("quarantine %s: %w", q.dir, err)
	}
	if o != nil && !o.matches(q.root, q.rootID) {
		return fmt.Errorf("%w: %s belongs to the root %s (its %s), not to %s", ErrBadPlace, q.dir, o.Root, OwnerName, q.root)
	}
	return nil
}

// claim records the root as the quarantine's owner, when no owner is
// recorded yet: written whole under a temporary name, fsync-ed, then
// renamed into place without replacing (a concurrent claim's wins, and is
// checked), so that it is never seen half written.
func (q *Quarantine) claim() error {
	if err := q.checkOwner(); err != nil {
		return err
	}
	data, err := json.Marshal(owner{Format: ownerFormat, Root: q.root, Identity: q.rootID})
	if err != nil {
		return err
	}
	tmp := fmt.Sprintf("%s.%d.tmp", OwnerName, os.Getpid())
	f, err := q.c.openFileAt(q.dirFD, tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("record the quarantine's root: %w", err)
	}
	err = q.c.do("write "+tmp, func() error { _, err := f.Write(append(data, '\n')); return err }, nil)
	if err == nil {
		err = q.c.do("sync "+tmp, f.Sync, nil)
	}
	f.Close()
	if err == nil {
		err = q.c.renameNoReplace(q.dirFD, tmp, q.dirFD, OwnerName)
	}
	if err != nil {
		q.c.unlinkAt(q.dirFD, tmp)
		if errors.Is(err, errExist) {
			return q.checkOwner()
		}
		return fmt.Errorf("record the quarantine's root in %s: %w", filepath.Join(q.dir, OwnerName), err)
	}
	return q.c.syncFD(q.dirFD)
}

// isOwnerFile reports whether name in a quarantine is its owner file or one
// being written.
func isOwnerFile(name string) bool {
	return name == OwnerName || (len(name) > len(OwnerName) && name[:len(OwnerName)+1] == OwnerName+".")
}

// checkRestore checks, before Restore moves anything, that the run runDir
// (absolute, links resolved) of the manifest m lies where m says, in the
// quarantine qdir (its directory), and that root (absolute, links
// resolved; the directory rootID) is the root that quarantine belongs to:
// the one its owner file names, or for a quarantine without one, its
// parent when it is ROOT/scanner.QuarantineName, or the root the operator
// named (rootGiven). Whatever the manifest says of its root is not taken
// on its word.
func checkRestore(c *calls, m *Manifest, runDir, root string, rootID Identity, rootGiven bool) error {
	qdir := filepath.Dir(runDir)
	if m.Header.Run != filepath.Base(runDir) {
		return fmt.Errorf("%w: the manifest is of run %q, and lies in %s", ErrBadPlace, m.Header.Run, runDir)
	}
	if !rootGiven && m.Header.Quarantine != qdir {
		return fmt.Errorf("%w: the manifest's run belongs to the quarantine %s, and lies in %s (give --root if the share is mounted elsewhere now)",
			ErrBadPlace, m.Header.Quarantine, qdir)
	}
	if err := checkPlace(root, qdir); err != nil {
		return err
	}
	qFD, _, err := c.openPath(qdir)
	if err != nil {
		return fmt.Errorf("open quarantine %s: %w", qdir, err)
	}
	defer closeFD(qFD)
	o, err := c.readOwner(qFD)
	switch {
	case err != nil:
		return fmt.Errorf("quarantine %s: %w", qdir, err)
	case o != nil:
		if !o.matches(root, rootID) {
			return fmt.Errorf("%w: the quarantine %s belongs to the root %s (its %s), not to %s", ErrBadPlace, qdir, o.Root, OwnerName, root)
		}
	case filepath.Base(qdir) == scanner.QuarantineName:
		if filepath.Dir(qdir) != root {
			return fmt.Errorf("%w: the quarantine %s belongs to the root %s, not to %s", ErrBadPlace, qdir, filepath.Dir(qdir), root)
		}
	case !rootGiven:
		return fmt.Errorf("%w: the quarantine %s records no root (it was made before sessaudit recorded one in %s): give --root, the share's root, to restore into it",
			ErrBadPlace, qdir, OwnerName)
	}
	return nil
}
