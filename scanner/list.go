package scanner

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"sync"

	"github.com/spf13/afero"
)

// List finds every session directory under root as Walk does, without
// measuring any: it lists the workspaces and lstats each session directory,
// one call per session where Walk makes one per entry of the session. It
// calls fn for every session, with ListedOnly set, Usage zero, Newest the
// directory's own latest change (of its modification and change times) and
// Identity its lstat's; and, as Walk, for every unrecognized entry and every
// workspace that could not be listed.
// A session whose lstat fails is reported with Err. Walk's contract holds:
// fn must be safe for concurrent use, order is undefined, and List returns
// only after every call to fn has returned.
//
// List and MeasureEach together do what Walk does in one pass, in two: the
// audit under a time budget lists the whole scope, then measures what it has
// time for, stalest first. With one Config.Progress they count as Walk
// would: List adds the sessions found to Sessions, MeasureEach those it
// measures to SessionsDone.
func List(ctx context.Context, fsys afero.Fs, root string, cfg Config, fn func(Entry) error) error {
	return walkFrom(ctx, fsys, root, cfg, fn, func(w walkerStarter) error { return w.listRoot(cfg.Scope) })
}

// MeasureEach measures the session directories rels ("workspace_<id>/
// session_<id>") under root, each as Walk would, in the order given with up
// to Config.Workers filesystem operations in flight, and calls fn once for
// every one of them that is there (a KindSession entry, or a
// KindUnrecognized one for something that is not a real directory). A
// session that is not there is skipped. fn must be safe for concurrent use.
// A session is begun only when fewer than Config.Workers begun before it
// have not been reported yet: with one worker fn is called in the order
// given, with W the order of the calls is the order given but for
// sessions less than W apart. MeasureEach returns only after every call to
// fn has returned.
//
// When ctx is done, MeasureEach stops at once and returns ctx's error: the
// sessions fn was called for are measured whole, the others not at all (the
// fewer than Config.Workers being measured then are dropped, never
// reported in part). A time
// budget is a ctx with a deadline. Config.Scope is ignored: rels say what
// to measure. Config.Progress counts the sessions measured (SessionsDone),
// not those to measure: they were counted (Sessions) by the List that found
// them.
func MeasureEach(ctx context.Context, fsys afero.Fs, root string, rels []string, cfg Config, fn func(Entry) error) error {
	refs := make([]sessionRef, len(rels))
	for i, rel := range rels {
		ws, id, ok := ParseSessionPath(rel)
		if !ok {
			return fmt.Errorf("measure %q: not a session path", rel)
		}
		refs[i] = sessionRef{ws, id}
	}
	return walkFrom(ctx, fsys, root, cfg, fn, func(w walkerStarter) error { return w.measureEach(refs) })
}

// walkFrom checks ctx and the root, and runs a walk started with start,
// natively where it can.
func walkFrom(ctx context.Context, fsys afero.Fs, root string, cfg Config, fn func(Entry) error, start func(walkerStarter) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := CheckRoot(ctx, fsys, root, cfg); err != nil {
		return err
	}
	if ok, err := walkNative(ctx, fsys, root, cfg, fn, start); ok {
		return err
	}
	return run(ctx, newAferoFS(fsys, root), root, cfg.workers(false), cfg, fn, start)
}

// sessionRef names one session directory to measure.
type sessionRef struct {
	ws uint64
	id string
}

// listRoot lists the workspaces of scope and looks at their sessions.
func (w *walker[D]) listRoot(scope Scope) error {
	w.listOnly = true
	return w.walkRoot(scope)
}

// look lstats session s, the entry name of workspace ws, on the slot sl it
// holds and releases, and reports it unmeasured. It consumes a reference to
// ws.
func (w *walker[D]) look(sl *slot, s *session, ws D, name string) error {
	sl.where = s.entry.Path
	st, err := w.b.look(sl, ws, name)
	w.b.release(ws)
	var emitErr error
	switch {
	case errors.Is(err, errDetached):
		return err
	case errors.Is(err, fs.ErrNotExist):
		s.vanish() // removed since the workspace was listed
	case err != nil:
		s.fail(fmt.Errorf("look at %s: %w", s.entry.Path, err))
	case notDir(st.mode) != "":
		s.vanish()
		e := s.entry
		emitErr = w.emit(Entry{Kind: KindUnrecognized, Path: e.Path, WorkspaceID: e.WorkspaceID, SessionID: e.SessionID, Reason: notDir(st.mode)})
	default:
		s.entry.Identity = identityOf(&st)
		s.entry.ListedOnly = true
		t := newTally()
		t.newest = newestOf(&st)
		s.merge(&t)
	}
	w.release(sl)
	if err := w.done(s); err != nil {
		return err
	}
	return emitErr
}

