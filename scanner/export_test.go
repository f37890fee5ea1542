package scanner

import (
	"runtime"

	"github.com/spf13/afero"
)

// Hooks lets the tests inject faults into the native walk, which afero
// wrappers cannot reach; see hooks.
type Hooks struct {
	Open func(path string) error
	Dev  func(path string, dev uint64) uint64
	// LstatDirs makes the native walk lstat every subdirectory before
	// opening it, as it does where d_ino cannot be trusted.
	LstatDirs bool
	// List runs before an open directory is listed.
	List func(path string) error
}

// WithHooks returns cfg with h installed.
func WithHooks(cfg Config, h Hooks) Config {
	cfg.hooks = &hooks{open: h.Open, dev: h.Dev, lstatDirs: h.LstatDirs, list: h.List}
	return cfg
}

// Native reports whether Walk reads fsys with the native walk.
func Native(fsys afero.Fs) bool {
	_, ok := fsys.(*afero.OsFs)
	return ok && runtime.GOOS == "linux"
}
