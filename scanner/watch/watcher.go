package watch

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"

	"sessaudit/scanner"
)

// eventBuffer is the number of events fsnotify may hold for the watcher
// while it is busy (walking the tree after a rescan, say), on top of the
// kernel's own queue (/proc/sys/fs/inotify/max_queued_events).
const eventBuffer = 16384

// Config controls a Watcher. Root is required; the zero value of every other
// field works.
type Config struct {
	// Root is the directory holding the workspace_<id> directories.
	Root string
	// Contains reports whether a workspace is covered. Workspaces it
	// rejects are never opened, listed or watched, and their events are
	// dropped. nil covers every workspace.
	Contains func(workspace uint64) bool
	// MaxWatches is the most watches the Watcher keeps; directories past
	// it are left to rescans. <= 0 means DefaultMaxWatches().
	MaxWatches int

	// Touched is called, from the Watcher's goroutine, with the key
	// ("workspace_<id>/session_<id>") of each session an event touched,
	// including one that appeared or went away. It must not block for long.
	Touched func(key string)
	// Overflow is called when the kernel dropped events: what changed is
	// unknown until a rescan.
	Overflow func()
	// Exhausted is called once, the first time a directory is left
	// unwatched because MaxWatches (or the kernel's limit for the user) is
	// reached; Stats().Unwatched counts every time.
	Exhausted func(budget int)
	// OnError is called for a directory that could not be listed or
	// watched for another reason than being gone, a symbolic link or a
	// mount point, and for errors of the event source.
	OnError func(rel string, err error)
	// RootChanged is called, from the Watcher's goroutine, when the
	// directory at Root is no longer the one the watches were placed in:
	// replaced (renamed away and made again, restored), unmounted, or
	// mounted over. Its watches would never hear of the new tree. With a
	// nil err the Watcher has opened the new root and dropped every watch:
	// the next Resync places them again, and what changed meanwhile is
	// known only to a rescan. With an error the root cannot be opened: no
	// directory is watched and RootChanged is called again once it can.
	RootChanged func(err error)
	// RootCheck is how often the root is looked at for that, besides at
	// each Resync and on an event of the root itself; <= 0 means
	// DefaultRootCheck.
	RootCheck time.Duration
}

// DefaultRootCheck is how often a Watcher looks whether its root was
// replaced: two statx calls, so that a watcher whose share was mounted
// again is deaf for seconds, not until the next rescan.
const DefaultRootCheck = 10 * time.Second

// Stats are the Watcher's counters.
type Stats struct {
	// Watches is the number of watches held now.
	Watches int
	// Budget is the most watches the Watcher keeps.
	Budget int
	// Events is the number of events received.
	Events uint64
	// Unwatched is the number of times a directory was left unwatched for
	// want of watches.
	Unwatched uint64
}

// Watcher keeps watches on the covered part of the tree under Config.Root
// and reports the sessions that events touched. Create it with New, run it
// with Run, and call Resync to (re)walk the tree: Run itself places no
// watch until the first Resync.
//
// It watches the root, each covered workspace directory, each session
// directory in them and every directory inside a session, adding watches
// as directories appear and dropping them as they go. Directories are
// opened relative to the root with openat2 (RESOLVE_BENEATH,
// RESOLVE_NO_SYMLINKS, RESOLVE_NO_XDEV; element by element with O_NOFOLLOW
// where openat2 is missing), so a symbolic link is never followed for
// reading and another mounted filesystem never entered. A watch itself is
// placed by path (inotify offers nothing else): were a directory swapped
// for a link in the instant between opening it and placing its watch, the
// watch would sit on the link's target and only produce spurious keys of
// the session the path names; nothing is ever read through it.
type Watcher struct {
	cfg    Config
	budget int
	fsw    *fsnotify.Watcher // replaced, with dirs, when the root is
	dirs   *dirs

	// Used by Run's goroutine only.
	rootErr error // why the root cannot be opened; nil while it is
	tree    tree
	gen     uint64
	refused bool // a directory went unwatched in the current walk
	told    bool // Exhausted was called

	resync chan chan error

	watches   atomic.Int64
	events    atomic.Uint64
	unwatched atomic.Uint64
}

// New returns a Watcher for cfg. It opens the root and an inotify instance;
// Run releases them.
func New(cfg Config) (*Watcher, error) {
	if cfg.Root == "" {
		return nil, errors.New("watch: empty root")
	}
	root, err := filepath.Abs(cfg.Root)
	if err != nil {
		return nil, fmt.Errorf("watch root %s: %w", cfg.Root, err)
	}
	cfg.Root = root
	if cfg.RootCheck <= 0 {
		cfg.RootCheck = DefaultRootCheck
	}
	budget := cfg.MaxWatches
	if budget <= 0 {
		budget = DefaultMaxWatches()
	}
	d, err := openRoot(root)
	if err != nil {
		return nil, err
	}
	fsw, err := fsnotify.NewBufferedWatcher(eventBuffer)
	if err != nil {
		d.close()
		return nil, fmt.Errorf("watch root %s: %w", root, err)
	}
	return &Watcher{cfg: cfg, budget: budget, fsw: fsw, dirs: d, resync: make(chan chan error)}, nil
}

