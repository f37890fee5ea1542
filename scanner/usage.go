package scanner

// Usage is what one session directory holds, under the size rules in the
// README: regular files are counted once per (device, inode); symbolic links,
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

// Add adds o to u.
func (u *Usage) Add(o Usage) {
	u.Size += o.Size
	u.Allocated += o.Allocated
	u.Metered += o.Metered
	u.Files += o.Files
	u.Dirs += o.Dirs
}

func (u *Usage) addFile(size, allocated int64) {
	u.Files++
	u.Size += size
	u.Allocated += allocated
	u.Metered += (size+meterBlock-1)/meterBlock*meterBlock + meterMetadata
}

func (u *Usage) addDir() {
	u.Dirs++
	u.Metered += meterMetadata
}

func (u *Usage) addOther() {
	u.Metered += meterMetadata
}
