package scanner

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"sync"
)

// A backend is how a walk reads directories: through afero (aferoFS) or
// natively through directory file descriptors (nativeFS). The walker knows
// the layout and the sessions; a backend knows how to open, list and size.
// D is an open directory.
type backend[D any] interface {
	// openRoot opens the root directory, following a symbolic link there.
	openRoot(sl *slot) (D, error)
	// list calls fn with the name of every entry of d (but . and ..) and
	// what the listing tells of it.
	list(sl *slot, d D, fn func(name string, e listed)) error
	// open opens the directory name in parent, listed as e, and returns it
	// with its own stat. It never follows a symbolic link, and refuses
	// (errChanged) a directory that is not the one that was listed. When
	// the entry is not a directory at all the error is a *notDirError.
	open(sl *slot, parent D, name string, e listed) (D, stat, error)
	// size sizes what directory d of session s holds, and everything under
	// it. It consumes one reference to d and reports failures on s; its
	// only error is errDetached.
	size(w *walker[D], sl *slot, s *session, d D) error
	// retain takes another reference to d; release drops one, and the last
	// closes d.
	retain(d D)
	release(d D)
	// restat returns how to look at session directory d again once it is
	// measured; it holds what it needs of d until then.
	restat(d D) *restat
	// listings is how many workspaces a walk with workers slots may list
	// at once, each holding its directory open until its sessions are.
	listings(workers int) int
	// look lstats the entry name of d, with the times an Identity needs,
	// without following a symbolic link.
	look(sl *slot, d D, name string) (stat, error)
}

// listed is what a directory listing tells of an entry.
type listed struct {
	st   stat
	know knowledge
}

type knowledge uint8

const (
	knowNothing knowledge = iota // open looks for itself
	knowType                     // st.mode has the entry's type
	knowIno                      // st.mode and st.ino, the directory open must find on the parent's device
	knowAll                      // st is a full lstat
)

// notDir says why the listed entry is not a directory to enter, or "" when
// it is one or the listing does not tell.
func (e listed) notDir() string {
	if e.know == knowNothing {
		return ""
	}
	return notDir(e.st.mode)
}

// notDirError is what open returns for something that is not a real
// directory.
type notDirError struct{ reason string }

func (e *notDirError) Error() string { return e.reason }

// walker is one walk: the layout of the share, the sessions being measured,
// the slots, and the goroutines.
type walker[D any] struct {
	ctx  context.Context
	b    backend[D]
	root string
	fn   func(Entry) error
	pool chan *slot
	grp  *group
	prog *Progress // never nil
	// bounds bounds the one call made outside a slot, a session's restat.
	bounds bounds
	// listOnly: the sessions of the workspaces are looked at, not
	// measured (List). Set before the walk starts.
	listOnly bool
	// ignore is Config.Ignore: entries of the root passed over.
	ignore []string
}

// run walks with b, starting with start.
func run[D any](ctx context.Context, b backend[D], root string, workers int, cfg Config, fn func(Entry) error, start func(walkerStarter) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	dog := newWatchdog(ctx, workers, cfg.ioTimeout(), cfg.Limiter)
	if cfg.Progress == nil {
		cfg.Progress = &Progress{}
	}
	w := &walker[D]{ctx: ctx, b: b, root: root, fn: fn, pool: dog.pool, grp: &group{cancel: cancel}, prog: cfg.Progress, bounds: cfg.bounds(), ignore: cfg.Ignore}
	go dog.run()
	w.grp.start(func() error { return start(w) })
	err := w.grp.wait()
	dog.close()
	w.prog.Calls.Add(dog.calls())
	if err == nil {
		err = ctx.Err()
	}
	return err
}

func (w *walker[D]) emit(e Entry) error {
	if w.fn == nil {
		return nil
	}
	return w.fn(e)
}

// acquire waits for a slot; only goroutines holding none call it, so that
// the holders of slots never wait for one.
func (w *walker[D]) acquire() (*slot, error) {
	// select picks at random among ready cases: look at ctx first so that a
	// cancelled walk never starts more work.
	if err := w.ctx.Err(); err != nil {
		return nil, err
	}
	select {
	case sl := <-w.pool:
		return sl, nil
	case <-w.ctx.Done():
		return nil, w.ctx.Err()
	}
}

// release returns a slot; it never blocks.
func (w *walker[D]) release(sl *slot) { w.pool <- sl }

// idle reports whether a slot is free, so that a holder may hand over work.
func (w *walker[D]) idle() bool { return len(w.pool) > 0 }

func (w *walker[D]) stopping() bool { return w.ctx.Err() != nil }

// goSession runs f, more work for session s, on a new goroutine if a slot is
// free, and reports whether it did. The goroutine reports s if it is the
// last to finish with it.
func (w *walker[D]) goSession(s *session, f func(sl *slot) error) bool {
	var sl *slot
	select {
	case sl = <-w.pool:
	default:
		return false
	}
	s.pending.Add(1)
	sl.abandon = w.abandonSession(s)
	w.grp.start(func() error {
		if err := f(sl); errors.Is(err, errDetached) {
			return err
		}
		w.release(sl)
		return w.done(s)
	})
	return true
}

