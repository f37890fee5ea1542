package reconcile

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/spf13/afero"
	"golang.org/x/sync/errgroup"

	"sessaudit/db"
	"sessaudit/scanner"
)

// ErrTooManyMissing is returned when so many rows would be missing that the
// root is more likely unmounted or wrong than the sessions gone.
var ErrTooManyMissing = errors.New("reconcile: too many rows would be missing")

// RowStore is the accounts table as the audit needs it.
type RowStore interface {
	// Rows returns at least every row, live and soft-deleted, that sel
	// describes; the audit keeps those in its scope.
	Rows(ctx context.Context, sel db.Selection) ([]db.Row, error)
	// Sample returns up to n of the newest live rows that have a stored
	// path, from the whole table.
	Sample(ctx context.Context, n int) ([]db.Row, error)
	// WriteSizes writes verified sizes, each only while the row still holds
	// the path it was read with and is live, and returns how many it wrote.
	WriteSizes(ctx context.Context, batch []db.SizeUpdate, verifiedAt time.Time) (int, error)
	// WritePaths links unlinked rows to their directories (BackfillPaths),
	// each only while its path is still NULL and it is live, and returns
	// how many it wrote.
	WritePaths(ctx context.Context, batch []db.PathUpdate, verifiedAt time.Time) (int, error)
}

