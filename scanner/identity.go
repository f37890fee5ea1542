package scanner

import (
	"fmt"
	"os"

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
