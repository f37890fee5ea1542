package scanner

import (
	"errors"
	"math"
)

// Usage is what one session directory holds, under the size rules in
// docs/guarantees.md: regular files are counted once per (device, inode); symbolic links,
// directories and special files add no bytes; nothing on another filesystem
// is entered.
type Usage struct {
	// Size is the sum of st_size of the regular files.
	Size int64 `json:"size_bytes"`
	// Allocated is the sum of st_blocks × 512 of the regular files. Where the
	// filesystem reports no block count (afero's in-memory Fs) it equals Size.
	Allocated int64 `json:"allocated_bytes"`
	// Metered is what EFS bills: each regular file's data rounded up to 4 KiB,
	// plus 2 KiB for every file, link or directory, the session's own included.
	Metered int64 `json:"metered_bytes"`
	// Files counts regular files; Dirs counts directories, the session's own
	// included.
	Files int64 `json:"files"`
	Dirs  int64 `json:"dirs"`
}

const (
	meterBlock    = 4096
	meterMetadata = 2048
)

// ErrOverflow reports a session whose sizes do not fit in an int64, as sparse
// files of exabytes on tmpfs can make them: its size is unknown.
var ErrOverflow = errors.New("scanner: size overflows int64")

// Add adds o to u.
func (u *Usage) Add(o Usage) {
	u.Size += o.Size
	u.Allocated += o.Allocated
	u.Metered += o.Metered
	u.Files += o.Files
	u.Dirs += o.Dirs
}

// add adds o to u and reports whether every sum fits in an int64; on false
// u is left partly added and must not be used.
func (u *Usage) add(o Usage) bool {
	return add64(&u.Size, o.Size) && add64(&u.Allocated, o.Allocated) &&
		add64(&u.Metered, o.Metered) && add64(&u.Files, o.Files) && add64(&u.Dirs, o.Dirs)
}

// addFile counts a regular file of size bytes, allocated of them on disk,
// and reports whether the sums still fit in an int64.
func (u *Usage) addFile(size, allocated int64) bool {
	if size < 0 || size > math.MaxInt64-(meterBlock-1) {
		return false // its metered size alone does not fit
	}
	metered := (size+meterBlock-1)/meterBlock*meterBlock + meterMetadata
	return add64(&u.Files, 1) && add64(&u.Size, size) && add64(&u.Allocated, allocated) && add64(&u.Metered, metered)
}

// add64 adds b (>= 0) to *a and reports whether the sum fits in an int64.
func add64(a *int64, b int64) bool {
	if b < 0 || *a > math.MaxInt64-b {
		return false
	}
	*a += b
	return true
}

func (u *Usage) addDir() {
	u.Dirs++
	u.Metered += meterMetadata
}

func (u *Usage) addOther() {
	u.Metered += meterMetadata
}