// Config controls Audit and Reconcile.
type Config struct {
	// Root is where the share is mounted on this host.
	Root string
	// PathPrefix is the share's path as the application stores it.
	PathPrefix string
	// Scope limits the audit to some workspaces; the zero Scope audits all.
	// A row is in the scope when the directory its stored path names is,
	// else when its own workspace is: the findings and writes of runs over
	// disjoint scopes add up to those of one run over their union.
	Scope scanner.Scope
	// MinAge is the grace period: directories changed more recently (by the
	// modification or change time of anything in them, scanner's
	// Entry.Newest) are never orphan or soft_deleted, and rows changed more
	// recently are never missing. Both are measured against Now.
	MinAge time.Duration
	// MaxMissingRatio is the largest share of live rows with a path that may
	// be missing before the audit refuses to trust the root.
	MaxMissingRatio float64
	// DryRun writes nothing.
	DryRun bool
	// BackfillPaths also writes, for each unlinked row, the path of its
	// conventional directory with the directory's size (see backfill.go).
	BackfillPaths bool
	// InstanceCount, when > 0, reports live rows whose
	// assigned_instance_index is not workspace_id % InstanceCount as
	// misrouted.
	InstanceCount int
	// PerInstance adds sessions, bytes and findings per assigned instance
	// to the summary (for tables with assigned_instance_index).
	PerInstance bool
	// MaxUnverified, when > 0, makes a live row with a stored path whose
	// directory is there, that the run does not verify (but for a
	// conflict, its own finding) and that was last
	// verified longer ago than this (never verified: created longer ago)
	// an Unverified finding besides its outcome. 0 reports none.
	MaxUnverified time.Duration
	// Bloat holds the thresholds of the Bloated finding; the zero Bloat
	// reports none.
	Bloat Bloat
	// MaxDuration, when > 0, is the time the audit may take. It still
	// lists every session directory of the scope and gives each directory
	// and row its outcome, but sizes directories stalest first (see
	// sizingOrder) only while there is time, keeping what it reckons the
	// second look and the writes take. A directory a full run would have
	// verified and that was not sized is Deferred and its row left alone;
	// any other keeps its outcome without a size. A budget spent is not an
	// error: the report is complete.
	MaxDuration time.Duration
	// BudgetFrom is when the time budget began, such as when the command
	// started, so that what came before Audit (connecting, taking the
	// lock) counts too; the zero time means when Audit begins.
	BudgetFrom time.Time
	// Walk is passed to the scanner. Its Progress counts the filesystem
	// calls for the report (Summary.FSOps); when nil the reconciler uses
	// one of its own.
	Walk scanner.Config
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

// Audit reads the rows, walks the share, gives every session directory and
// row one outcome, writes the verified sizes (unless cfg.DryRun) and returns
// the report. An error means the audit could not be done; when the error
// comes after the walk, nothing has been written.
func Audit(ctx context.Context, fsys afero.Fs, store RowStore, cfg Config) (*Report, error) {
	return NewReconciler(fsys, store, cfg).Audit(ctx)
}

// Audit audits the whole scope: see the function Audit.
func (r *Reconciler) Audit(ctx context.Context) (*Report, error) {
	started := r.now()
	cutoff := started.Add(-r.cfg.MinAge)
	var phases Phases
	lap := r.stopwatch(started)

	if err := r.checkShare(ctx, cutoff); err != nil {
		return nil, err
	}
	phases.Check = lap()
	var (
		rows   []db.Row
		d      *disk
		budget *Budget
		err    error
	)
	if r.cfg.MaxDuration > 0 {
		// The budget sizes the stalest rows' directories first: it needs
		// the rows before it walks.
		if rows, err = r.rows(ctx); err != nil {
			return nil, err
		}
		phases.Rows = lap()
		from := r.cfg.BudgetFrom
		if from.IsZero() {
			from = started
		}
		d, budget, err = r.walkBudgeted(ctx, rows, from)
	} else {
		rows, d, phases.Rows, err = r.rowsAndWalk(ctx)
	}
	phases.Walk = lap()
	if err != nil {
		if ctx.Err() != nil {
			// Interrupted: what was measured is reported, nothing is judged.
			return r.incomplete(newReport(r.cfg, started, rows, d, nil), err), err
		}
		return nil, err
	}

	verdicts, err := r.judge(ctx, rows, d, cutoff)
	if err != nil {
		if ctx.Err() != nil {
			return r.incomplete(newReport(r.cfg, started, rows, d, nil), err), err
		}
		return nil, err
	}
	r.appendUnverified(verdicts, started)
	mismatches, err := r.appendAnatomy(ctx, verdicts, cutoff)
	if err != nil {
		return r.incomplete(newReport(r.cfg, started, rows, d, nil), err), err
	}
	rep := newReport(r.cfg, started, rows, d, verdicts)
	rep.Summary.Anatomy.ProviderMismatches = len(mismatches)
	rep.Summary.Warnings = append(rep.Summary.Warnings, providerWarnings(mismatches)...)
	phases.Judge = lap() // the report's tally counts as judging
	rep.Summary.Phases = &phases
	if budget != nil {
		budget.staleness(verdicts, started, r.cfg.DryRun)
		rep.Summary.Budget = budget
	}
	if !r.cfg.Scope.IsAll() && len(rows) == 0 && verdicts.len() == 0 {
		rep.Summary.Warnings = append(rep.Summary.Warnings,
			fmt.Sprintf("the selection (%s) matches no session directory and no row", r.cfg.Scope))
	}
	written, changed, err := r.write(ctx, verdicts)
	rep.Summary.RowsWritten, rep.Summary.RowsChanged = written, changed
	if err != nil {
		phases.Write = lap()
		return r.incomplete(rep, err), err
	}
	written, changed, err = r.backfill(ctx, verdicts)
	rep.Summary.PathsWritten, rep.Summary.PathsChanged = written, changed
	phases.Write = lap()
	if err != nil {
		return r.incomplete(rep, err), err
	}
	r.finish(rep)
	return rep, nil
}

// stopwatch returns a function that returns the seconds since the last
// time it was called, the first time since from.
func (r *Reconciler) stopwatch(from time.Time) func() float64 {
	return func() float64 {
		now := r.now()
		d := now.Sub(from)
		from = now
		return d.Seconds()
	}
}

// finish completes rep now, with the filesystem calls made so far.
func (r *Reconciler) finish(rep *Report) {
	rep.finish(r.now())
	rep.Summary.FSOps = r.cfg.Walk.Progress.Calls.Load()
}

// incomplete marks rep as cut short by err.
func (r *Reconciler) incomplete(rep *Report, err error) *Report {
	r.finish(rep)
	rep.Summary.Complete = false
	rep.Summary.Error = err.Error()
	return rep
}

// judge gives every row and every directory the walk saw its outcome, and
// looks again at what the outcome depends on before it is final.
func (r *Reconciler) judge(ctx context.Context, rows []db.Row, d *disk, cutoff time.Time) (*verdictSet, error) {
	// One observation for every path a row or the walk names: the walk
	// made those of the paths it found (see disk), the rows make the
	// others, in blocks that never move. A map from path to observation
	// joins them and is let go before anything is judged; a map to
	// separately allocated observations, held through the second look,
	// cost 130 bytes a path more.
	index := make(map[string]*Observation, max(len(rows), d.sessions.len()))
	for o := range d.sessions.all() {
		index[o.Path] = o
	}
	var extra observations
	var verdicts []Verdict
	withPath := 0 // live rows with a usable stored path: the missing ratio's base
	for i, row := range rows {
		p, v := refOf(r.cfg.PathPrefix, row)
		if v != nil {
			verdicts = append(verdicts, *v)
			continue
		}
		if row.Live() && row.StoragePath != nil {
			withPath++
		}
		o := index[p]
		if o == nil {
			ws, _, _ := scanner.ParseSessionPath(p)
			o = extra.add(Observation{Path: p, Workspace: ws})
			index[p] = o
		}
		// The path as the row names it is the end of its stored path,
		// which the audit holds anyway: the walk's copy can go (30 MB of
		// a million sessions).
		o.Path = p
		if o.Rows == nil {
			// Most paths have one row: refer to it where it is, with no
			// room to grow, so that a second row copies rather than
			// overwrites the next.
			o.Rows = rows[i : i+1 : i+1]
		} else {
			o.Rows = append(o.Rows, row)
		}
	}
	index = nil
	obs := make([]*Observation, 0, d.sessions.len()+extra.len())
	for o := range d.sessions.all() {
		obs = append(obs, o)
	}
	for o := range extra.all() {
		obs = append(obs, o)
	}
	for _, o := range obs {
		if e, ok := d.wsErr[o.Workspace]; ok {
			o.WorkspaceErr = e.Err
		}
	}
	for _, e := range d.other {
		verdicts = append(verdicts, unrecognized(e.Path, e.Reason))
	}
	verdicts = append(verdicts, unlistedWorkspaces(d, obs)...)
	verdicts = append(verdicts, misrouted(r.cfg.PathPrefix, rows, r.cfg.InstanceCount)...)

	// An unmounted or wrong root looks like every session gone. checkShare
	// judged the mount on a sample before the walk, by its workspace
	// directories; a whole-share run also counts every row, before looking
	// again at thousands of paths (in settle) and after, on what held, and
	// so does a shard run (a watcher's rescan too): a shard's rows are a
	// share of the table as good as any, and a root whose workspaces are
	// there but whose sessions are gone passes the first check. A run of
	// listed workspaces does not: a few rows of one workspace say nothing
	// about the mount. The order of the observations does not matter: the
	// report sorts what it lists.
	if _, listed := r.cfg.Scope.Listed(); listed {
		withPath = 0
	}
	settled, err := r.settle(ctx, obs, cutoff, withPath)
	if err != nil {
		return nil, err
	}
	if err := r.checkMissingRatio(withPath, settled.listed); err != nil {
		return nil, err
	}
	settled.listed = append(settled.listed, verdicts...)
	return settled, nil
}

// disk is what the walk found.
type disk struct {
	mu sync.Mutex
	// sessions holds the observation of each session, and of each
	// unrecognized entry whose path has the shape of a session path (a
	// symlink named session_x, say), each path once, with what was found
	// there and no rows yet: judge adds them. Not a map by path: judge
	// indexes them by path once, together with the rows; a map kept for
	// the whole audit cost 200 bytes a session more. Not the entries
	// either: a scanner.Entry cost 208 bytes and its session id, the
	// observation's seen 168 (see seen).
	sessions observations
	// tally adds up the sessions measured, for the summary.
	tally tally
	other []scanner.Entry
	wsErr map[uint64]scanner.Entry
}

func newDisk() *disk {
	return &disk{wsErr: map[uint64]scanner.Entry{}}
}

// add records an entry found. It is safe for concurrent use.
func (d *disk) add(e scanner.Entry) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	switch {
	case e.Kind == scanner.KindWorkspaceError:
		d.wsErr[e.WorkspaceID] = e
	case e.SessionID != "":
		d.sessions.add(Observation{Path: e.Path, Workspace: e.WorkspaceID, at: seenOf(&e)})
		d.tally.add(&e)
	default:
		d.other = append(d.other, e)
	}
	return nil
}

