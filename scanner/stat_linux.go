package scanner

import (
	"os"
	"syscall"
)

// openDirFlags make opening a directory that was listed fail, rather than
// follow a symbolic link or block on a FIFO, when something else has taken
// its place.
const openDirFlags = syscall.O_DIRECTORY | syscall.O_NOFOLLOW

// statOf returns the inode facts of fi when the filesystem provides them.
func statOf(fi os.FileInfo) (inode, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return inode{}, false
	}
	// The conversions are needed: the field types differ between architectures
	// (Dev is uint32 on mips, Nlink uint32 on arm64).
	return inode{dev: uint64(st.Dev), ino: uint64(st.Ino), nlink: uint64(st.Nlink), blocks: int64(st.Blocks)}, true
}
