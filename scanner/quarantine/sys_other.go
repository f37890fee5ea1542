//go:build !linux

package quarantine

import (
	"errors"
	"os"
	"syscall"
)

// Outside Linux every operation fails: the moves rely on openat with
// O_NOFOLLOW, renameat2 and fsync of directories as Linux has them.

type fileStat struct {
	id   Identity
	mode uint32
}

func (st fileStat) isDir() bool { return false }

var errUnsupported = errors.ErrUnsupported

func openPath(string) (int, fileStat, error)                { return -1, fileStat{}, errUnsupported }
func openDir(int, string) (int, fileStat, error)            { return -1, fileStat{}, errUnsupported }
func statAt(int, string) (fileStat, error)                  { return fileStat{}, errUnsupported }
func mkdirAt(int, string) error                             { return errUnsupported }
func mkdirNew(int, string) error                            { return errUnsupported }
func renameNoReplace(int, string, int, string) error        { return errUnsupported }
func syncFD(int) error                                      { return errUnsupported }
func closeFD(int)                                           {}
func openFileAt(int, string, int, uint32) (*os.File, error) { return nil, errUnsupported }
func removeTree(int, string, uint64) error                  { return errUnsupported }
func removeEmptyDir(int, string) (bool, error)              { return false, errUnsupported }
func unlinkAt(int, string) error                            { return errUnsupported }
func listNames(int) ([]string, error)                       { return nil, errUnsupported }

var (
	errNotEmpty = syscall.ENOTEMPTY
	errExist    = syscall.EEXIST
)