// rowsAndWalk reads the rows while it walks the share, the one waiting on
// the database, the other on the filesystem, and returns both with the
// seconds the rows took. When either fails the other is stopped; the error
// is the first failure. The disk is returned also on error, with what was
// found.
func (r *Reconciler) rowsAndWalk(ctx context.Context) (rows []db.Row, d *disk, rowsTime float64, err error) {
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		start := r.now()
		var err error
		rows, err = r.rows(gctx)
		rowsTime = r.now().Sub(start).Seconds()
		return err
	})
	g.Go(func() error {
		var err error
		d, err = r.walk(gctx)
		return err
	})
	err = g.Wait()
	return rows, d, rowsTime, err
}

func (r *Reconciler) walk(ctx context.Context) (*disk, error) {
	d := newDisk()
	wcfg := r.cfg.Walk
	wcfg.Scope = r.cfg.Scope
	err := scanner.Walk(ctx, r.fsys, r.cfg.Root, wcfg, d.add)
	if err != nil {
		return d, fmt.Errorf("walk %s: %w", r.cfg.Root, err)
	}
	return d, nil
}

// rows reads the rows of the audit's scope.
func (r *Reconciler) rows(ctx context.Context) ([]db.Row, error) {
	rows, err := r.store.Rows(ctx, Selection(r.cfg.Scope, r.cfg.PathPrefix))
	if err != nil {
		return nil, fmt.Errorf("read rows: %w", err)
	}
	if r.cfg.Scope.IsAll() {
		return rows, nil
	}
	kept := rows[:0]
	for _, row := range rows {
		if r.cfg.Scope.Contains(RowWorkspace(r.cfg.PathPrefix, row)) {
			kept = append(kept, row)
		}
	}
	return kept, nil
}

