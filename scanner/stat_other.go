//go:build !linux

package scanner

import "os"

// statOf reports no inode facts outside Linux: sizes are still exact, but hard
// links are not recognised and allocated bytes equal sizes.
func statOf(os.FileInfo) (inode, bool) { return inode{}, false }
