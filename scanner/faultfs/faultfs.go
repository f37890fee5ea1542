package faultfs

import (
	"io/fs"
	"math/bits"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/afero"
)

// Op is a set of filesystem operations.
type Op uint32

const (
	// OpOpen is Fs.Open, Fs.OpenFile and Fs.Create.
	OpOpen Op = 1 << iota
	// OpStat is Fs.Stat and File.Stat.
	OpStat
	// OpLstat is LstatIfPossible.
	OpLstat
	// OpReaddir is File.Readdir and File.Readdirnames.
	OpReaddir
	// OpReadlink is ReadlinkIfPossible.
	OpReadlink
	// OpRead is File.Read and File.ReadAt.
	OpRead
	// OpWrite is every operation that changes the filesystem: Mkdir,
	// MkdirAll, Remove, RemoveAll, Rename, Chmod, Chown, Chtimes,
	// SymlinkIfPossible, and File.Write, WriteAt, WriteString, Truncate and
	// Sync.
	OpWrite

	numOps = iota
)

const (
	// Metadata is the set of operations a network filesystem answers with
	// one metadata round trip each.
	Metadata = OpOpen | OpStat | OpLstat | OpReaddir | OpReadlink
	// All is every operation.
	All = Metadata | OpRead | OpWrite
)

// Rule injects a fault into the operations it matches. A Rule matches an
// operation when the operation is in Ops and its path matches. The effects
// apply in the order stall, delay, error: a Rule with Stall, Delay and Err
// set hangs, then waits Delay, then fails.
type Rule struct {
	// Ops is the set of operations the rule applies to; zero means Metadata.
	Ops Op
	// Path matches every path that contains it; "" matches every path.
	// It is ignored when Match is set.
	Path string
	// Match, when set, decides which paths the rule applies to. It must be
	// safe for concurrent use.
	Match func(path string) bool

	// Stall, when non-nil, blocks the operation until the channel is closed
	// or FS.Release is called. A channel that is never closed imitates a
	// server that stopped answering.
	Stall <-chan struct{}
	// Delay is added to the operation. Readdir is charged it once for the
	// call and once more for every entry it returns.
	Delay time.Duration
	// Err, when set, fails the operation with a *fs.PathError wrapping it
	// (for example syscall.EIO); the underlying filesystem is not called.
	Err error
}

func (r *Rule) matches(op Op, name string) bool {
	ops := r.Ops
	if ops == 0 {
		ops = Metadata
	}
	if ops&op == 0 {
		return false
	}
	if r.Match != nil {
		return r.Match(name)
	}
	return strings.Contains(name, r.Path)
}

// Counts is a snapshot of the operations an FS has seen.
type Counts struct {
	Open, Stat, Lstat, Readdir, Readlink, Read, Write int64
	// Entries is the number of entries returned by File.Readdir, each of
	// which costs the operating system an lstat.
	Entries int64
	// Delayed, Failed and Stalled count the operations a rule delayed,
	// failed or stalled. Waiting is the number stalled right now.
	Delayed, Failed, Stalled, Waiting int64
}

// RoundTrips is the number of metadata operations a network filesystem
// would have answered: opens, stats, lstats, directory reads, link reads and
// one lstat per entry returned by Readdir.
func (c Counts) RoundTrips() int64 {
	return c.Open + c.Stat + c.Lstat + c.Readdir + c.Readlink + c.Entries
}

// FS is an afero.Fs that injects faults into the operations of a base
// filesystem. It is safe for concurrent use.
type FS struct {
	base  afero.Fs
	rules []Rule

	released    chan struct{}
	releaseOnce sync.Once

	ops                                      [numOps]atomic.Int64
	entries, delayed, failed, stalled, waits atomic.Int64
}

var (
	_ afero.Fs        = (*FS)(nil)
	_ afero.Symlinker = (*FS)(nil)
)

// New returns a filesystem that passes every operation to base after
// applying the rules that match it, in order.
func New(base afero.Fs, rules ...Rule) *FS {
	return &FS{base: base, rules: append([]Rule(nil), rules...), released: make(chan struct{})}
}

// Release ends every stall, now and later. Tests call it on cleanup so that
// no goroutine stays blocked.
func (f *FS) Release() {
	f.releaseOnce.Do(func() { close(f.released) })
}

// Counts returns the operations seen so far.
func (f *FS) Counts() Counts {
	return Counts{
		Open:     f.count(OpOpen),
		Stat:     f.count(OpStat),
		Lstat:    f.count(OpLstat),
		Readdir:  f.count(OpReaddir),
		Readlink: f.count(OpReadlink),
		Read:     f.count(OpRead),
		Write:    f.count(OpWrite),
		Entries:  f.entries.Load(),
		Delayed:  f.delayed.Load(),
		Failed:   f.failed.Load(),
		Stalled:  f.stalled.Load(),
		Waiting:  f.waits.Load(),
	}
}

