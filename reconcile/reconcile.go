package reconcile

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"time"

	"github.com/spf13/afero"
	"golang.org/x/sync/errgroup"

	"sessaudit/db"
	"sessaudit/scanner"
)

// ErrOutOfScope is returned by Reconcile for a session whose workspace is
// not in the scope: nothing of it is read or written.
var ErrOutOfScope = errors.New("reconcile: session is outside the scope")

// Reconciler audits the share against the rows, either whole (Audit) or one
// session at a time (Reconcile). Both give a session the same outcome and
// write it the same way. It is safe for concurrent use.
type Reconciler struct {
	fsys  afero.Fs
	store RowStore
	cfg   Config
	now   func() time.Time
}

// NewReconciler returns a Reconciler of the share under cfg.Root in fsys
// with the rows of store.
func NewReconciler(fsys afero.Fs, store RowStore, cfg Config) *Reconciler {
	r := &Reconciler{fsys: fsys, store: store, cfg: cfg, now: cfg.Now}
	if r.now == nil {
		r.now = time.Now
	}
	if r.cfg.Walk.Progress == nil {
		r.cfg.Walk.Progress = &scanner.Progress{}
	}
	return r
}

// Result is what Reconcile found and did about one session.
type Result struct {
	// Verdicts give the directory and every row that refers to it one
	// outcome each.
	Verdicts []Verdict
	// RowsWritten were written; RowsChanged were verified but changed by
	// the application before the write, and left alone.
	RowsWritten, RowsChanged int
}

// Reconcile compares the session directory key ("workspace_<id>/
// session_<id>") and the rows that refer to it as they are now, writes a
// verified size (unless DryRun) and returns what it found. It reads both
// sides itself, so calling it again, or for a key nothing happened to,
// costs a look and changes nothing: it is idempotent. A key outside the
// scope is refused with ErrOutOfScope before anything is read.
func (r *Reconciler) Reconcile(ctx context.Context, key string) (Result, error) {
	ws, _, ok := scanner.ParseSessionPath(key)
	if !ok {
		return Result{}, fmt.Errorf("reconcile %q: not a session path %s", key, scanner.SessionPathPattern)
	}
	if !r.cfg.Scope.Contains(ws) {
		return Result{}, fmt.Errorf("reconcile %s: %w (%s)", key, ErrOutOfScope, r.cfg.Scope)
	}
	rows, err := r.store.Rows(ctx, Selection(scanner.OnlyWorkspaces(ws), r.cfg.PathPrefix))
	if err != nil {
		return Result{}, fmt.Errorf("reconcile %s: read rows: %w", key, err)
	}
	o := &Observation{Path: key, Workspace: ws}
	for _, row := range rows {
		if p, v := refOf(r.cfg.PathPrefix, row); v == nil && p == key {
			o.Rows = append(o.Rows, row)
		}
	}
	if err := r.observe(ctx, o, r.cfg.Walk); err != nil {
		return Result{}, fmt.Errorf("reconcile %s: %w", key, err)
	}
	now := r.now()
	vs, err := r.settle(ctx, []*Observation{o}, now.Add(-r.cfg.MinAge), 0)
	if err != nil {
		return Result{}, fmt.Errorf("reconcile %s: %w", key, err)
	}
	r.appendUnverified(vs, now)
	// A provider_type that disagrees with the directory is a warning of
	// the batch audit's report; watch has no report to put it in.
	if _, err := r.appendAnatomy(ctx, vs, now.Add(-r.cfg.MinAge)); err != nil {
		return Result{}, fmt.Errorf("reconcile %s: %w", key, err)
	}
	res := Result{Verdicts: make([]Verdict, 0, vs.len())}
	for v := range vs.all() {
		v.complete()
		res.Verdicts = append(res.Verdicts, *v)
	}
	res.RowsWritten, res.RowsChanged, err = r.write(ctx, &verdictSet{listed: res.Verdicts})
	return res, err
}

// observe measures o's directory as it is now, under cfg.
func (r *Reconciler) observe(ctx context.Context, o *Observation, cfg scanner.Config) error {
	e, err := scanner.Measure(ctx, r.fsys, r.cfg.Root, o.Path, cfg)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		o.Entry = nil
	case ctx.Err() != nil:
		return ctx.Err()
	case err != nil:
		ws, id, _ := scanner.ParseSessionPath(o.Path)
		o.Entry = &scanner.Entry{Kind: scanner.KindSession, Path: o.Path, WorkspaceID: ws, SessionID: id, Err: err}
	default:
		o.Entry = &e
	}
	o.at = seenOf(o.Entry)
	o.WorkspaceErr = nil
	return nil
}

