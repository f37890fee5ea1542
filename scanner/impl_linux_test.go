package scanner_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/afero"

	"sessaudit/scanner"
)

// osImpl is one implementation of Walk over the real filesystem. Walk reads
// an *afero.OsFs natively (file descriptors, statx) and any other afero.Fs
// through afero, so the same tree is walked both ways: natively, natively
// with every subdirectory lstat-ed before it is opened (as on filesystems
// whose d_ino cannot be trusted), and through afero with the OsFs hidden
// behind a wrapper. Faults reach the native walk through scanner.Hooks and
// the afero walk through faultFs and devFs.
type osImpl struct {
	name   string
	native bool
	// lstatDirs makes the native walk lstat subdirectories before opening
	// them, instead of trusting d_ino.
	lstatDirs bool
	// noOpenat2 makes the native walk do without openat2, as on kernels
	// before 5.6: directories stay open while their subdirectories are.
	noOpenat2 bool
}

var osImpls = []osImpl{
	{name: "native", native: true},
	{name: "native-lstat", native: true, lstatDirs: true},
	{name: "native-openat", native: true, noOpenat2: true},
	{name: "afero"},
}

// forEachOS runs f once for each implementation.
func forEachOS(t *testing.T, f func(t *testing.T, impl osImpl)) {
	t.Helper()
	for _, impl := range osImpls {
		t.Run(impl.name, func(t *testing.T) { f(t, impl) })
	}
}

// faults is what a test injects into a walk of the real filesystem.
type faults struct {
	// open maps a path to what runs before it is opened; see faultFs.
	open map[string]func() error
	// list maps a directory to what runs after it was opened and before
	// it is listed; see faultFs.
	list map[string]func() error
	// mount is a directory that, with everything under it, reports
	// another st_dev, as a mounted filesystem does.
	mount string
}

// fs returns the filesystem and the config with which impl walks with the
// faults f.
func (impl osImpl) fs(t *testing.T, f faults, cfg scanner.Config) (afero.Fs, scanner.Config) {
	t.Helper()
	if impl.native {
		var h scanner.Hooks
		if f.open != nil {
			h.Open = func(p string) error {
				if hook, ok := f.open[filepath.Clean(p)]; ok {
					return hook()
				}
				return nil
			}
		}
		if f.list != nil {
			h.List = func(p string) error {
				if hook, ok := f.list[filepath.Clean(p)]; ok {
					return hook()
				}
				return nil
			}
		}
		if f.mount != "" {
			mount := filepath.Clean(f.mount)
			h.Dev = func(p string, dev uint64) uint64 {
				if p = filepath.Clean(p); p == mount || strings.HasPrefix(p, mount+"/") {
					return dev ^ 0x5a5a
				}
				return dev
			}
		}
		h.LstatDirs = impl.lstatDirs
		h.NoOpenat2 = impl.noOpenat2
		fsys := afero.NewOsFs()
		if !scanner.Native(fsys) {
			t.Fatal("Walk does not read afero.NewOsFs() natively")
		}
		return scanner.WithHooks(fsys, h), cfg
	}
	var fsys afero.Fs = aferoOsFs{afero.NewOsFs()}
	if scanner.Native(fsys) {
		t.Fatal("Walk reads the wrapped OsFs natively")
	}
	if f.mount != "" {
		fsys = &devFs{Fs: fsys, mount: filepath.Clean(f.mount)}
	}
	if f.open != nil || f.list != nil {
		fsys = &faultFs{Fs: fsys, open: f.open, list: f.list}
	}
	return fsys, cfg
}