func index(op Op) int { return bits.TrailingZeros32(uint32(op)) }

func (f *FS) count(op Op) int64 { return f.ops[index(op)].Load() }

// apply counts one operation and applies the rules that match it. It
// returns the delay owed for every entry a Readdir returns, or the injected
// error. alt is a second path that the rules also match (Rename's target).
func (f *FS) apply(op Op, opName, name, alt string) (perEntry time.Duration, err error) {
	f.ops[index(op)].Add(1)
	delayed := false
	for i := range f.rules {
		r := &f.rules[i]
		if !r.matches(op, name) && (alt == "" || !r.matches(op, alt)) {
			continue
		}
		if r.Stall != nil {
			f.stall(r.Stall)
		}
		if r.Delay > 0 {
			delayed = true
			perEntry += r.Delay
			time.Sleep(r.Delay)
		}
		if r.Err != nil {
			if delayed {
				f.delayed.Add(1)
			}
			f.failed.Add(1)
			return 0, &fs.PathError{Op: opName, Path: name, Err: r.Err}
		}
	}
	if delayed {
		f.delayed.Add(1)
	}
	return perEntry, nil
}

func (f *FS) stall(ch <-chan struct{}) {
	f.stalled.Add(1)
	f.waits.Add(1)
	defer f.waits.Add(-1)
	select {
	case <-ch:
	case <-f.released:
	}
}

// Name returns the name of the base filesystem, marked as wrapped.
func (f *FS) Name() string { return "faultfs(" + f.base.Name() + ")" }

// Create creates a file in base.
func (f *FS) Create(name string) (afero.File, error) {
	if _, err := f.apply(OpOpen, "open", name, ""); err != nil {
		return nil, err
	}
	bf, err := f.base.Create(name)
	return f.wrap(name, bf, err)
}

// Open opens a file of base.
func (f *FS) Open(name string) (afero.File, error) {
	if _, err := f.apply(OpOpen, "open", name, ""); err != nil {
		return nil, err
	}
	bf, err := f.base.Open(name)
	return f.wrap(name, bf, err)
}

// OpenFile opens a file of base with the given flags and mode.
func (f *FS) OpenFile(name string, flag int, perm os.FileMode) (afero.File, error) {
	if _, err := f.apply(OpOpen, "open", name, ""); err != nil {
		return nil, err
	}
	bf, err := f.base.OpenFile(name, flag, perm)
	return f.wrap(name, bf, err)
}

func (f *FS) wrap(name string, bf afero.File, err error) (afero.File, error) {
	if err != nil {
		return nil, err
	}
	return &file{File: bf, fs: f, name: name}, nil
}

// Stat returns the FileInfo of name, following links.
func (f *FS) Stat(name string) (os.FileInfo, error) {
	if _, err := f.apply(OpStat, "stat", name, ""); err != nil {
		return nil, err
	}
	return f.base.Stat(name)
}

// LstatIfPossible returns the FileInfo of name without following a link
// when base can, and reports whether it could.
func (f *FS) LstatIfPossible(name string) (os.FileInfo, bool, error) {
	l, ok := f.base.(afero.Lstater)
	if _, err := f.apply(OpLstat, "lstat", name, ""); err != nil {
		return nil, ok, err
	}
	if ok {
		return l.LstatIfPossible(name)
	}
	fi, err := f.base.Stat(name)
	return fi, false, err
}

// ReadlinkIfPossible returns the target of the link name when base can read
// links.
func (f *FS) ReadlinkIfPossible(name string) (string, error) {
	if _, err := f.apply(OpReadlink, "readlink", name, ""); err != nil {
		return "", err
	}
	if r, ok := f.base.(afero.LinkReader); ok {
		return r.ReadlinkIfPossible(name)
	}
	return "", &fs.PathError{Op: "readlink", Path: name, Err: afero.ErrNoReadlink}
}

// SymlinkIfPossible creates newname as a link to oldname when base can.
func (f *FS) SymlinkIfPossible(oldname, newname string) error {
	if _, err := f.apply(OpWrite, "symlink", newname, ""); err != nil {
		return err
	}
	if l, ok := f.base.(afero.Linker); ok {
		return l.SymlinkIfPossible(oldname, newname)
	}
	return &os.LinkError{Op: "symlink", Old: oldname, New: newname, Err: afero.ErrNoSymlink}
}