// settle judges the observations and makes sure that what a verdict rests
// on still holds when it is final: a missing directory is still absent, a
// verified one is still the very directory that was measured (the same
// device and inode, not changed while it was measured). An observation that
// does not hold is measured once more and judged again; if it still does
// not hold, its directory is changing under the audit, and its verdicts
// become recent: judged on a later run, never written with a partial size.
//
// When withPath > 0, the first judgement is refused by checkMissingRatio
// before anything is looked at again: an unmounted root would make every
// row missing.
//
// The verdicts of all observations are judged into one slice, which is
// filtered in place, but for the verified ones, which stay in their
// observations (see verdictSet): the batch audit settles a million
// observations, and a slice per observation, or a second copy of all
// verdicts, cost 300 bytes each.
func (r *Reconciler) settle(ctx context.Context, obs []*Observation, cutoff time.Time, withPath int) (*verdictSet, error) {
	out := &verdictSet{}
	// first holds what a directory measured again because it was changing
	// measured the first time.
	first := map[*Observation]sample{}
	var one [1]Verdict // a verified or counted observation's verdict, made for recheck
	for round := 1; ; round++ {
		var all []Verdict
		start := make([]int32, len(obs)+1) // obs[i]'s verdicts are all[start[i]:start[i+1]]
		// Or obs[i] is verified or counted (countedOutcome), and has no
		// verdict in all.
		verified, counted := make([]bool, len(obs)), make([]bool, len(obs))
		for i, o := range obs {
			start[i] = int32(len(all))
			if countedOutcome(o) != "" {
				counted[i] = true
				continue
			}
			all = appendJudged(all, o, cutoff)
			if n := len(all); n == int(start[i])+1 && all[n-1].Kind == Verified {
				all, verified[i] = all[:n-1], true
			}
		}
		start[len(obs)] = int32(len(all))
		verdicts := func(i int) []Verdict {
			switch {
			case verified[i]:
				one[0] = verifiedVerdict(obs[i])
				return one[:]
			case counted[i]:
				one[0] = countedVerdict(obs[i])
				return one[:]
			}
			return all[start[i]:start[i+1]]
		}
		if round == 1 {
			if err := r.checkMissingRatio(withPath, all); err != nil {
				return nil, err
			}
		}
		held, err := r.recheck(ctx, obs, verdicts)
		if err != nil {
			return nil, err
		}
		// A directory that was changing, measured again after the quiet
		// wait, must measure the same both times (a deletion that paused
		// for longer than the wait looks settled, but not the same), or
		// be a session being written that stood (the live rule).
		for i, o := range obs {
			f, ok := first[o]
			if !ok || !o.at.measured() || held[i].why != "" && !held[i].changing {
				continue
			}
			if held[i].why == "" && (!o.at.m.id.Same(f.id) || o.at.m.usage == f.usage) {
				continue // settled, and the same both times or another directory measured quietly
			}
			if why := beingWritten(f, sampleOf(o)); why != "" {
				if held[i].why == "" {
					held[i].why = "measured differently 2 s apart"
				}
				held[i].why += "; not a session being written that stood: " + why
				continue
			}
			held[i].why = ""
		}
		kept := all[:0] // each observation's verdicts are read before their slots are written
		var again []*Observation
		var late []Verdict // unsettled verdicts: more than their slots
		quiet := false
		for i, o := range obs {
			switch {
			case held[i].why == "" && verified[i]:
				out.verified = append(out.verified, o)
			case held[i].why == "" && counted[i]:
				out.counted = append(out.counted, o)
			case held[i].why == "":
				kept = append(kept, all[start[i]:start[i+1]]...)
			case round == 1:
				again = append(again, o)
				if o.at.measured() && o.at.changed() != "" {
					quiet = true
					first[o] = sampleOf(o)
				}
			default:
				late = append(late, unsettled(verdicts(i), held[i].why)...)
			}
		}
		out.listed = append(out.listed, kept...)
		out.listed = append(out.listed, late...)
		if len(again) == 0 {
			onePathEach(out)
			return out, nil
		}
		if quiet {
			// Something was changing: measure again once it had time
			// to settle, so that a tree copied in or deleted just now is
			// measured whole, or seen gone.
			t := time.NewTimer(scanner.Quiet)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return nil, ctx.Err()
			}
		}
		if err := r.observeAll(ctx, again); err != nil {
			return nil, err
		}
		obs = again
	}
}

