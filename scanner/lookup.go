package scanner

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"

	"github.com/spf13/afero"
)

// LookupMany looks at the session directories rels ("workspace_<id>/
// session_<id>") under root as they are right now, without following a
// symbolic link, for comparison with the Entry.Identity of a walk (a
// different one means the directory measured is not the one there now),
// and calls fn once for each rels[i] with i and what it found there: the
// Identity, or an error wrapping fs.ErrNotExist when nothing is
// there, ErrNotSessionDir when something other than a real directory is
// (or the workspace is not one), ErrIOTimeout when a call did not answer.
//
// It reads the share as a walk does, natively where Walk would: each
// workspace is opened once, without following a link, for all its sessions
// among rels, and each session is lstat-ed relative to it, with up to
// Config.Workers calls in flight, each bounded by Config.IOTimeout: a
// workspace of a hundred sessions costs about a hundred and three calls,
// not the five calls, a goroutine and a timer per session of looking at
// each on its own.
//
// fn must be safe for concurrent use; order is undefined. LookupMany returns
// only after every call to fn has returned. Its error is ctx's when ctx is
// done, and then the rels not reported yet are not reported; otherwise
// every rel is reported, a root that cannot be read included (as an error
// of each). Config.Scope is ignored: rels say what to look at.
func LookupMany(ctx context.Context, fsys afero.Fs, root string, rels []string, cfg Config, fn func(i int, id Identity, err error)) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	l := &lookup{rels: rels, fn: fn, refs: make([]lookRef, 0, len(rels))}
	for i, rel := range rels {
		ws, _, ok := ParseSessionPath(rel)
		if !ok {
			fn(i, Identity{}, fmt.Errorf("check %q: %w", rel, ErrNotSessionDir))
			continue
		}
		l.refs = append(l.refs, lookRef{ws: ws, i: i})
	}
	if len(l.refs) == 0 {
		return nil
	}
	// Sessions of one workspace together, so that it is opened once for
	// them.
	slices.SortFunc(l.refs, func(a, b lookRef) int { return cmp.Or(cmp.Compare(a.ws, b.ws), cmp.Compare(a.i, b.i)) })
	start := func(w walkerStarter) error { return w.lookEach(l) }
	ok, err := walkNative(ctx, fsys, root, cfg, nil, start)
	if !ok {
		err = run(ctx, newAferoFS(fsys, root), root, cfg.workers(false), cfg, nil, start)
	}
	if cerr := ctx.Err(); cerr != nil {
		return cerr
	}
	if err != nil {
		// lookEach reports every failure itself: this one came before it
		// started, from the root.
		l.reportAll(0, len(l.refs), func(rel string) error { return fmt.Errorf("check %s: %w", rel, err) })
	}
	return nil
}

// lookupChunk is the most sessions of one workspace one goroutine looks at:
// the sessions of a large workspace are looked at by several at once, each
// opening the workspace itself.
const lookupChunk = 128

// lookup is the work of one LookupMany.
type lookup struct {
	rels []string
	refs []lookRef // by workspace
	fn   func(i int, id Identity, err error)
}

// lookRef is rels[i], in workspace ws.
type lookRef struct {
	ws uint64
	i  int
}

// reportAll reports refs[from:to] with the error made by errOf for each.
func (l *lookup) reportAll(from, to int, errOf func(rel string) error) {
	for _, r := range l.refs[from:to] {
		l.fn(r.i, Identity{}, errOf(l.rels[r.i]))
	}
}

// report reports refs[k] with what look found.
func (l *lookup) report(k int, st stat, err error) {
	i := l.refs[k].i
	rel := l.rels[i]
	var reason string
	if err == nil {
		reason = notDir(st.mode)
	}
	switch {
	case err != nil:
		l.fn(i, Identity{}, fmt.Errorf("check %s: %w", rel, err))
	case reason != "":
		l.fn(i, Identity{}, fmt.Errorf("check %s: %w: %s", rel, ErrNotSessionDir, reason))
	default:
		l.fn(i, identityOf(&st), nil)
	}
}

// lookUnit is refs[from:to], sessions of one workspace looked at by one
// goroutine. next is the first of them not reported yet: what the watchdog
// reports if it gives up on the goroutine.
type lookUnit struct {
	from, to int
	next     atomic.Int64
}

// lookEach opens the root, then looks at the sessions of l a unit at a
// time, each on a goroutine of its own holding a slot.
func (w *walker[D]) lookEach(l *lookup) error {
	sl, err := w.acquire()
	if err != nil {
		return err
	}
	sl.abandon = func(_ string, err error) {
		if cerr := w.ctx.Err(); cerr != nil {
			w.grp.finish(cerr)
			return
		}
		l.reportAll(0, len(l.refs), func(rel string) error { return fmt.Errorf("check %s: open root %s: %w", rel, w.root, err) })
		w.grp.finish(nil)
	}
	sl.where = "."
	root, err := w.b.openRoot(sl)
	if errors.Is(err, errDetached) {
		return err
	}
	w.release(sl)
	if err != nil {
		l.reportAll(0, len(l.refs), func(rel string) error { return fmt.Errorf("check %s: open root %s: %w", rel, w.root, err) })
		return nil
	}
	defer w.b.release(root)
	for from := 0; from < len(l.refs); {
		to := from + 1
		for to < len(l.refs) && to-from < lookupChunk && l.refs[to].ws == l.refs[from].ws {
			to++
		}
		u := &lookUnit{from: from, to: to}
		u.next.Store(int64(from))
		from = to
		sl, err := w.acquire()
		if err != nil {
			return err
		}
		sl.abandon = func(_ string, err error) {
			if cerr := w.ctx.Err(); cerr != nil {
				w.grp.finish(cerr)
				return
			}
			// The holder is inside the call for refs[next] and will
			// report nothing more.
			l.reportAll(int(u.next.Load()), u.to, func(rel string) error { return fmt.Errorf("check %s: %w", rel, err) })
			w.grp.finish(nil)
		}
		w.b.retain(root)
		w.grp.start(func() error {
			defer w.b.release(root)
			return w.lookUnit(sl, root, l, u)
		})
	}
	return nil
}

// lookUnit opens the workspace of u and lstats its sessions in it, on the
// slot sl it holds and releases.
func (w *walker[D]) lookUnit(sl *slot, root D, l *lookup, u *lookUnit) error {
	wsName := WorkspaceName(l.refs[u.from].ws)
	sl.where = wsName
	ws, _, err := w.b.open(sl, root, wsName, listed{})
	if errors.Is(err, errDetached) {
		return err
	}
	if err != nil {
		var nd *notDirError
		if errors.As(err, &nd) {
			l.reportAll(u.from, u.to, func(rel string) error {
				return fmt.Errorf("check %s: %w: its workspace is %s", rel, ErrNotSessionDir, nd.reason)
			})
		} else {
			l.reportAll(u.from, u.to, func(rel string) error { return fmt.Errorf("check %s: %w", rel, err) })
		}
		w.release(sl)
		return nil
	}
	defer w.b.release(ws)
	for k := u.from; k < u.to; k++ {
		if w.stopping() {
			w.release(sl)
			return w.ctx.Err()
		}
		u.next.Store(int64(k))
		rel := l.rels[l.refs[k].i]
		_, id, _ := ParseSessionPath(rel)
		sl.where = rel
		st, err := w.b.look(sl, ws, SessionName(id))
		if errors.Is(err, errDetached) {
			return err
		}
		l.report(k, st, err)
	}
	w.release(sl)
	return nil
}
