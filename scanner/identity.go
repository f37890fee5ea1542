package scanner

import (
	"context"
	"fmt"
	"os"

	"github.com/spf13/afero"
	"github.com/spf13/afero/mem"
)

// Identity tells one directory from another: a session directory removed
// and created again under the same name has another Identity, even when the
// filesystem gives it the inode number the old one had.
//
// On the host filesystem it is the device and inode number, with the birth
// time where statx reports one (ext4, XFS, Btrfs, tmpfs on recent kernels)
// to tell apart an inode number reused at once. On afero's MemMapFs, which
// has no inodes, it is the in-memory node of the directory. Any other
// afero.Fs without a syscall stat gives the zero Identity: there, only
// Entry.Changed tells that a directory changed under the walk.
type Identity struct {
	Dev, Ino uint64
	// Birth is the creation time in Unix nanoseconds, 0 when unknown.
	Birth int64
	node  any // *mem.FileData on MemMapFs
}

// Same reports whether i and o identify the same directory. A birth time
// known on one side only is not compared; two zero Identities (nothing
// known) are the same.
func (i Identity) Same(o Identity) bool {
	if i.node != nil || o.node != nil {
		return i.node == o.node
	}
	return i.Dev == o.Dev && i.Ino == o.Ino && (i.Birth == 0 || o.Birth == 0 || i.Birth == o.Birth)
}

// String is for messages: "dev:ino", "memory node" or "unknown".
func (i Identity) String() string {
	switch {
	case i.node != nil:
		return fmt.Sprintf("memory node %p", i.node)
	case i == Identity{}:
		return "unknown"
	}
	return fmt.Sprintf("%d:%d", i.Dev, i.Ino)
}

func identityOf(st *stat) Identity {
	if st.node != nil {
		return Identity{node: st.node}
	}
	if !st.sys {
		return Identity{}
	}
	return Identity{Dev: st.dev, Ino: st.ino, Birth: st.btime}
}

// memNode returns the node of an entry of afero's MemMapFs, nil otherwise.
func memNode(fi os.FileInfo) any {
	if m, ok := fi.(*mem.FileInfo); ok {
		return m.FileData
	}
	return nil
}

// Lookup returns the Identity of the session directory at rel
// ("workspace_<id>/session_<id>") under root as it is right now, without
// following a symbolic link, for comparison with the Entry.Identity of a
// walk: a different one means the directory measured is not the one there
// now. Its errors are Check's: fs.ErrNotExist when nothing is there,
// ErrNotSessionDir when something other than a real directory is.
func Lookup(ctx context.Context, fsys afero.Fs, root, rel string, cfg Config) (Identity, error) {
	// Three calls natively (the root, the workspace, the session), two
	// lstats through afero: counted as three.
	st, err := bounded(ctx, cfg.bounds(), 3, func() (stat, error) { return lookupNow(fsys, root, rel) })
	if err != nil {
		return Identity{}, err
	}
	return identityOf(&st), nil
}

// lookupNow looks at rel natively where Walk would read fsys natively, so
// that both see the same facts (statx's birth time), and through afero
// otherwise.
func lookupNow(fsys afero.Fs, root, rel string) (stat, error) {
	if st, ok, err := lookupNative(fsys, root, rel); ok {
		return st, err
	}
	fi, err := lstatSessionNow(fsys, root, rel)
	if err != nil {
		return stat{}, err
	}
	return fileStat(fi), nil
}
