package output

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// ErrDestination marks every error about the destination itself, so that
// the command line can say which flag is at fault.
var ErrDestination = errors.New("output: bad destination")

// Reserve is how much space Open claims in a new temporary file, so that a
// full filesystem is found before the command starts rather than after it
// has done its work. A larger report is still written; only this much of
// it is sure to fit.
const Reserve = 1 << 20

// Dest is an opened destination. Exactly one of Commit and Close ends it;
// Close after Commit does nothing.
type Dest struct {
	flag   string // the flag that named it, for messages: --output
	name   string
	stdout io.Writer
	// tmp is the temporary file that replaces name at the end.
	tmp  *os.File
	perm fs.FileMode
	// direct is what is written straight into: a link's target, a device,
	// a FIFO.
	direct *os.File
	done   bool
}

// Open checks and opens the destination name of --output; "" and "-" mean
// stdout. It changes nothing a reader of name can see.
func Open(name string, stdout io.Writer) (*Dest, error) {
	return OpenFor("--output", name, stdout)
}

// OpenFor is Open for the destination of the flag named flag
// ("--metrics-file"), which the errors name.
func OpenFor(flag, name string, stdout io.Writer) (*Dest, error) {
	d := &Dest{flag: flag, name: name, stdout: stdout}
	if name == "" || name == "-" {
		return d, nil
	}
	fi, err := os.Lstat(name)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return d, d.openTemp(0o644)
	case err != nil:
		return nil, d.fail(err)
	case fi.Mode().IsRegular():
		return d, d.openTemp(fi.Mode().Perm())
	case fi.IsDir():
		return nil, d.fail(errors.New("is a directory"))
	}
	// A link, a device, a FIFO, a socket: write into it, never replace it,
	// and never create what a dangling link names. O_NONBLOCK: a FIFO that
	// no process reads fails (ENXIO) rather than waiting in open for a
	// reader that may never come; writes still wait for a slow reader.
	f, err := os.OpenFile(name, os.O_WRONLY|syscall.O_NONBLOCK, 0)
	if errors.Is(err, syscall.ENXIO) {
		return nil, d.fail(errors.New("is a FIFO no process reads (start its reader first)"))
	}
	if err != nil {
		return nil, d.fail(err)
	}
	if fi, err := f.Stat(); err != nil || fi.IsDir() {
		f.Close()
		if err == nil {
			err = errors.New("is a link to a directory")
		}
		return nil, d.fail(err)
	}
	d.direct = f
	return d, nil
}

// openTemp creates the temporary file beside name and reserves space in it.
func (d *Dest) openTemp(perm fs.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(d.name), "."+filepath.Base(d.name)+".*")
	if err != nil {
		return d.fail(err)
	}
	d.tmp, d.perm = f, perm
	if err := reserve(f); err != nil {
		d.Close()
		return d.fail(fmt.Errorf("reserve space: %w", err))
	}
	return nil
}

// reserve writes Reserve bytes and syncs them: a full filesystem, a quota
// or a file size limit fails here (on NFS perhaps only at the sync).
func reserve(f *os.File) error {
	if _, err := f.Write(make([]byte, Reserve)); err != nil {
		return err
	}
	return f.Sync()
}

func (d *Dest) fail(err error) error {
	return fmt.Errorf("%w: %s %s: %w", ErrDestination, d.flag, d.name, unwrapPath(err))
}

// unwrapPath drops the operation and path of a *fs.PathError, which would
// repeat the name or show the temporary file's.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// Commit writes what write produces to the destination and, for a
// replaced file, renames it into place.
func (d *Dest) Commit(write func(io.Writer) error) error {
	if d.done {
		return errors.New("output: already written")
	}
	switch {
	case d.tmp != nil:
		return d.commitTemp(write)
	case d.direct != nil:
		d.done = true
		f := d.direct
		err := truncateRegular(f)
		if err == nil {
			err = writeBuffered(f, write)
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("write %s: %w", d.name, unwrapPath(err))
		}
		return nil
	}
	d.done = true
	if err := writeBuffered(d.stdout, write); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}

func (d *Dest) commitTemp(write func(io.Writer) error) error {
	f := d.tmp
	d.tmp, d.done = nil, true
	var n int64
	_, err := f.Seek(0, io.SeekStart)
	if err == nil {
		cw := &countingWriter{w: f}
		err = writeBuffered(cw, write)
		n = cw.n
	}
	if err == nil {
		err = f.Truncate(n) // the reserved bytes beyond the report
	}
	if err == nil {
		err = f.Sync()
	}
	if err == nil {
		err = f.Chmod(d.perm)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), d.name)
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("write %s: %w", d.name, unwrapPath(err))
	}
	return nil
}

// Close gives up a destination that was not written: the temporary file is
// removed, a device or FIFO closed. After Commit it does nothing.
func (d *Dest) Close() error {
	d.done = true
	if d.tmp != nil {
		d.tmp.Close()
		os.Remove(d.tmp.Name())
		d.tmp = nil
	}
	if d.direct != nil {
		d.direct.Close()
		d.direct = nil
	}
	return nil
}

// truncateRegular empties f if it is a regular file (reached through a
// link), as the shell's > does; a device or FIFO is left as it is.
func truncateRegular(f *os.File) error {
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		return err
	}
	return f.Truncate(0)
}

func writeBuffered(w io.Writer, write func(io.Writer) error) error {
	bw := bufio.NewWriter(w)
	if err := write(bw); err != nil {
		return err
	}
	return bw.Flush()
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
