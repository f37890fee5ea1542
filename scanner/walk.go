package scanner

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/afero"
	"golang.org/x/sync/errgroup"
)

// ErrRootNotDir reports a root that exists but is not a directory.
var ErrRootNotDir = errors.New("scanner: root is not a directory")

// errChanged reports a directory that was replaced between listing and opening.
var errChanged = errors.New("scanner: directory changed while it was read")

// Kind says what an Entry describes.
type Kind uint8

const (
	// KindSession is a session directory. Usage holds its measurement unless
	// Err is set, in which case its size is unknown.
	KindSession Kind = iota + 1
	// KindUnrecognized is anything under the root or a workspace that is not
	// part of the layout: never sized, never acted on. Reason says why.
	KindUnrecognized
	// KindWorkspaceError is a workspace directory that could not be listed:
	// the sessions in it are unknown. Err says why.
	KindWorkspaceError
)

// Entry is one thing Walk found.
type Entry struct {
	Kind Kind
	// Path is relative to the root and slash-separated.
	Path        string
	WorkspaceID uint64
	SessionID   string
	Usage       Usage
	// Newest is the newest modification time of the session directory or
	// anything inside it.
	Newest time.Time
	Reason string
	Err    error
}

// Config controls Walk. The zero value is valid.
type Config struct {
	// Workers is the number of directories read at once; <= 0 picks a default.
	Workers int
	// Workspaces limits the walk to these workspace ids; nil walks them all.
	// Entries of the root other than these workspaces are then not reported.
	Workspaces []uint64
	// IOTimeout bounds each filesystem operation (opening and listing one
	// directory, one lstat); a session whose operation times out is
	// reported with an error wrapping ErrIOTimeout. 0 means
	// DefaultIOTimeout; a negative value means no limit.
	IOTimeout time.Duration
}

func (c Config) workers() int {
	if c.Workers > 0 {
		return c.Workers
	}
	return max(8, 4*runtime.GOMAXPROCS(0))
}

// Walk measures every session directory under root and calls fn once for
// every session, every unrecognized entry and every workspace directory that
// could not be listed. fn must be safe for concurrent use; order is
// undefined. Walk returns only after every call to fn has returned.
//
// Walk never follows a symbolic link below root and never enters another
// filesystem mounted inside a session. A failure inside one session is
// reported on that session's Entry; Walk itself fails only when the root
// cannot be listed, fn returns an error, or ctx is done.
func Walk(ctx context.Context, fsys afero.Fs, root string, cfg Config, fn func(Entry) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := CheckRoot(ctx, fsys, root, cfg); err != nil {
		return err
	}
	g, ctx := errgroup.WithContext(ctx)
	w := &walker{fsys: fsys, root: root, fn: fn, g: g, ctx: ctx, sem: make(chan struct{}, cfg.workers()), ioTimeout: cfg.ioTimeout()}
	g.Go(func() error { return w.walkRoot(cfg.Workspaces) })
	return g.Wait()
}

// Measure measures the single session directory at rel ("workspace_<id>/
// session_<id>") under root, as Walk would. It returns an error wrapping
// fs.ErrNotExist when there is no such entry, and a KindUnrecognized entry
// when the entry is not a real directory.
func Measure(ctx context.Context, fsys afero.Fs, root, rel string, cfg Config) (Entry, error) {
	ws, id, ok := ParseSessionPath(rel)
	if !ok {
		return Entry{}, fmt.Errorf("measure %q: not a session path", rel)
	}
	if err := CheckRoot(ctx, fsys, root, cfg); err != nil {
		return Entry{}, err
	}
	fi, err := lstatSession(ctx, fsys, root, rel, cfg.ioTimeout())
	if errors.Is(err, ErrNotSessionDir) {
		return Entry{Kind: KindUnrecognized, Path: rel, WorkspaceID: ws, SessionID: id, Reason: err.Error()}, nil
	}
	if err != nil {
		return Entry{}, fmt.Errorf("measure: %w", err)
	}
	var result Entry
	g, gctx := errgroup.WithContext(ctx)
	w := &walker{fsys: fsys, root: root, g: g, ctx: gctx, sem: make(chan struct{}, cfg.workers()), ioTimeout: cfg.ioTimeout(),
		fn: func(e Entry) error { result = e; return nil }}
	g.Go(func() error {
		if err := w.acquire(); err != nil {
			return err
		}
		defer w.release()
		return w.session(rel, ws, id, fi)
	})
	if err := g.Wait(); err != nil {
		return Entry{}, err
	}
	if result.Kind == 0 {
		return Entry{}, fmt.Errorf("measure %s: %w", rel, fs.ErrNotExist)
	}
	return result, nil
}

type walker struct {
	fsys afero.Fs
	root string
	fn   func(Entry) error
	g    *errgroup.Group
	ctx  context.Context
	// sem holds one token per directory being read. Goroutines that hold a
	// token never wait for another: they read inline instead.
	sem       chan struct{}
	ioTimeout time.Duration
}

