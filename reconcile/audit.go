package reconcile

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"slices"
	"strings"
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
	// WriteSizes writes verified sizes, each only while the row still holds
	// the path it was read with and is live, and returns how many it wrote.
	WriteSizes(ctx context.Context, batch []db.SizeUpdate, verifiedAt time.Time) (int, error)
}

// Config controls Audit.
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
	// MinAge is the grace period: younger directories are never orphan or
	// soft_deleted, and rows changed more recently are never missing.
	MinAge time.Duration
	// MaxMissingRatio is the largest share of live rows with a path that may
	// be missing before the audit refuses to trust the root.
	MaxMissingRatio float64
	// DryRun writes nothing.
	DryRun bool
	// InstanceCount, when > 0, reports live rows whose
	// assigned_instance_index is not workspace_id % InstanceCount as
	// misrouted.
	InstanceCount int
	// PerInstance adds sessions, bytes and findings per assigned instance
	// to the summary (for tables with assigned_instance_index).
	PerInstance bool
	// Walk is passed to the scanner.
	Walk scanner.Config
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

// Audit reads the rows, walks the share, gives every session directory and
// row one outcome, writes the verified sizes (unless cfg.DryRun) and returns
// the report. An error means the audit could not be done; when the error
// comes after the walk, nothing has been written.
func Audit(ctx context.Context, fsys afero.Fs, store RowStore, cfg Config) (*Report, error) {
	a := &auditor{fsys: fsys, store: store, cfg: cfg, now: cfg.Now}
	if a.now == nil {
		a.now = time.Now
	}
	return a.run(ctx)
}

type auditor struct {
	fsys  afero.Fs
	store RowStore
	cfg   Config
	now   func() time.Time
	// cutoff is now minus the grace period, fixed when the audit starts.
	cutoff time.Time
}

// group is one session path and everything that refers to or lives at it.
type group struct {
	path  string
	ws    uint64
	rows  []db.Row
	entry *scanner.Entry // what is on disk at path; nil when nothing was seen
	wsErr error          // the workspace could not be listed
}

// result is one outcome given to a directory, rows, or both.
type result struct {
	Finding
	group *group
	rows  []db.Row
}

func (a *auditor) run(ctx context.Context) (*Report, error) {
	started := a.now()
	a.cutoff = started.Add(-a.cfg.MinAge)

	rows, err := a.rows(ctx)
	if err != nil {
		return nil, err
	}
	d, err := a.walk(ctx)
	if err != nil {
		if ctx.Err() != nil {
			// Interrupted: what was measured is reported, nothing is judged.
			return a.incomplete(newReport(a.cfg, started, rows, d, nil), err), err
		}
		return nil, err
	}

	results, err := a.judge(ctx, rows, d)
	if err != nil {
		if ctx.Err() != nil {
			return a.incomplete(newReport(a.cfg, started, rows, d, nil), err), err
		}
		return nil, err
	}
	rep := newReport(a.cfg, started, rows, d, results)
	if !a.cfg.DryRun {
		batch := verifiedUpdates(results)
		written, err := a.store.WriteSizes(ctx, batch, a.now())
		rep.Summary.RowsWritten = written
		if err != nil {
			err = fmt.Errorf("write sizes: %w", err)
			return a.incomplete(rep, err), err
		}
		rep.Summary.RowsChanged = len(batch) - written
	}
	rep.finish(a.now())
	return rep, nil
}

// incomplete marks rep as cut short by err.
func (a *auditor) incomplete(rep *Report, err error) *Report {
	rep.finish(a.now())
	rep.Summary.Complete = false
	rep.Summary.Error = err.Error()
	return rep
}

// judge gives every row and every directory the walk saw its outcome, and
// looks again at what the outcome depends on before it is final.
func (a *auditor) judge(ctx context.Context, rows []db.Row, d *disk) ([]result, error) {
	var results []result
	groups := map[string]*group{}
	groupOf := func(p string, ws uint64) *group {
		g := groups[p]
		if g == nil {
			g = &group{path: p, ws: ws}
			groups[p] = g
		}
		return g
	}
	withPath := 0 // live rows with a usable stored path: the missing ratio's base
	for _, r := range rows {
		p, res := a.refOf(r)
		if res != nil {
			results = append(results, *res)
			continue
		}
		if r.Live() && r.StoragePath != nil {
			withPath++
		}
		ws, _, _ := scanner.ParseSessionPath(p)
		g := groupOf(p, ws)
		g.rows = append(g.rows, r)
	}
	for p, e := range d.atSessionPath {
		groupOf(p, e.WorkspaceID).entry = &e
	}
	for _, g := range groups {
		if e, ok := d.wsErr[g.ws]; ok {
			g.wsErr = e.Err
		}
	}
	for _, e := range d.other {
		results = append(results, unrecognized(e))
	}

	// First pass: classify what the walk saw.
	var pending []result
	for _, p := range slices.Sorted(maps.Keys(groups)) {
		pending = append(pending, a.classify(groups[p])...)
	}
	if err := a.checkMissingRatio(withPath, pending); err != nil {
		return nil, err
	}
	// Second pass: a directory the walk did not see, or a verified one about
	// to be written, is looked at again now; only what holds up is kept.
	pending, err := a.confirm(ctx, pending)
	if err != nil {
		return nil, err
	}
	if err := a.checkMissingRatio(withPath, pending); err != nil {
		return nil, err
	}
	results = append(results, pending...)
	results = append(results, a.unlistedWorkspaces(d, groups)...)
	results = append(results, a.misrouted(rows)...)
	return results, nil
}