// Selection returns the rows to read for scope: a superset of the rows in
// it, which are those of its workspaces and those of other workspaces whose
// stored path names a directory in it.
func Selection(scope scanner.Scope, prefix string) db.Selection {
	if scope.IsAll() {
		return db.Selection{}
	}
	ids, listed := scope.Listed()
	sh := scope.Shard()
	return db.Selection{Workspaces: ids, Listed: listed, ShardIndex: sh.Index, ShardCount: sh.Count, CrossPrefix: prefix}
}

// RowWorkspace returns the workspace a row belongs to for scoping: that of
// the session directory its stored path names, so that the directory and
// every row that refers to it are judged together, else its own
// workspace_id (a NULL path refers to its own conventional directory; an
// unsafe one names no directory).
func RowWorkspace(prefix string, r db.Row) uint64 {
	if r.StoragePath != nil {
		if p, err := MapPath(prefix, *r.StoragePath); err == nil {
			ws, _, _ := scanner.ParseSessionPath(p)
			return ws
		}
	}
	return r.WorkspaceID
}

// unlistedWorkspaces reports a workspace that could not be listed and to
// which no row refers, so that it is not silently passed over.
func unlistedWorkspaces(d *disk, obs []*Observation) []Verdict {
	referenced := map[uint64]bool{}
	for _, o := range obs {
		if o.WorkspaceErr != nil {
			referenced[o.Workspace] = true
		}
	}
	var out []Verdict
	for id, e := range d.wsErr {
		if referenced[id] {
			continue
		}
		ws := id
		out = append(out, Verdict{Finding: Finding{Kind: Unreadable, Path: e.Path, WorkspaceID: &ws, RowIDs: []uint64{},
			Detail: "workspace directory could not be listed: " + e.Err.Error()}})
	}
	return out
}

// checkMissingRatio refuses to go on when more than the allowed share of
// live rows with a usable path would be missing: an unmounted or wrong root
// looks exactly like that.
func (r *Reconciler) checkMissingRatio(withPath int, verdicts []Verdict) error {
	missing := 0
	for _, v := range verdicts {
		if v.Kind == Missing {
			missing++
		}
	}
	if withPath == 0 || float64(missing) <= r.cfg.MaxMissingRatio*float64(withPath) {
		return nil
	}
	return fmt.Errorf("%w: %d of %d live rows with a path (%.0f%%) have no directory under %s, more than the allowed %.0f%%; is the share mounted there?",
		ErrTooManyMissing, missing, withPath, 100*float64(missing)/float64(withPath), r.cfg.Root, 100*r.cfg.MaxMissingRatio)
}
