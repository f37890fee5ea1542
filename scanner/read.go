package scanner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/afero"
)

// ErrNotRegular reports a file of a session that is something other than a
// regular file (a symbolic link, a FIFO, a directory): it is not read.
var ErrNotRegular = errors.New("scanner: not a regular file")

// ErrTooLarge reports a file of a session larger than the limit it was read
// with.
var ErrTooLarge = errors.New("scanner: file larger than the limit")

// readCalls is what ReadSessionFile counts in Progress.Calls: natively,
// opening the root, the workspace, the session and the file, its fstat and
// its read; through afero two lstats, the file's lstat, its open, fstat
// and read.
const readCalls = 6

// ReadSessionFile reads the regular file name directly in the session
// directory rel ("workspace_<id>/session_<id>") under root, whole, when it
// is at most limit bytes, and returns it with its modification time as
// it was opened, without following a symbolic link anywhere below
// root: natively each of the workspace, the session and the file is opened
// relative to its parent with O_NOFOLLOW. It is one bounded operation
// (Config.IOTimeout, Config.Limiter) counted as readCalls in
// Config.Progress.Calls. The error wraps fs.ErrNotExist when the file or
// the session is not there, ErrNotSessionDir when the session path is not
// a real directory, ErrNotRegular when the file is something else than a
// regular file, and ErrTooLarge when it is larger than limit.
func ReadSessionFile(ctx context.Context, fsys afero.Fs, root, rel, name string, limit int64, cfg Config) ([]byte, time.Time, error) {
	if _, _, ok := ParseSessionPath(rel); !ok || name == "" || name == "." || name == ".." || filepath.Base(name) != name {
		return nil, time.Time{}, fmt.Errorf("read %s/%s: %w", rel, name, ErrNotSessionDir)
	}
	r, err := bounded(ctx, cfg.bounds(), readCalls, func() (read, error) {
		if r, ok, err := readNative(fsys, root, rel, name, limit); ok {
			return r, err
		}
		return readAfero(fsys, root, rel, name, limit)
	})
	return r.data, r.mtime, err
}

// read is a file read by ReadSessionFile.
type read struct {
	data  []byte
	mtime time.Time
}

// readAfero is ReadSessionFile through afero, by path: the workspace and
// the session are looked at first, and the file opened is checked to be the
// regular file looked at.
func readAfero(fsys afero.Fs, root, rel, name string, limit int64) (read, error) {
	if _, err := lstatSessionNow(fsys, root, rel); err != nil {
		return read{}, fmt.Errorf("read %s: %w", rel, err)
	}
	path := filepath.Join(root, filepath.FromSlash(rel), name)
	what := rel + "/" + name
	fi, err := lstat(fsys, path)
	if err != nil {
		return read{}, fmt.Errorf("read %s: %w", what, err)
	}
	if !fi.Mode().IsRegular() {
		return read{}, fmt.Errorf("read %s: %w", what, ErrNotRegular)
	}
	f, err := fsys.OpenFile(path, os.O_RDONLY|openFileFlags, 0)
	if err != nil {
		return read{}, fmt.Errorf("read %s: %w", what, err)
	}
	defer f.Close()
	got, err := f.Stat()
	if err != nil {
		return read{}, fmt.Errorf("read %s: %w", what, err)
	}
	want, have := fileStat(fi), fileStat(got)
	if !have.mode.IsRegular() || want.sys && have.sys && (want.dev != have.dev || want.ino != have.ino) {
		return read{}, fmt.Errorf("read %s: %w", what, errChanged)
	}
	b, err := readLimited(f, what, limit)
	return read{b, got.ModTime()}, err
}

// readLimited reads r whole when it holds at most limit bytes.
func readLimited(r io.Reader, what string, limit int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", what, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("read %s: %w (%d bytes)", what, ErrTooLarge, limit)
	}
	return b, nil
}
