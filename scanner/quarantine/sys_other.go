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
	mnt  uint64
}

func (st fileStat) isDir() bool            { return false }
func (st fileStat) isRegular() bool        { return false }
func (st fileStat) sameType(fileStat) bool { return false }

var errUnsupported = errors.ErrUnsupported

func (*calls) openPath(string) (int, fileStat, error)                { return -1, fileStat{}, errUnsupported }
func (*calls) openDir(int, string) (int, fileStat, error)            { return -1, fileStat{}, errUnsupported }
func (*calls) statAt(int, string) (fileStat, error)                  { return fileStat{}, errUnsupported }
func (*calls) mkdirAt(int, string) error                             { return errUnsupported }
func (*calls) mkdirNew(int, string) error                            { return errUnsupported }
func (*calls) renameNoReplace(int, string, int, string) error        { return errUnsupported }
func (*calls) syncFD(int) error                                      { return errUnsupported }
func closeFD(int)                                                    {}
func (*calls) openFileAt(int, string, int, uint32) (*os.File, error) { return nil, errUnsupported }
func (*calls) removeTree(int, string, fileStat) error                { return errUnsupported }
func sameMount(fileStat, fileStat) error                             { return errUnsupported }
func (*calls) lock(*os.File) error                                   { return errUnsupported }
func (*calls) removeEmptyDir(int, string) (bool, error)              { return false, errUnsupported }
func (*calls) unlinkAt(int, string) error                            { return errUnsupported }
func (*calls) listNames(int) ([]string, error)                       { return nil, errUnsupported }

var (
	errNotEmpty = syscall.ENOTEMPTY
	errExist    = syscall.EEXIST
)