// onePathEach makes sure a directory is verified for one path at most: a
// directory renamed while the walk ran can be measured under its old name
// and its new one, and would then count for the rows of both. Neither is
// written; both are judged on a later run.
func onePathEach(vs *verdictSet) {
	// The verified verdicts by device and inode, sorted: a map of a
	// million identities cost 70 MB. Those with the same device and inode
	// are then compared whole (on afero's MemMapFs all have none).
	type ref struct {
		dev, ino uint64
		i        int // in vs.listed, or len(vs.listed) + its index in vs.verified
	}
	refs := make([]ref, 0, len(vs.verified))
	i := 0
	for v := range vs.all() {
		if i == len(vs.listed)+len(vs.verified) {
			break // the counted ones come last, and none is verified
		}
		if id := v.identity(); v.Kind == Verified && id != (scanner.Identity{}) {
			refs = append(refs, ref{id.Dev, id.Ino, i})
		}
		i++
	}
	slices.SortFunc(refs, func(a, b ref) int { return cmp.Or(cmp.Compare(a.dev, b.dev), cmp.Compare(a.ino, b.ino)) })
	at := func(i int) Verdict {
		if i < len(vs.listed) {
			return vs.listed[i]
		}
		return verifiedVerdict(vs.verified[i-len(vs.listed)])
	}
	paths := map[scanner.Identity][]string{}
	twice := map[int]scanner.Identity{} // the verdicts of directories seen twice
	for lo := 0; lo < len(refs); {
		hi := lo + 1
		for hi < len(refs) && refs[hi].dev == refs[lo].dev && refs[hi].ino == refs[lo].ino {
			hi++
		}
		if hi-lo > 1 {
			byID := map[scanner.Identity][]int{}
			for _, rf := range refs[lo:hi] {
				v := at(rf.i)
				id := v.identity()
				byID[id] = append(byID[id], rf.i)
			}
			for id, is := range byID {
				if len(is) < 2 {
					continue
				}
				for _, i := range is {
					paths[id] = append(paths[id], at(i).Path)
					twice[i] = id
				}
			}
		}
		lo = hi
	}
	if len(twice) == 0 {
		return
	}
	recent := func(v Verdict) Verdict {
		ps := paths[v.identity()]
		slices.Sort(ps)
		v.Kind = Recent
		v.Detail = fmt.Sprintf("the same directory was measured at %s; judged on a later run", strings.Join(ps, " and "))
		v.complete()
		return v
	}
	for i := range vs.listed {
		if _, ok := twice[i]; ok {
			vs.listed[i] = recent(vs.listed[i])
		}
	}
	n, kept := len(vs.listed), vs.verified[:0]
	for j, o := range vs.verified {
		if _, ok := twice[n+j]; ok {
			vs.listed = append(vs.listed, recent(verifiedVerdict(o)))
			continue
		}
		kept = append(kept, o)
	}
	vs.verified = kept
}

// unsettled turns the verdicts of an observation whose directory kept
// changing into recent ones: nothing about it is final yet.
func unsettled(verdicts []Verdict, why string) []Verdict {
	out := make([]Verdict, 0, len(verdicts))
	for _, v := range verdicts {
		if v.Kind == Verified || v.Kind == Missing {
			v.Kind = Recent
			v.Detail = why + "; judged on a later run"
			v.complete()
		}
		if v.Kind == Unlinked { // its size is not one to write
			v.measured = nil
			v.Detail += "; " + why
		}
		out = append(out, v)
	}
	return out
}