// measureEach measures the sessions refs, starting them in order.
func (w *walker[D]) measureEach(refs []sessionRef) error {
	sl, err := w.acquire()
	if err != nil {
		return err
	}
	sl.abandon = func(where string, err error) { w.grp.finish(fmt.Errorf("open root %s: %w", w.root, err)) }
	sl.where = "."
	root, err := w.b.openRoot(sl)
	if errors.Is(err, errDetached) {
		return err
	}
	w.release(sl)
	if err != nil {
		return fmt.Errorf("open root %s: %w", w.root, err)
	}
	defer w.b.release(root)
	// Sessions of one workspace tend to come together (the stalest rows
	// were written by one run, and ties go by path): the last workspace
	// opened is kept open for the next session in it.
	last := &lastWorkspace[D]{}
	defer last.drop(w.b)
	// A session takes a turn until it is reported, not only while it holds
	// a slot: no more than Workers sessions are begun and not reported, so
	// that the order given is the order of the reports but for those, and
	// a stop drops no more than those.
	turns := make(chan struct{}, cap(w.pool))
	for _, ref := range refs {
		select {
		case turns <- struct{}{}:
		case <-w.ctx.Done():
			return w.ctx.Err()
		}
		sl, err := w.acquire()
		if err != nil {
			return err
		}
		s := newSession(Entry{Kind: KindSession, Path: SessionPath(ref.ws, ref.id), WorkspaceID: ref.ws, SessionID: ref.id})
		s.pending.Store(1)
		s.reported = func() { <-turns }
		sl.abandon = w.abandonSession(s)
		w.b.retain(root)
		w.grp.start(func() error {
			defer w.b.release(root)
			return w.measureIn(sl, s, root, last)
		})
	}
	return nil
}

// measureIn opens the workspace of session s and measures s, on the slot
// sl it holds and releases.
func (w *walker[D]) measureIn(sl *slot, s *session, root D, last *lastWorkspace[D]) error {
	wsName := WorkspaceName(s.entry.WorkspaceID)
	sl.where = wsName
	ws, err := last.get(w, sl, root, s.entry.WorkspaceID)
	switch {
	case errors.Is(err, errDetached):
		return err
	case errors.Is(err, fs.ErrNotExist):
		s.vanish() // its workspace is gone: nothing is there now
	case err != nil:
		s.fail(fmt.Errorf("read dir %s: %w", wsName, err))
	}
	if err != nil {
		w.release(sl)
		return w.done(s)
	}
	return w.session(sl, s, ws, SessionName(s.entry.SessionID), listed{})
}

// lastWorkspace keeps the workspace directory opened last by measureEach
// open, for the sessions after it in the same workspace.
type lastWorkspace[D any] struct {
	mu      sync.Mutex
	id      uint64
	d       D
	held    bool
	dropped bool
}

// get returns workspace id opened under root, with a reference the caller
// releases.
func (l *lastWorkspace[D]) get(w *walker[D], sl *slot, root D, id uint64) (D, error) {
	l.mu.Lock()
	if l.held && l.id == id {
		w.b.retain(l.d)
		d := l.d
		l.mu.Unlock()
		return d, nil
	}
	l.mu.Unlock()
	d, _, err := w.b.open(sl, root, WorkspaceName(id), listed{})
	if err != nil {
		return d, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.dropped {
		if l.held {
			w.b.release(l.d)
		}
		w.b.retain(d)
		l.id, l.d, l.held = id, d, true
	}
	return d, nil
}

// drop releases the directory kept, and keeps none from now on.
func (l *lastWorkspace[D]) drop(b backend[D]) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.held {
		b.release(l.d)
	}
	l.held, l.dropped = false, true
}
