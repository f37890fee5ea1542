package scanner

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/spf13/afero"
)

// aferoFS reads directories through an afero.Fs by path: every directory is
// opened by its full path, checked to be the one that was listed, and read
// whole with Readdir, which lstats every entry.
type aferoFS struct {
	fsys afero.Fs
	root string
}

func newAferoFS(fsys afero.Fs, root string) *aferoFS { return &aferoFS{fsys: fsys, root: root} }

// aferoDir is a directory of an aferoFS walk. f is open until it is listed.
type aferoDir struct {
	path, rel string
	refs      atomic.Int32
	f         afero.File
}

func (a *aferoFS) newDir(path, rel string, f afero.File) *aferoDir {
	d := &aferoDir{path: path, rel: rel, f: f}
	d.refs.Store(1)
	return d
}

// listings is one: an afero walk has no descriptor budget (it is bounded
// by its workers alone), and is not the one production reads a share with.
func (a *aferoFS) listings(int) int { return 1 }

func (a *aferoFS) retain(d *aferoDir) { d.refs.Add(1) }

func (a *aferoFS) release(d *aferoDir) {
	if d.refs.Add(-1) == 0 && d.f != nil {
		d.f.Close()
	}
}

func (a *aferoFS) openRoot(sl *slot) (*aferoDir, error) {
	var f afero.File
	err := sl.do(func() (err error) {
		f, err = a.fsys.Open(a.root) // the root may be a link
		return err
	}, func() {
		if f != nil {
			f.Close()
		}
	})
	if err != nil {
		return nil, err
	}
	return a.newDir(a.root, ".", f), nil
}

// readdir reads all of d's entries and closes it.
func (a *aferoFS) readdir(sl *slot, d *aferoDir) ([]os.FileInfo, error) {
	var infos []os.FileInfo
	err := sl.do(func() (err error) {
		infos, err = d.f.Readdir(-1)
		d.f.Close()
		d.f = nil
		return err
	}, nil)
	return infos, err
}

func (a *aferoFS) list(sl *slot, d *aferoDir, fn func(name string, e listed)) error {
	infos, err := a.readdir(sl, d)
	if err != nil {
		return err
	}
	for _, fi := range infos {
		fn(fi.Name(), listed{st: fileStat(fi), know: knowAll})
	}
	return nil
}

func (a *aferoFS) open(sl *slot, parent *aferoDir, name string, e listed) (*aferoDir, stat, error) {
	rel := joinRel(parent.rel, name)
	sl.where = rel
	var d *aferoDir
	var st stat
	err := sl.do(func() (err error) {
		d, st, err = a.openNow(filepath.Join(parent.path, name), rel, e)
		return err
	}, func() {
		if d != nil {
			d.f.Close()
		}
	})
	if err != nil {
		return nil, stat{}, err
	}
	return d, st, nil
}

func (a *aferoFS) openNow(path, rel string, e listed) (*aferoDir, stat, error) {
	if e.know != knowAll {
		fi, err := lstat(a.fsys, path)
		if err != nil {
			return nil, stat{}, err
		}
		e = listed{st: fileStat(fi), know: knowAll}
	}
	if reason := e.notDir(); reason != "" {
		return nil, stat{}, &notDirError{reason}
	}
	// openDirFlags refuse a link or a FIFO that took the directory's place
	// where the platform can, rather than follow or block on it.
	f, err := a.fsys.OpenFile(path, os.O_RDONLY|openDirFlags, 0)
	if err != nil {
		return nil, stat{}, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, stat{}, err
	}
	got := fileStat(fi)
	if !sameDir(e.st, got) {
		f.Close()
		return nil, stat{}, fmt.Errorf("open %s: %w", rel, errChanged)
	}
	return a.newDir(path, rel, f), got, nil
}

