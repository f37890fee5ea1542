//go:build !linux

package scanner

import "os"

// openDirFlags is empty outside Linux: a directory replaced after it was
// listed is still refused after it is opened, by the type check in sameDir.
const openDirFlags = 0

// fileStat returns what sizing needs of fi. Outside Linux it reports no
// inode facts: sizes are still exact, but hard links are not recognised and
// allocated bytes equal sizes.
func fileStat(fi os.FileInfo) stat {
	return stat{mode: fi.Mode(), size: fi.Size(), mtime: unixNano(fi.ModTime()), node: memNode(fi)}
}