// abandonSession is how the watchdog finishes the work of a goroutine
// measuring s: the session fails.
func (w *walker[D]) abandonSession(s *session) func(string, error) {
	return func(where string, err error) {
		s.fail(fmt.Errorf("read dir %s: %w", where, err))
		w.grp.finish(w.done(s))
	}
}

// done marks one goroutine's work on s finished and reports s when it was
// the last.
func (w *walker[D]) done(s *session) error {
	if s.pending.Add(-1) != 0 {
		return nil
	}
	if s.reported != nil {
		defer s.reported()
	}
	s.settle(w.ctx, w.bounds)
	if err := w.ctx.Err(); err != nil {
		// The walk is being abandoned: what was measured is incomplete, and
		// it is not a failure of this session.
		return err
	}
	e, ok := s.result()
	if !w.listOnly {
		// List only finds sessions: they are done when MeasureEach
		// measures them.
		w.prog.sessionDone(e, ok)
	}
	if !ok {
		return nil
	}
	return w.emit(e)
}

type named struct {
	name string
	e    listed
}

func (w *walker[D]) walkRoot(scope Scope) error {
	sl, err := w.acquire()
	if err != nil {
		return err
	}
	sl.abandon = func(where string, err error) { w.grp.finish(fmt.Errorf("list root %s: %w", w.root, err)) }
	sl.where = "."
	root, err := w.b.openRoot(sl)
	if errors.Is(err, errDetached) {
		return err
	}
	if err != nil {
		w.release(sl)
		return fmt.Errorf("list root %s: %w", w.root, err)
	}
	defer w.b.release(root)
	var ents []named
	only, isList := scope.Listed()
	if !isList {
		err = w.b.list(sl, root, func(name string, e listed) { ents = append(ents, named{name, e}) })
		if errors.Is(err, errDetached) {
			return err
		}
		if err != nil {
			w.release(sl)
			return fmt.Errorf("list root %s: %w", w.root, err)
		}
	} else {
		for _, id := range only {
			ents = append(ents, named{WorkspaceName(id), listed{}})
		}
	}
	w.release(sl)
	turn := make(chan struct{}, w.b.listings(cap(w.pool)))
	for _, en := range ents {
		if id, ok := ParseWorkspace(en.name); ok && scope.Contains(id) && en.e.notDir() == "" {
			w.prog.Workspaces.Add(1)
		}
	}
	for _, en := range ents {
		id, ok := ParseWorkspace(en.name)
		if ignoredAtRoot(en.name, en.e.notDir() == "", w.ignore) {
			continue // reclaim's quarantine, lost+found...: not the share's layout, not strays
		}
		if ok && !scope.Contains(id) {
			continue
		}
		if !ok && !scope.ownsRootEntries() {
			continue
		}
		if !ok {
			if err := w.emit(Entry{Kind: KindUnrecognized, Path: en.name, Reason: "not a workspace_<id> name"}); err != nil {
				return err
			}
			continue
		}
		if reason := en.e.notDir(); reason != "" {
			if err := w.emit(Entry{Kind: KindUnrecognized, Path: en.name, WorkspaceID: id, Reason: reason}); err != nil {
				return err
			}
			continue
		}
		// A few workspaces at a time are listed and have their sessions
		// started: each holds its directory open until then, and a walk
		// of many workspaces must not hold them all. One at a time is not
		// enough where each listing waits for round trips: a share has
		// many workspaces of a few sessions each.
		select {
		case turn <- struct{}{}:
		case <-w.ctx.Done():
			return w.ctx.Err()
		}
		sl, err := w.acquire()
		if err != nil {
			return err
		}
		// The goroutine gives the turn back, or the watchdog when it
		// leaves the goroutine behind, whichever comes first.
		next := sync.OnceFunc(func() { <-turn })
		sl.abandon = w.abandonWorkspace(en.name, id, next)
		w.b.retain(root)
		w.grp.start(func() error {
			defer next()
			defer w.b.release(root)
			return w.workspace(sl, root, en.name, id, en.e)
		})
	}
	return nil
}

func (w *walker[D]) abandonWorkspace(rel string, id uint64, next func()) func(string, error) {
	return func(_ string, err error) {
		next()
		w.prog.WorkspacesListed.Add(1)
		if cerr := w.ctx.Err(); cerr != nil {
			w.grp.finish(cerr)
			return
		}
		w.grp.finish(w.emit(Entry{Kind: KindWorkspaceError, Path: rel, WorkspaceID: id, Err: fmt.Errorf("list %s: %w", rel, err)}))
	}
}