// size reads d whole, sizes its entries, then descends into its
// subdirectories on new goroutines while slots are free and inline
// otherwise.
func (a *aferoFS) size(w *walker[*aferoDir], sl *slot, s *session, d *aferoDir) error {
	defer a.release(d)
	if s.failed() || w.stopping() {
		return nil // done reports the cancellation
	}
	sl.where = d.rel
	infos, err := a.readdir(sl, d)
	if errors.Is(err, errDetached) {
		return err
	}
	if errors.Is(err, fs.ErrNotExist) {
		// Removed since it was opened: what it held is gone.
		s.change(changedDirGone)
		err = nil
	}
	if err != nil {
		s.fail(fmt.Errorf("read dir %s: %w", d.rel, err))
		return nil
	}
	t := s.tallyIn(d.rel)
	var subs []named
	var recent []recentFile
	read := time.Now() // Readdir lstat-ed them all by then
	for _, fi := range infos {
		st := fileStat(fi)
		if s.emptied(&st) {
			again, err := a.look(sl, d, fi.Name())
			if errors.Is(err, errDetached) {
				return err
			}
			if err == nil {
				st = again
			}
		}
		if s.truncating(&st) {
			recent = append(recent, recentFile{name: fi.Name(), st: st, at: read})
			continue
		}
		if s.add(&t, fi.Name(), &st) {
			subs = append(subs, named{fi.Name(), listed{st: st, know: knowAll}})
		}
	}
	if len(recent) > 0 {
		err := s.steady(w.ctx, &t, recent, func(name string) (stat, error) { return a.look(sl, d, name) })
		if err != nil {
			return err
		}
	}
	s.merge(&t)
	for _, sub := range subs {
		if s.failed() || w.stopping() {
			break
		}
		if w.goSession(s, func(sl *slot) error { return a.subdir(w, sl, s, d, sub) }) {
			continue
		}
		if err := a.subdir(w, sl, s, d, sub); err != nil {
			return err
		}
	}
	return nil
}

// subdir opens the subdirectory sub of d, counted when d was listed, and
// sizes it.
func (a *aferoFS) subdir(w *walker[*aferoDir], sl *slot, s *session, d *aferoDir, sub named) error {
	if s.failed() || w.stopping() {
		return nil
	}
	child, st, err := a.open(sl, d, sub.name, sub.e)
	switch {
	case errors.Is(err, errDetached):
		return err
	case errors.Is(err, fs.ErrNotExist):
		s.change(changedDirGone)
		return nil // removed while the walk ran: nothing is left to count
	case err != nil:
		s.fail(fmt.Errorf("read dir %s: %w", joinRel(d.rel, sub.name), err))
		return nil
	}
	s.opened(&st)
	return a.size(w, sl, s, child)
}

// restat looks at d's path again: a directory read whole when it was
// opened holds nothing open.
func (a *aferoFS) restat(d *aferoDir) *restat {
	return &restat{
		look: func() (restated, error) {
			fi, err := lstat(a.fsys, d.path)
			if errors.Is(err, fs.ErrNotExist) {
				return restated{gone: true}, nil
			}
			if err != nil {
				return restated{}, err
			}
			return restated{st: fileStat(fi)}, nil
		},
		release: func() {},
	}
}

func (a *aferoFS) look(sl *slot, d *aferoDir, name string) (stat, error) {
	var fi os.FileInfo
	err := sl.do(func() (err error) {
		fi, err = lstat(a.fsys, filepath.Join(d.path, name))
		return err
	}, nil)
	if err != nil {
		return stat{}, err
	}
	return fileStat(fi), nil
}

// sameDir reports whether got, the stat of an opened directory, is the
// directory want was listed as.
func sameDir(want, got stat) bool {
	if !got.mode.IsDir() {
		return false
	}
	if want.sys && got.sys {
		return want.dev == got.dev && want.ino == got.ino
	}
	return true
}

func lstat(fsys afero.Fs, name string) (os.FileInfo, error) {
	if l, ok := fsys.(afero.Lstater); ok {
		fi, _, err := l.LstatIfPossible(name)
		return fi, err
	}
	return fsys.Stat(name)
}

// joinRel joins a slash-separated path relative to the root and a name.
func joinRel(rel, name string) string {
	if rel == "." {
		return name
	}
	return rel + "/" + name
}