// Stats returns the Watcher's counters. It is safe to call at any time.
func (w *Watcher) Stats() Stats {
	return Stats{
		Watches:   int(w.watches.Load()),
		Budget:    w.budget,
		Events:    w.events.Load(),
		Unwatched: w.unwatched.Load(),
	}
}

// Run handles events until ctx is done, then drops every watch and returns
// ctx.Err(). It returns another error only when the event source fails for
// good. A Watcher runs once.
func (w *Watcher) Run(ctx context.Context) error {
	defer func() {
		w.fsw.Close()
		if w.dirs != nil {
			w.dirs.close()
		}
	}()
	tick := time.NewTicker(w.cfg.RootCheck)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
			if err := w.checkRoot(); err != nil {
				return err
			}
		case done := <-w.resync:
			if err := w.checkRoot(); err != nil {
				done <- err
				return err
			}
			if w.rootErr == nil {
				w.walkAll()
			}
			done <- nil
		case ev, ok := <-w.fsw.Events:
			if !ok {
				return errors.New("watch: event source closed")
			}
			w.handle(ev)
		case err, ok := <-w.fsw.Errors:
			if !ok {
				return errors.New("watch: event source closed")
			}
			if errors.Is(err, fsnotify.ErrEventOverflow) {
				if w.cfg.Overflow != nil {
					w.cfg.Overflow()
				}
				continue
			}
			w.report("", err)
		}
	}
}

// Resync walks the covered tree again: it watches every directory not
// watched yet (within the budget) and drops the watches of directories that
// are gone. Call it before each rescan, so that whatever changes after the
// rescan read it is seen. It returns when the walk is done, or with
// ctx.Err() when ctx is done first.
func (w *Watcher) Resync(ctx context.Context) error {
	done := make(chan error, 1)
	select {
	case w.resync <- done:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// walkAll walks the whole covered tree as generation gen+1 and sweeps what
// it did not see.
func (w *Watcher) walkAll() {
	w.gen++
	w.refused = false
	w.add("", 0, false)
	before := w.tree.count
	w.tree.sweep(w.gen, w.unwatch)
	if w.refused && w.tree.count < before {
		// The budget ran out while watches of directories that are gone
		// still counted: walk again with them freed.
		w.add("", 0, false)
	}
	w.watches.Store(int64(w.tree.count))
}

// handle turns one event into the key of the session it touched, and keeps
// the watches in step with the directories it reports.
func (w *Watcher) handle(ev fsnotify.Event) {
	w.events.Add(1)
	rel, ok := strings.CutPrefix(ev.Name, w.cfg.Root+"/")
	if !ok || rel == "" {
		if ev.Name == w.cfg.Root && (ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename)) {
			if err := w.checkRoot(); err != nil {
				w.report("", err)
			}
		}
		return
	}
	wsName, rest, _ := strings.Cut(rel, "/")
	ws, ok := scanner.ParseWorkspace(wsName)
	if !ok || !w.covers(ws) {
		return // not part of the layout, or another shard's: never read
	}
	var key string
	level := 1
	if rest != "" {
		sessName, below, _ := strings.Cut(rest, "/")
		if _, ok := scanner.ParseSession(sessName); !ok {
			return // not a session: rescans report it
		}
		key = wsName + "/" + sessName
		level = 2
		if below != "" {
			level = 3
		}
	}
	if ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename) || ev.Has(fsnotify.Create) {
		// What stood at rel is gone or replaced: its watches go with it.
		w.tree.remove(rel, w.unwatch)
	}
	if ev.Has(fsnotify.Create) {
		// A new directory (or a file: opening it as a directory fails at
		// once) is walked, and anything already in it watched.
		w.add(rel, level, true)
	}
	w.watches.Store(int64(w.tree.count))
	if key != "" {
		w.touch(key)
	}
}