// workspace lists one workspace directory, holding sl only while it reads,
// then starts its sessions.
func (w *walker[D]) workspace(sl *slot, root D, rel string, id uint64, e listed) error {
	sl.where = rel
	ws, _, err := w.b.open(sl, root, rel, e)
	if errors.Is(err, errDetached) {
		return err
	}
	var ents []named
	if err == nil {
		err = w.b.list(sl, ws, func(name string, e listed) { ents = append(ents, named{name, e}) })
		if errors.Is(err, errDetached) {
			w.b.release(ws)
			return err
		}
		if err != nil {
			w.b.release(ws)
		}
	}
	w.release(sl)
	w.prog.WorkspacesListed.Add(1)
	if err != nil {
		var nd *notDirError
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return nil // removed while the walk ran, or not there: nothing is there now
		case w.ctx.Err() != nil:
			return w.ctx.Err() // stopped, not failed
		case errors.As(err, &nd):
			return w.emit(Entry{Kind: KindUnrecognized, Path: rel, WorkspaceID: id, Reason: nd.reason})
		}
		return w.emit(Entry{Kind: KindWorkspaceError, Path: rel, WorkspaceID: id, Err: fmt.Errorf("list %s: %w", rel, err)})
	}
	defer w.b.release(ws)
	for _, en := range ents {
		if _, ok := ParseSession(en.name); ok && en.e.notDir() == "" {
			w.prog.Sessions.Add(1)
		}
	}
	for _, en := range ents {
		srel := rel + "/" + en.name
		sid, ok := ParseSession(en.name)
		// The id is the end of the path: an audit holds a million
		// entries, and a string of its own cost 16 bytes each.
		sid = srel[len(srel)-len(sid):]
		if !ok {
			if err := w.emit(Entry{Kind: KindUnrecognized, Path: srel, WorkspaceID: id, Reason: "not a session_<id> name"}); err != nil {
				return err
			}
			continue
		}
		if reason := en.e.notDir(); reason != "" {
			if err := w.emit(Entry{Kind: KindUnrecognized, Path: srel, WorkspaceID: id, SessionID: sid, Reason: reason}); err != nil {
				return err
			}
			continue
		}
		sl, err := w.acquire()
		if err != nil {
			return err
		}
		s := newSession(Entry{Kind: KindSession, Path: srel, WorkspaceID: id, SessionID: sid})
		s.pending.Store(1)
		sl.abandon = w.abandonSession(s)
		w.b.retain(ws)
		w.grp.start(func() error {
			if w.listOnly {
				return w.look(sl, s, ws, en.name)
			}
			return w.session(sl, s, ws, en.name, en.e)
		})
	}
	return nil
}

// session measures session s, the directory name in ws, on the slot sl it
// holds and releases, and reports it. It consumes a reference to ws, which
// it drops as soon as the session directory is open.
func (w *walker[D]) session(sl *slot, s *session, ws D, name string, e listed) error {
	sl.where = s.entry.Path
	d, st, err := w.b.open(sl, ws, name, e)
	w.b.release(ws)
	var nd *notDirError
	var emitErr error
	switch {
	case errors.Is(err, errDetached):
		return err
	case err == nil:
		t := newTally()
		s.addSelf(&t, &st)
		s.merge(&t)
		s.restat = w.b.restat(d)
		if err := w.b.size(w, sl, s, d); err != nil {
			return err
		}
	case errors.Is(err, fs.ErrNotExist):
		s.vanish() // removed while the walk ran: nothing is there now
	case errors.As(err, &nd):
		// It was a directory when it was listed.
		s.vanish()
		e := s.entry
		emitErr = w.emit(Entry{Kind: KindUnrecognized, Path: e.Path, WorkspaceID: e.WorkspaceID, SessionID: e.SessionID, Reason: nd.reason})
	default:
		s.fail(fmt.Errorf("read dir %s: %w", s.entry.Path, err))
	}
	w.release(sl)
	if err := w.done(s); err != nil {
		return err
	}
	return emitErr
}

// measureOne measures the single session workspace_<ws>/session_<id>.
func (w *walker[D]) measureOne(ws uint64, id string) error {
	sl, err := w.acquire()
	if err != nil {
		return err
	}
	wsName, sessName := WorkspaceName(ws), SessionName(id)
	s := newSession(Entry{Kind: KindSession, Path: wsName + "/" + sessName, WorkspaceID: ws, SessionID: id})
	s.pending.Store(1)
	w.prog.Sessions.Add(1)
	sl.abandon = w.abandonSession(s)
	sl.where = "."
	root, err := w.b.openRoot(sl)
	if errors.Is(err, errDetached) {
		return err
	}
	if err != nil {
		w.release(sl)
		return fmt.Errorf("measure: %w", err)
	}
	sl.where = wsName
	wsd, _, err := w.b.open(sl, root, wsName, listed{})
	w.b.release(root)
	if errors.Is(err, errDetached) {
		return err
	}
	if err != nil {
		w.release(sl)
		return fmt.Errorf("measure %s: %w", s.entry.Path, err)
	}
	return w.session(sl, s, wsd, sessName, listed{})
}
