package scanner

import (
	"os"
	"syscall"
)

// openDirFlags make opening a directory that was listed fail, rather than
// follow a symbolic link or block on a FIFO, when something else has taken
// its place.
const openDirFlags = syscall.O_DIRECTORY | syscall.O_NOFOLLOW

// fileStat returns what sizing needs of fi, read without following links,
// with the inode facts when the filesystem provides them.
func fileStat(fi os.FileInfo) stat {
	st := stat{mode: fi.Mode(), size: fi.Size(), mtime: unixNano(fi.ModTime())}
	sys, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		st.node = memNode(fi)
		return st
	}
	// The conversions are needed: the field types differ between architectures
	// (Dev is uint32 on mips, Nlink uint32 on arm64).
	st.sys = true
	st.dev, st.ino, st.nlink, st.blocks512 = uint64(sys.Dev), uint64(sys.Ino), uint64(sys.Nlink), int64(sys.Blocks)
	st.ctime = sys.Ctim.Nano()
	return st
}
