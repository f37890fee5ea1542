package scanner

import "golang.org/x/sys/unix"

// fsKind is what the walk needs to know of the filesystem under the root.
type fsKind struct {
	// remote: every metadata operation is a round trip to a server or a
	// FUSE daemon, so the walk keeps many in flight.
	remote bool
	// trustIno: the inode number a directory listing gives for a
	// subdirectory (d_ino) is the one opening it finds, unless a filesystem
	// is mounted there. The walk then opens a listed subdirectory without
	// an lstat first and still refuses one that was swapped for another.
	// Elsewhere (FUSE, overlayfs, ...) d_ino may be made up, and every
	// subdirectory is lstat-ed before it is opened.
	trustIno bool
}

// Filesystem magic numbers (statfs f_type), from linux/magic.h and the
// filesystems' own headers.
const (
	magicNFS      = 0x6969
	magicSMB      = 0x517B
	magicCIFS     = 0xFF534D42
	magicSMB2     = 0xFE534D42
	magicFUSE     = 0x65735546 // fuse, fuseblk, virtiofs
	magic9P       = 0x01021997
	magicCeph     = 0x00C36400
	magicAFS      = 0x5346414F
	magicKAFS     = 0x6B414653
	magicCoda     = 0x73757245
	magicNCP      = 0x564C
	magicLustre   = 0x0BD00BD0
	magicGFS2     = 0x01161970
	magicOCFS2    = 0x7461636F
	magicOrangeFS = 0x20030528
	magicGPFS     = 0x47504653
	magicBeeGFS   = 0x19830326
	magicPanFS    = 0xAAD7AAEA

	magicExt4  = 0xEF53 // ext2, ext3 and ext4
	magicXFS   = 0x58465342
	magicBtrfs = 0x9123683E
	magicTmpfs = 0x01021994
	magicRamfs = 0x858458F6
	magicF2FS  = 0xF2F52010
	magicZFS   = 0x2FC12FC1

	magicOverlay  = 0x794C7630
	magicBcachefs = 0xCA451A4E
)

func kindOf(magic uint32) fsKind {
	switch magic {
	case magicNFS:
		return fsKind{remote: true, trustIno: true}
	case magicSMB, magicCIFS, magicSMB2, magicFUSE, magic9P, magicCeph, magicAFS, magicKAFS, magicCoda,
		magicNCP, magicLustre, magicGFS2, magicOCFS2, magicOrangeFS, magicGPFS, magicBeeGFS, magicPanFS:
		return fsKind{remote: true}
	case magicExt4, magicXFS, magicBtrfs, magicTmpfs, magicRamfs, magicF2FS, magicZFS:
		return fsKind{trustIno: true}
	case magicOverlay, magicBcachefs:
		return fsKind{}
	}
	// Unknown: many calls in flight cost little on a local disk, few cost a
	// lot on a network filesystem.
	return fsKind{remote: true}
}

// statfsKind returns the kind of the filesystem holding path.
func statfsKind(path string) (fsKind, error) {
	var sfs unix.Statfs_t
	if err := unix.Statfs(path, &sfs); err != nil {
		return fsKind{}, err
	}
	return kindOf(uint32(sfs.Type)), nil
}