func (w *walker) emit(e Entry) error {
	if w.fn == nil {
		return nil
	}
	return w.fn(e)
}

// acquire waits for a token; it is only called by goroutines holding none.
func (w *walker) acquire() error {
	// select picks at random among ready cases: look at ctx first so that a
	// cancelled walk never starts more work.
	if err := w.ctx.Err(); err != nil {
		return err
	}
	select {
	case w.sem <- struct{}{}:
		return nil
	case <-w.ctx.Done():
		return w.ctx.Err()
	}
}

func (w *walker) release() { <-w.sem }

// tryGo runs f on a new goroutine if a token is free, and reports whether it did.
func (w *walker) tryGo(f func() error) bool {
	select {
	case w.sem <- struct{}{}:
		w.g.Go(func() error {
			defer w.release()
			return f()
		})
		return true
	default:
		return false
	}
}

func (w *walker) abs(rel string) string {
	return filepath.Join(w.root, filepath.FromSlash(rel))
}

func (w *walker) walkRoot(only []uint64) error {
	if only != nil {
		seen := make(map[uint64]bool, len(only))
		for _, id := range only {
			if seen[id] {
				continue // listed twice: walk it once
			}
			seen[id] = true
			rel := WorkspaceName(id)
			fi, err := bounded(w.ctx, w.ioTimeout, func() (os.FileInfo, error) { return lstat(w.fsys, w.abs(rel)) })
			switch {
			case errors.Is(err, fs.ErrNotExist):
				continue
			case w.ctx.Err() != nil:
				return w.ctx.Err()
			case err != nil:
				if err := w.emit(Entry{Kind: KindWorkspaceError, Path: rel, WorkspaceID: id, Err: err}); err != nil {
					return err
				}
			default:
				if err := w.startWorkspace(rel, id, fi); err != nil {
					return err
				}
			}
		}
		return nil
	}
	infos, err := w.readDir(w.root, nil)
	if err != nil {
		return fmt.Errorf("list root %s: %w", w.root, err)
	}
	for _, fi := range infos {
		id, ok := ParseWorkspace(fi.Name())
		if !ok {
			if err := w.emit(Entry{Kind: KindUnrecognized, Path: fi.Name(), Reason: "not a workspace_<id> name"}); err != nil {
				return err
			}
			continue
		}
		if err := w.startWorkspace(fi.Name(), id, fi); err != nil {
			return err
		}
	}
	return nil
}

func (w *walker) startWorkspace(rel string, id uint64, fi os.FileInfo) error {
	if reason := notDir(fi); reason != "" {
		return w.emit(Entry{Kind: KindUnrecognized, Path: rel, WorkspaceID: id, Reason: reason})
	}
	if err := w.acquire(); err != nil {
		return err
	}
	w.g.Go(func() error { return w.workspace(rel, id, fi) })
	return nil
}

// workspace lists one workspace directory, holding a token only while it
// reads, then starts its sessions.
func (w *walker) workspace(rel string, id uint64, fi os.FileInfo) error {
	infos, err := w.readDir(w.abs(rel), fi)
	w.release()
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil // removed while the walk ran: nothing is there now
		}
		if cerr := w.ctx.Err(); cerr != nil {
			return cerr // stopped, not failed
		}
		return w.emit(Entry{Kind: KindWorkspaceError, Path: rel, WorkspaceID: id, Err: fmt.Errorf("list %s: %w", rel, err)})
	}
	for _, sfi := range infos {
		srel := path.Join(rel, sfi.Name())
		sid, ok := ParseSession(sfi.Name())
		if !ok {
			if err := w.emit(Entry{Kind: KindUnrecognized, Path: srel, WorkspaceID: id, Reason: "not a session_<id> name"}); err != nil {
				return err
			}
			continue
		}
		if reason := notDir(sfi); reason != "" {
			if err := w.emit(Entry{Kind: KindUnrecognized, Path: srel, WorkspaceID: id, SessionID: sid, Reason: reason}); err != nil {
				return err
			}
			continue
		}
		if err := w.acquire(); err != nil {
			return err
		}
		w.g.Go(func() error {
			defer w.release()
			return w.session(srel, id, sid, sfi)
		})
	}
	return nil
}

// session measures one session directory; the caller holds a token.
func (w *walker) session(rel string, ws uint64, id string, fi os.FileInfo) error {
	s := &session{entry: Entry{Kind: KindSession, Path: rel, WorkspaceID: ws, SessionID: id}}
	if st, ok := statOf(fi); ok {
		s.dev, s.hasDev = st.dev, true
	}
	var u Usage
	u.addDir()
	s.add(u, fi.ModTime())
	s.pending.Store(1)
	w.visit(s, w.abs(rel), rel, fi)
	return w.done(s)
}

// done marks one unit of a session's work finished and reports the session
// when it was the last.
func (w *walker) done(s *session) error {
	if s.pending.Add(-1) != 0 {
		return nil
	}
	if err := w.ctx.Err(); err != nil {
		// The walk is being abandoned: what was measured is incomplete, and
		// it is not a failure of this session.
		return err
	}
	if s.vanished {
		return nil
	}
	e := s.entry
	e.Usage, e.Newest, e.Err = s.usage, s.newest, s.err
	if e.Err != nil {
		e.Usage = Usage{}
	}
	return w.emit(e)
}