// misrouted reports live rows assigned to another instance than their
// workspace routes to.
func (a *auditor) misrouted(rows []db.Row) []result {
	n := a.cfg.InstanceCount
	if n <= 0 {
		return nil
	}
	var out []result
	for _, r := range rows {
		if !r.Live() {
			continue
		}
		want := int(r.WorkspaceID % uint64(n))
		var detail string
		switch {
		case r.InstanceIndex == nil:
			detail = fmt.Sprintf("no instance assigned; workspace %d routes to instance %d of %d", r.WorkspaceID, want, n)
		case *r.InstanceIndex != want:
			detail = fmt.Sprintf("assigned to instance %d; workspace %d routes to instance %d of %d", *r.InstanceIndex, r.WorkspaceID, want, n)
		default:
			continue
		}
		ws := r.WorkspaceID
		f := Finding{Kind: Misrouted, WorkspaceID: &ws, RowIDs: []uint64{r.ID}, Detail: detail}
		if r.StoragePath != nil {
			f.Path, _ = MapPath(a.cfg.PathPrefix, *r.StoragePath)
		}
		out = append(out, result{Finding: f, rows: []db.Row{r}})
	}
	return out
}

// disk is what the walk found.
type disk struct {
	mu sync.Mutex
	// atSessionPath holds sessions, and unrecognized entries whose path has
	// the shape of a session path (a symlink named session_x, say).
	atSessionPath map[string]scanner.Entry
	other         []scanner.Entry
	wsErr         map[uint64]scanner.Entry
}

func (a *auditor) walk(ctx context.Context) (*disk, error) {
	d := &disk{atSessionPath: map[string]scanner.Entry{}, wsErr: map[uint64]scanner.Entry{}}
	wcfg := a.cfg.Walk
	wcfg.Scope = a.cfg.Scope
	err := scanner.Walk(ctx, a.fsys, a.cfg.Root, wcfg, func(e scanner.Entry) error {
		d.mu.Lock()
		defer d.mu.Unlock()
		switch {
		case e.Kind == scanner.KindWorkspaceError:
			d.wsErr[e.WorkspaceID] = e
		case e.SessionID != "":
			d.atSessionPath[e.Path] = e
		default:
			d.other = append(d.other, e)
		}
		return nil
	})
	if err != nil {
		return d, fmt.Errorf("walk %s: %w", a.cfg.Root, err)
	}
	return d, nil
}