// checkRoot looks whether the directory at the root's path is still the
// one the Watcher holds open; when it is not, it drops every watch, opens
// the new root and calls RootChanged (see Config.RootChanged). It returns
// an error only when a new event source cannot be made: the Watcher cannot
// go on.
func (w *Watcher) checkRoot() error {
	if w.rootErr == nil {
		replaced, err := w.dirs.replaced()
		if err == nil && !replaced {
			return nil
		}
		// Every watch sits on the old tree: a new inotify instance drops
		// them at once, and the old tree's events with them.
		fsw, ferr := fsnotify.NewBufferedWatcher(eventBuffer)
		if ferr != nil {
			return fmt.Errorf("watch root %s again: %w", w.cfg.Root, ferr)
		}
		w.fsw.Close()
		w.fsw = fsw
		w.tree = tree{}
		w.watches.Store(0)
		w.dirs.close()
		w.dirs = nil
		if err == nil {
			err = errors.New("watch: the root was replaced")
		}
		w.rootErr = err
	}
	d, err := openRoot(w.cfg.Root)
	if err != nil {
		if w.rootErr == nil || w.rootErr.Error() != err.Error() {
			w.rootErr = err
			w.rootChanged(err)
		}
		return nil
	}
	w.dirs, w.rootErr = d, nil
	w.rootChanged(nil)
	return nil
}

func (w *Watcher) rootChanged(err error) {
	if w.cfg.RootChanged != nil {
		w.cfg.RootChanged(err)
	}
}

func (w *Watcher) covers(ws uint64) bool {
	return w.cfg.Contains == nil || w.cfg.Contains(ws)
}

func (w *Watcher) touch(key string) {
	if w.cfg.Touched != nil {
		w.cfg.Touched(key)
	}
}

func (w *Watcher) report(rel string, err error) {
	if w.cfg.OnError != nil {
		w.cfg.OnError(rel, err)
	}
}

// add opens the directory rel, at level 0 (the root), 1 (a workspace), 2 (a
// session) or 3 (inside a session), and watches it and the directories
// below it that the layout covers. With touch, a session found on the way
// is reported as touched (it appeared after the last rescan).
func (w *Watcher) add(rel string, level int, touch bool) {
	fd, err := w.dirs.open(rel)
	if err != nil {
		w.pathError(rel, err)
		return
	}
	w.walk(fd, rel, level, touch)
}

// walk watches the directory rel, open as fd, and what the layout covers
// below it. It closes fd.
func (w *Watcher) walk(fd int, rel string, level int, touch bool) {
	f := os.NewFile(uintptr(fd), filepath.Join(w.cfg.Root, rel))
	defer f.Close()
	if level == 2 && touch {
		w.touch(rel)
	}
	// Watch before listing: an entry made after the listing raises an
	// event; one made before is in the listing.
	if !w.watch(rel) {
		return
	}
	entries, err := f.ReadDir(-1)
	if err != nil {
		w.pathError(rel, err)
		return
	}
	for _, e := range entries {
		// The type comes from the listing (or an lstat relative to the
		// directory): a symbolic link is not a directory.
		if !e.IsDir() {
			continue
		}
		name := e.Name()
		switch level {
		case 0:
			if ws, ok := scanner.ParseWorkspace(name); !ok || !w.covers(ws) {
				continue
			}
		case 1:
			if _, ok := scanner.ParseSession(name); !ok {
				continue
			}
		}
		cfd, err := w.dirs.openChild(int(f.Fd()), name)
		crel := join(rel, name)
		if err != nil {
			w.pathError(crel, err)
			continue
		}
		w.walk(cfd, crel, min(level+1, 3), touch)
	}
}

// watch places a watch on rel unless it has one, within the budget, and
// reports whether rel is watched.
func (w *Watcher) watch(rel string) bool {
	if n := w.tree.find(rel); n != nil && n.watched {
		w.tree.mark(rel, w.gen)
		return true
	}
	if w.tree.count >= w.budget {
		w.exhausted()
		return false
	}
	if err := w.fsw.Add(filepath.Join(w.cfg.Root, rel)); err != nil {
		if isNoSpace(err) {
			// The kernel's limit for this user, shared with every other
			// program of the user, is reached before ours.
			w.exhausted()
			return false
		}
		w.pathError(rel, err)
		return false
	}
	w.tree.mark(rel, w.gen)
	return true
}

func (w *Watcher) exhausted() {
	w.unwatched.Add(1)
	w.refused = true
	if w.told {
		return
	}
	w.told = true
	if w.cfg.Exhausted != nil {
		w.cfg.Exhausted(w.budget)
	}
}

// unwatch drops the watch of rel. The kernel drops the watch of a deleted
// directory by itself; fsnotify then no longer knows the path, which is fine.
func (w *Watcher) unwatch(rel string) {
	_ = w.fsw.Remove(filepath.Join(w.cfg.Root, rel))
}

// pathError reports err for rel unless it is a normal part of a live tree:
// gone already, or not a directory to watch.
func (w *Watcher) pathError(rel string, err error) {
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, errSkip) {
		return
	}
	w.report(rel, err)
}