// observeAll measures the observations again, concurrently. Their sessions
// were counted in the walk's Progress when they were first measured (or
// listed): measured again, they add only their calls to it (fs_ops, what
// EFS bills), not a session, its entries and bytes once more, so that the
// progress line counts each session of the share once.
func (r *Reconciler) observeAll(ctx context.Context, obs []*Observation) error {
	cfg := r.cfg.Walk
	cfg.Progress = &scanner.Progress{}
	defer func() { r.cfg.Walk.Progress.Calls.Add(cfg.Progress.Calls.Load()) }()
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(recheckWorkers(r.cfg.Walk))
	for _, o := range obs {
		g.Go(func() error { return r.observe(gctx, o, cfg) })
	}
	return g.Wait()
}

// hold says why the verdicts of an observation no longer hold, "" when
// they do; changing when the only reason is that its measurement saw the
// directory change (which the live rule may accept).
type hold struct {
	why      string
	changing bool
}

// recheck looks again at the directory of every observation judged
// missing or verified, all at once (scanner.LookupMany opens each workspace
// once for its sessions), and says for each observation why its verdicts
// no longer hold.
func (r *Reconciler) recheck(ctx context.Context, obs []*Observation, verdicts func(int) []Verdict) ([]hold, error) {
	held := make([]hold, len(obs))
	// Nearly every observation is looked at again: room for all of them
	// at once, rather than copies as the slices grow.
	rels := make([]string, 0, len(obs))
	looked := make([]int32, 0, len(obs)) // looked[k] is the observation rels[k] is the path of
	missing, verified := make([]bool, 0, len(obs)), make([]bool, 0, len(obs))
	for i, o := range obs {
		var m, v bool
		for _, vd := range verdicts(i) {
			m = m || vd.Kind == Missing
			v = v || vd.Kind == Verified || r.backfilled(vd)
		}
		if !m && !v {
			continue
		}
		rels = append(rels, o.Path)
		looked = append(looked, int32(i))
		missing, verified = append(missing, m), append(verified, v)
	}
	// The second look is not part of the walk's progress, but its calls
	// are part of the audit's fs_ops.
	cfg := r.cfg.Walk
	cfg.Progress = &scanner.Progress{}
	defer func() { r.cfg.Walk.Progress.Calls.Add(cfg.Progress.Calls.Load()) }()
	err := scanner.LookupMany(ctx, r.fsys, r.cfg.Root, rels, cfg, func(k int, id scanner.Identity, err error) {
		o := obs[looked[k]]
		h := hold{}
		switch {
		case missing[k] && !errors.Is(err, fs.ErrNotExist):
			h.why = "appeared while it was audited"
		case !verified[k]:
		case err != nil:
			h.why = "removed or replaced after it was measured"
		case !id.Same(o.at.m.id):
			h.why = fmt.Sprintf("replaced while it was measured (measured %s, now %s)", o.at.m.id, id)
		case o.at.changed() != "":
			h = hold{why: "changed while it was measured: " + o.at.changed(), changing: true}
		}
		held[looked[k]] = h
	})
	if err != nil {
		return nil, err
	}
	return held, nil
}

// recheckWorkers is how many directories are looked at again at once: the
// walk's setting, or enough to hide a network filesystem's round trip.
func recheckWorkers(c scanner.Config) int {
	if c.Workers > 0 {
		return c.Workers
	}
	return 64
}

// write writes the sizes of the verified verdicts, unless DryRun, and
// returns how many rows were written and how many the application changed
// meanwhile.
func (r *Reconciler) write(ctx context.Context, verdicts *verdictSet) (written, changed int, err error) {
	if r.cfg.DryRun {
		return 0, 0, nil
	}
	batch := verifiedUpdates(verdicts)
	if len(batch) == 0 {
		return 0, 0, nil
	}
	written, err = r.store.WriteSizes(ctx, batch, r.now())
	if err != nil {
		return written, 0, fmt.Errorf("write sizes: %w", err)
	}
	return written, len(batch) - written, nil
}

func verifiedUpdates(verdicts *verdictSet) []db.SizeUpdate {
	batch := make([]db.SizeUpdate, 0, len(verdicts.verified))
	for v := range verdicts.all() {
		if v.Kind != Verified || v.measured == nil {
			continue
		}
		for _, row := range v.Rows {
			if row.Live() && row.StoragePath != nil {
				batch = append(batch, db.SizeUpdate{ID: row.ID, StoragePath: *row.StoragePath, SizeBytes: v.measured.usage.Size})
			}
		}
	}
	slices.SortFunc(batch, func(x, y db.SizeUpdate) int { return cmp.Compare(x.ID, y.ID) })
	return batch
}