// Mkdir creates a directory in base.
func (f *FS) Mkdir(name string, perm os.FileMode) error {
	if _, err := f.apply(OpWrite, "mkdir", name, ""); err != nil {
		return err
	}
	return f.base.Mkdir(name, perm)
}

// MkdirAll creates a directory and its parents in base.
func (f *FS) MkdirAll(name string, perm os.FileMode) error {
	if _, err := f.apply(OpWrite, "mkdir", name, ""); err != nil {
		return err
	}
	return f.base.MkdirAll(name, perm)
}

// Remove removes a file or empty directory of base.
func (f *FS) Remove(name string) error {
	if _, err := f.apply(OpWrite, "remove", name, ""); err != nil {
		return err
	}
	return f.base.Remove(name)
}

// RemoveAll removes a path and everything under it in base.
func (f *FS) RemoveAll(name string) error {
	if _, err := f.apply(OpWrite, "removeall", name, ""); err != nil {
		return err
	}
	return f.base.RemoveAll(name)
}

// Rename renames oldname to newname in base. Rules match either path.
func (f *FS) Rename(oldname, newname string) error {
	if _, err := f.apply(OpWrite, "rename", oldname, newname); err != nil {
		return err
	}
	return f.base.Rename(oldname, newname)
}

// Chmod changes the mode of name in base.
func (f *FS) Chmod(name string, mode os.FileMode) error {
	if _, err := f.apply(OpWrite, "chmod", name, ""); err != nil {
		return err
	}
	return f.base.Chmod(name, mode)
}

// Chown changes the owner of name in base.
func (f *FS) Chown(name string, uid, gid int) error {
	if _, err := f.apply(OpWrite, "chown", name, ""); err != nil {
		return err
	}
	return f.base.Chown(name, uid, gid)
}

// Chtimes changes the times of name in base.
func (f *FS) Chtimes(name string, atime, mtime time.Time) error {
	if _, err := f.apply(OpWrite, "chtimes", name, ""); err != nil {
		return err
	}
	return f.base.Chtimes(name, atime, mtime)
}

// file wraps a file of the base filesystem; rules match the name it was
// opened with.
type file struct {
	afero.File
	fs   *FS
	name string
}

func (f *file) Readdir(count int) ([]os.FileInfo, error) {
	perEntry, err := f.fs.apply(OpReaddir, "readdirent", f.name, "")
	if err != nil {
		return nil, err
	}
	infos, err := f.File.Readdir(count)
	if n := len(infos); n > 0 {
		f.fs.entries.Add(int64(n))
		if perEntry > 0 {
			time.Sleep(time.Duration(n) * perEntry)
		}
	}
	return infos, err
}

func (f *file) Readdirnames(n int) ([]string, error) {
	if _, err := f.fs.apply(OpReaddir, "readdirent", f.name, ""); err != nil {
		return nil, err
	}
	return f.File.Readdirnames(n)
}

func (f *file) Stat() (os.FileInfo, error) {
	if _, err := f.fs.apply(OpStat, "stat", f.name, ""); err != nil {
		return nil, err
	}
	return f.File.Stat()
}

func (f *file) Read(p []byte) (int, error) {
	if _, err := f.fs.apply(OpRead, "read", f.name, ""); err != nil {
		return 0, err
	}
	return f.File.Read(p)
}

func (f *file) ReadAt(p []byte, off int64) (int, error) {
	if _, err := f.fs.apply(OpRead, "read", f.name, ""); err != nil {
		return 0, err
	}
	return f.File.ReadAt(p, off)
}

func (f *file) Write(p []byte) (int, error) {
	if _, err := f.fs.apply(OpWrite, "write", f.name, ""); err != nil {
		return 0, err
	}
	return f.File.Write(p)
}

func (f *file) WriteAt(p []byte, off int64) (int, error) {
	if _, err := f.fs.apply(OpWrite, "write", f.name, ""); err != nil {
		return 0, err
	}
	return f.File.WriteAt(p, off)
}

func (f *file) WriteString(s string) (int, error) {
	if _, err := f.fs.apply(OpWrite, "write", f.name, ""); err != nil {
		return 0, err
	}
	return f.File.WriteString(s)
}

func (f *file) Truncate(size int64) error {
	if _, err := f.fs.apply(OpWrite, "truncate", f.name, ""); err != nil {
		return err
	}
	return f.File.Truncate(size)
}

func (f *file) Sync() error {
	if _, err := f.fs.apply(OpWrite, "sync", f.name, ""); err != nil {
		return err
	}
	return f.File.Sync()
}