// rows reads the rows of the audit's scope.
func (a *auditor) rows(ctx context.Context) ([]db.Row, error) {
	rows, err := a.store.Rows(ctx, Selection(a.cfg.Scope, a.cfg.PathPrefix))
	if err != nil {
		return nil, fmt.Errorf("read rows: %w", err)
	}
	if a.cfg.Scope.IsAll() {
		return rows, nil
	}
	kept := rows[:0]
	for _, r := range rows {
		if a.cfg.Scope.Contains(RowWorkspace(a.cfg.PathPrefix, r)) {
			kept = append(kept, r)
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

// refOf returns the session path a row refers to, or the row's outcome when
// it refers to none.
func (a *auditor) refOf(r db.Row) (string, *result) {
	if r.StoragePath != nil {
		p, err := MapPath(a.cfg.PathPrefix, *r.StoragePath)
		if err != nil {
			ws := r.WorkspaceID
			return "", &result{rows: []db.Row{r}, Finding: Finding{Kind: UnsafePath, WorkspaceID: &ws, RowIDs: []uint64{r.ID},
				Detail: fmt.Sprintf("stored path %q: %v", *r.StoragePath, err)}}
		}
		return p, nil
	}
	// No stored path: the row refers to its conventional directory.
	if _, ok := scanner.ParseSession("session_" + r.SessionID); ok {
		return scanner.SessionPath(r.WorkspaceID, r.SessionID), nil
	}
	outcome := NoPath
	if !r.Live() {
		outcome = Cleaned
	}
	ws := r.WorkspaceID
	return "", &result{rows: []db.Row{r}, Finding: Finding{Kind: outcome, WorkspaceID: &ws, RowIDs: []uint64{r.ID}}}
}

// classify gives the directory at g.path and the rows that refer to it their
// outcomes. Each row and the directory get exactly one.
func (a *auditor) classify(g *group) []result {
	var live, dead []db.Row
	for _, r := range g.rows {
		if r.Live() {
			live = append(live, r)
		} else {
			dead = append(dead, r)
		}
	}
	one := func(kind Outcome, rows []db.Row, detail string) result {
		return a.result(g, kind, rows, detail)
	}

	if detail := conflictDetail(g, live); detail != "" {
		return []result{one(Conflict, g.rows, detail)}
	}
	switch {
	case g.wsErr != nil:
		return []result{one(Unreadable, g.rows, "workspace directory could not be listed: "+g.wsErr.Error())}
	case g.entry != nil && g.entry.Kind == scanner.KindUnrecognized:
		if len(g.rows) == 0 {
			return []result{unrecognized(*g.entry)}
		}
		return []result{one(UnsafePath, g.rows, "stored path does not lead to a real directory: "+g.entry.Reason)}
	case g.entry != nil && g.entry.Err != nil:
		return []result{one(Unreadable, g.rows, g.entry.Err.Error())}
	case g.entry != nil:
		return []result{a.present(g, live, dead)}
	}
	return a.absent(g, live, dead)
}

// present classifies a session directory that was measured.
func (a *auditor) present(g *group, live, dead []db.Row) result {
	young := g.entry.Newest.After(a.cutoff)
	switch {
	case len(live) == 1 && live[0].StoragePath != nil:
		return a.result(g, Verified, g.rows, "")
	case len(live) == 1:
		return a.result(g, Unlinked, g.rows, "row has no session_storage_path; its conventional directory exists")
	case young:
		return a.result(g, Recent, g.rows, "changed within the grace period")
	case len(dead) > 0:
		return a.result(g, SoftDeleted, g.rows, "only soft-deleted rows refer to it")
	}
	return a.result(g, Orphan, nil, "no row refers to it")
}

// absent classifies the rows of a path where the walk saw nothing.
func (a *auditor) absent(g *group, live, dead []db.Row) []result {
	var out []result
	for _, r := range live {
		switch {
		case r.StoragePath == nil:
			out = append(out, a.result(g, NoPath, []db.Row{r}, ""))
		case r.LastChanged().After(a.cutoff):
			out = append(out, a.result(g, Recent, []db.Row{r}, "row changed within the grace period"))
		default:
			out = append(out, a.result(g, Missing, []db.Row{r}, "directory does not exist"))
		}
	}
	if len(dead) > 0 {
		out = append(out, a.result(g, Cleaned, dead, ""))
	}
	return out
}

func conflictDetail(g *group, live []db.Row) string {
	var wrong []string
	for _, r := range live {
		if r.WorkspaceID != g.ws {
			wrong = append(wrong, fmt.Sprintf("row %d belongs to workspace %d", r.ID, r.WorkspaceID))
		}
	}
	switch {
	case len(live) > 1 && len(wrong) > 0:
		return fmt.Sprintf("claimed by %d live rows; %s", len(live), strings.Join(wrong, "; "))
	case len(live) > 1:
		return fmt.Sprintf("claimed by %d live rows", len(live))
	case len(wrong) > 0:
		return strings.Join(wrong, "; ") + " but its path is in workspace " + fmt.Sprint(g.ws)
	}
	return ""
}

func (a *auditor) result(g *group, kind Outcome, rows []db.Row, detail string) result {
	ws := g.ws
	f := Finding{Kind: kind, Path: g.path, WorkspaceID: &ws, RowIDs: rowIDs(rows), Detail: detail}
	if e := g.entry; e != nil && e.Kind == scanner.KindSession && e.Err == nil {
		u := e.Usage
		f.SizeBytes, f.MeteredBytes, f.Files = &u.Size, &u.Metered, &u.Files
	}
	return result{Finding: f, group: g, rows: rows}
}

func unrecognized(e scanner.Entry) result {
	return result{Finding: Finding{Kind: Unrecognized, Path: e.Path, RowIDs: []uint64{}, Detail: e.Reason}}
}

func rowIDs(rows []db.Row) []uint64 {
	ids := make([]uint64, 0, len(rows))
	for _, r := range rows {
		ids = append(ids, r.ID)
	}
	slices.Sort(ids)
	return ids
}

// confirm looks again at every path the outcome of which depends on the
// directory being there or not: a missing row's directory may have appeared
// since the walk listed its workspace, and a verified directory may have been
// replaced by a link. Groups that no longer hold up are classified anew.
func (a *auditor) confirm(ctx context.Context, results []result) ([]result, error) {
	held, err := a.recheck(ctx, results)
	if err != nil {
		return nil, err
	}
	out := results[:0:0]
	redo := map[*group]bool{}
	for i, res := range results {
		switch {
		case res.group == nil:
			out = append(out, res)
		case redo[res.group]:
		case held[i]:
			out = append(out, res)
		default:
			redo[res.group] = true
		}
	}
	if len(redo) == 0 {
		return out, nil
	}
	// Drop everything else decided for a group that is looked at again.
	kept := out[:0]
	for _, res := range out {
		if !redo[res.group] {
			kept = append(kept, res)
		}
	}
	for g := range redo {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := a.observe(ctx, g); err != nil {
			return nil, err
		}
		kept = append(kept, a.classify(g)...)
	}
	return kept, nil
}

// recheck looks again, concurrently, at the directory of every missing or
// verified result, and reports for each result whether its outcome still
// holds: a missing directory is still absent (ENOENT), a verified one is
// still a real directory. Other results hold as they are.
func (a *auditor) recheck(ctx context.Context, results []result) ([]bool, error) {
	held := make([]bool, len(results))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(recheckWorkers(a.cfg.Walk))
	for i, res := range results {
		if res.group == nil || (res.Kind != Missing && res.Kind != Verified) {
			held[i] = true
			continue
		}
		g.Go(func() error {
			err := scanner.Check(gctx, a.fsys, a.cfg.Root, res.group.path, a.cfg.Walk)
			if cerr := gctx.Err(); cerr != nil {
				return cerr
			}
			if res.Kind == Missing {
				held[i] = errors.Is(err, fs.ErrNotExist)
			} else {
				held[i] = err == nil
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
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

// observe measures g's directory as it is now.
func (a *auditor) observe(ctx context.Context, g *group) error {
	e, err := scanner.Measure(ctx, a.fsys, a.cfg.Root, g.path, a.cfg.Walk)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		g.entry = nil
	case ctx.Err() != nil:
		return ctx.Err()
	case err != nil:
		ws, id, _ := scanner.ParseSessionPath(g.path)
		g.entry = &scanner.Entry{Kind: scanner.KindSession, Path: g.path, WorkspaceID: ws, SessionID: id, Err: err}
	default:
		g.entry = &e
	}
	return nil
}

// unlistedWorkspaces reports a workspace that could not be listed and to
// which no row refers, so that it is not silently passed over.
func (a *auditor) unlistedWorkspaces(d *disk, groups map[string]*group) []result {
	referenced := map[uint64]bool{}
	for _, g := range groups {
		if g.wsErr != nil {
			referenced[g.ws] = true
		}
	}
	var out []result
	for id, e := range d.wsErr {
		if referenced[id] {
			continue
		}
		ws := id
		out = append(out, result{Finding: Finding{Kind: Unreadable, Path: e.Path, WorkspaceID: &ws, RowIDs: []uint64{},
			Detail: "workspace directory could not be listed: " + e.Err.Error()}})
	}
	return out
}

// checkMissingRatio refuses to go on when more than the allowed share of
// live rows with a usable path would be missing: an unmounted or wrong root
// looks exactly like that.
func (a *auditor) checkMissingRatio(withPath int, results []result) error {
	missing := 0
	for _, res := range results {
		if res.Kind == Missing {
			missing++
		}
	}
	if withPath == 0 || float64(missing) <= a.cfg.MaxMissingRatio*float64(withPath) {
		return nil
	}
	return fmt.Errorf("%w: %d of %d live rows with a path (%.0f%%) have no directory under %s, more than the allowed %.0f%%; is the share mounted there?",
		ErrTooManyMissing, missing, withPath, 100*float64(missing)/float64(withPath), a.cfg.Root, 100*a.cfg.MaxMissingRatio)
}

func verifiedUpdates(results []result) []db.SizeUpdate {
	var batch []db.SizeUpdate
	for _, res := range results {
		if res.Kind != Verified {
			continue
		}
		for _, r := range res.group.rows {
			if r.Live() && r.StoragePath != nil {
				batch = append(batch, db.SizeUpdate{ID: r.ID, StoragePath: *r.StoragePath, SizeBytes: res.group.entry.Usage.Size})
			}
		}
	}
	slices.SortFunc(batch, func(x, y db.SizeUpdate) int { return cmp.Compare(x.ID, y.ID) })
	return batch
}
