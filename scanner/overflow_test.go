package scanner_test

import (
	"errors"
	"math"
	"os"
	"strings"
	"testing"

	"github.com/spf13/afero"

	"sessaudit/scanner"
)

// hugeFs reports every file whose name starts with "huge" as 8 EiB - 1
// bytes, as sparse files on tmpfs can be, which afero's MemMapFs cannot
// hold.
type hugeFs struct{ afero.Fs }

type hugeInfo struct{ os.FileInfo }

func (hugeInfo) Size() int64 { return math.MaxInt64 }

func huge(fi os.FileInfo) os.FileInfo {
	if fi.Mode().IsRegular() && strings.HasPrefix(fi.Name(), "huge") {
		return hugeInfo{fi}
	}
	return fi
}

type hugeFile struct{ afero.File }

func (f hugeFile) Readdir(n int) ([]os.FileInfo, error) {
	fis, err := f.File.Readdir(n)
	for i := range fis {
		fis[i] = huge(fis[i])
	}
	return fis, err
}

func (f hugeFile) Stat() (os.FileInfo, error) {
	fi, err := f.File.Stat()
	if err != nil {
		return nil, err
	}
	return huge(fi), nil
}

func (h hugeFs) Open(name string) (afero.File, error) {
	f, err := h.Fs.Open(name)
	if err != nil {
		return nil, err
	}
	return hugeFile{f}, nil
}

func (h hugeFs) OpenFile(name string, flag int, perm os.FileMode) (afero.File, error) {
	f, err := h.Fs.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return hugeFile{f}, nil
}

func (h hugeFs) Stat(name string) (os.FileInfo, error) {
	fi, err := h.Fs.Stat(name)
	if err != nil {
		return nil, err
	}
	return huge(fi), nil
}

// TestWalkSizeOverflow: a session whose sizes do not fit in an int64 has an
// error wrapping ErrOverflow and no sizes, never a wrapped-around one.
func TestWalkSizeOverflow(t *testing.T) {
	fsys := hugeFs{memTree(t, tree{
		"workspace_1/session_one/huge":     "",
		"workspace_1/session_two/huge":     "",
		"workspace_1/session_two/sub/huge": "",
		"workspace_1/session_ok/f":         "x",
	})}
	entries := walk(t, fsys, memRoot, scanner.Config{})
	for _, rel := range []string{"workspace_1/session_one", "workspace_1/session_two"} {
		e := entries[rel]
		if !errors.Is(e.Err, scanner.ErrOverflow) || e.Usage != (scanner.Usage{}) {
			t.Errorf("%s = Err %v, Usage %+v; want ErrOverflow and no sizes", rel, e.Err, e.Usage)
		}
	}
	if e := entries["workspace_1/session_ok"]; e.Err != nil || e.Usage.Size != 1 {
		t.Errorf("session_ok = Err %v, Usage %+v; want 1 byte", e.Err, e.Usage)
	}
}