// visit reads one directory of session s and sizes its entries, descending
// into subdirectories on new goroutines while tokens are free and inline
// otherwise.
func (w *walker) visit(s *session, dir, rel string, fi os.FileInfo) {
	if s.failed() || w.ctx.Err() != nil {
		return // done reports the cancellation
	}
	infos, err := w.readDir(dir, fi)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			if rel == s.entry.Path {
				s.vanish()
			}
			return // removed while the walk ran: nothing is left to count
		}
		s.fail(fmt.Errorf("read dir %s: %w", rel, err))
		return
	}
	var u Usage
	var newest time.Time
	subdirs := infos[:0]
	for _, c := range infos {
		if mt := c.ModTime(); mt.After(newest) {
			newest = mt
		}
		st, hasStat := statOf(c)
		switch mode := c.Mode(); {
		case mode.IsDir():
			if s.hasDev && hasStat && st.dev != s.dev {
				continue // another filesystem mounted here is not entered
			}
			u.addDir()
			subdirs = append(subdirs, c)
		case mode.IsRegular():
			allocated := c.Size()
			if hasStat {
				if st.nlink > 1 && !s.firstLink(st) {
					continue
				}
				allocated = st.blocks * 512
			}
			u.addFile(c.Size(), allocated)
		default:
			u.addOther()
		}
	}
	s.add(u, newest)
	for _, c := range subdirs {
		subDir, subRel := filepath.Join(dir, c.Name()), rel+"/"+c.Name()
		s.pending.Add(1)
		spawned := w.tryGo(func() error {
			w.visit(s, subDir, subRel, c)
			return w.done(s)
		})
		if !spawned {
			s.pending.Add(-1)
			w.visit(s, subDir, subRel, c)
		}
	}
}

// readDir lists dir without following symbolic links. When want is given, the
// opened directory must be the one that was listed: a directory swapped for a
// link, a FIFO or another directory between the two is refused, and is not
// even opened where the platform can refuse it at open (a FIFO opened for
// reading would block until a writer came).
func (w *walker) readDir(dir string, want os.FileInfo) ([]os.FileInfo, error) {
	return bounded(w.ctx, w.ioTimeout, func() ([]os.FileInfo, error) { return w.readDirNow(dir, want) })
}

func (w *walker) readDirNow(dir string, want os.FileInfo) ([]os.FileInfo, error) {
	var f afero.File
	var err error
	if want != nil {
		f, err = w.fsys.OpenFile(dir, os.O_RDONLY|openDirFlags, 0)
	} else {
		f, err = w.fsys.Open(dir) // the root, which may be a link
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if want != nil {
		got, err := f.Stat()
		if err != nil {
			return nil, err
		}
		if !sameDir(want, got) {
			return nil, errChanged
		}
	}
	return f.Readdir(-1)
}

func sameDir(want, got os.FileInfo) bool {
	if !got.IsDir() {
		return false
	}
	a, okA := statOf(want)
	b, okB := statOf(got)
	if okA && okB {
		return a.dev == b.dev && a.ino == b.ino
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

// notDir says why fi, read without following links, is not a directory to
// enter, or "" when it is one.
func notDir(fi os.FileInfo) string {
	switch mode := fi.Mode(); {
	case mode&fs.ModeSymlink != 0:
		return "a symbolic link (never followed)"
	case !mode.IsDir():
		return "not a directory"
	}
	return ""
}

type inode struct {
	dev, ino, nlink uint64
	blocks          int64
}

type fileID struct{ dev, ino uint64 }

// session accumulates the measurement of one session directory across the
// goroutines that read its subdirectories.
type session struct {
	entry   Entry
	dev     uint64
	hasDev  bool
	pending atomic.Int64
	failedF atomic.Bool

	mu       sync.Mutex
	usage    Usage
	newest   time.Time
	err      error
	vanished bool
	links    map[fileID]struct{}
}

func (s *session) add(u Usage, newest time.Time) {
	s.mu.Lock()
	s.usage.Add(u)
	if newest.After(s.newest) {
		s.newest = newest
	}
	s.mu.Unlock()
}

func (s *session) fail(err error) {
	s.mu.Lock()
	if s.err == nil {
		s.err = err
	}
	s.mu.Unlock()
	s.failedF.Store(true)
}

func (s *session) vanish() {
	s.mu.Lock()
	s.vanished = true
	s.mu.Unlock()
}

func (s *session) failed() bool { return s.failedF.Load() }

// firstLink reports whether this is the first time the session meets the
// file behind a hard link.
func (s *session) firstLink(st inode) bool {
	id := fileID{st.dev, st.ino}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.links == nil {
		s.links = make(map[fileID]struct{})
	}
	if _, seen := s.links[id]; seen {
		return false
	}
	s.links[id] = struct{}{}
	return true
}
