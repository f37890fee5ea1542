package scanner

import "github.com/spf13/afero"

// hooks lets tests inject faults into the native walk, which afero wrappers
// cannot reach. Paths are absolute. They are not part of Config: a walk
// finds them only on a hookedFs, which only the package's tests make
// (export_test.go), so no production caller can set one.
type hooks struct {
	// open runs before a directory is opened; an error it returns is what
	// the open returns. It may block, as a server that stopped answering.
	open func(path string) error
	// dev replaces the device an lstat or fstat reported for path.
	dev func(path string, dev uint64) uint64
	// lstatDirs makes the native walk lstat subdirectories before opening
	// them even where d_ino can be trusted.
	lstatDirs bool
	// list runs before an open directory is listed, as the place to
	// remove it between its opening and its reading.
	list func(path string) error
	// noOpenat2 makes the native walk do without openat2, as on kernels
	// before 5.6.
	noOpenat2 bool
}

// hookedFs is the host filesystem with hooks, read natively as an
// *afero.OsFs is.
type hookedFs struct {
	*afero.OsFs
	hooks *hooks
}

// hostFs reports whether fsys is the host filesystem, which the native walk
// can read, and the test hooks it carries, if any.
func hostFs(fsys afero.Fs) (*hooks, bool) {
	switch f := fsys.(type) {
	case *afero.OsFs:
		return nil, true
	case hookedFs:
		return f.hooks, true
	}
	return nil, false
}
