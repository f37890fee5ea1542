//go:build !linux

package scanner

import "os"

// openDirFlags is empty outside Linux: a directory replaced after it was
// listed is still refused after it is opened, by the type check in sameDir.
const openDirFlags = 0

// statOf reports no inode facts outside Linux: sizes are still exact, but hard
// links are not recognised and allocated bytes equal sizes.
func statOf(os.FileInfo) (inode, bool) { return inode{}, false }
