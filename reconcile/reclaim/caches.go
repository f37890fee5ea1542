package reclaim

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/spf13/afero"

	"sessaudit/db"
	"sessaudit/scanner"
	"sessaudit/scanner/anatomy"
	"sessaudit/scanner/quarantine"
)

// Caches is the kind of a Step of Caches, and of its manifest lines: the
// regenerable parts of a session directory. It is not an audit outcome.
const Caches = "caches"

// CauseRunning: the session started while its caches were being moved (its
// profile was locked, or a row's status said it runs): they were moved
// back.
const CauseRunning = "running"

// runningStatuses are the statuses of a row whose session the application
// runs, or is about to: its profile is in use.
var runningStatuses = []string{"connected", "authenticated", "qr_scanning"}

// Why Caches passes over a session: it is not a candidate. Passing over
// is not a skip: nothing was about to move.
const (
	// PassNoRow: no live row refers to it (orphan and soft_deleted
	// directories are reclaim's without --caches).
	PassNoRow = "no_row"
	// PassRunning: a live row's status says the session runs, or its
	// profile is locked (Chromium's SingletonLock).
	PassRunning = "running"
	// PassStatusUnknown: a live row's status is NULL or empty: not known
	// to be stopped.
	PassStatusUnknown = "status_unknown"
	// PassRecent: something in it changed within the grace period.
	PassRecent = "recent"
	// PassNothing: not a whatsapp-web.js (Chromium) profile, or nothing in
	// it is regenerable.
	PassNothing = "nothing_regenerable"
)

// PassReasons returns every reason to pass over a session.
func PassReasons() []string {
	return []string{PassNoRow, PassRunning, PassStatusUnknown, PassRecent, PassNothing}
}

// part is one regenerable part of a session directory, as looked at.
type part struct {
	rel string // relative to the root
	id  quarantine.Identity
}

// cachePlan is what checkCaches found movable in one session.
type cachePlan struct {
	session quarantine.Identity
	parts   []part
	rowIDs  []uint64
	// pass, when set, is why the session is passed over.
	pass string
}

// ReclaimCaches moves into quarantine q the regenerable parts of the
// sessions under q's root that are not running, at most cfg.MaxMoves
// sessions' worth; without cfg.Yes it goes through the same checks and
// moves nothing. It lists the sessions itself, in path order, and for
// each, just before moving anything of it, it
//
//   - looks at the directory through q without following a link and lists
//     its top and its Default directory: a whatsapp-web.js (Chromium)
//     profile not locked by a running Chromium (no SingletonLock, which
//     is looked at, never followed), whose regenerable parts are those
//     anatomy.CacheRoots names (never Default/IndexedDB nor
//     Default/Local Storage, never a Singleton* file, nothing of a
//     Baileys session);
//   - reads the rows that may refer to it: at least one live row must,
//     and none whose status says the session runs (connected,
//     authenticated, qr_scanning) or whose status is not known;
//   - measures it, and passes over it if anything in it changed within
//     cfg.MinAge (modification and change times, as Reclaim);
//
// and then moves each part by rename into one run of parts
// (quarantine.RunInfo.Parts), only while the session directory and the
// part are the ones looked at. Once its parts are in quarantine the
// profile and the rows are looked at again, and every part goes back at
// once (skipped, CauseRunning) if the session started meanwhile. A part
// whose place was taken meanwhile (the started Chromium made a new one)
// stays in quarantine, recorded as moved, and the step's reason says so.
//
// A session passed over is counted in Result.PassedOver and not reported
// as a step. An error stops ReclaimCaches as it stops Reclaim.
func ReclaimCaches(ctx context.Context, q *quarantine.Quarantine, rows RowFinder, cfg Config) (res Result, err error) {
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	fsys := afero.NewOsFs()
	sessions, failed, err := listSessions(ctx, fsys, q.Root(), cfg.Walk)
	if err != nil {
		return res, err
	}
	res.PassedOver = map[string]int{}
	var run *quarantine.Run
	defer func() {
		if run != nil {
			if cerr := run.Close(); err == nil && cerr != nil {
				err = fmt.Errorf("close manifest: %w", cerr)
			}
		}
	}()
	report := func(st Step) {
		if st.Action == Skipped {
			res.Skipped++
		} else {
			res.Moved++
			res.Bytes += st.SizeBytes
			res.Files += st.Files
		}
		if cfg.OnStep != nil {
			cfg.OnStep(st)
		}
	}
	for _, e := range failed {
		report(Step{Candidate: Candidate{Path: e.Path, WorkspaceID: e.WorkspaceID, Kind: Caches}, Action: Skipped,
			Cause: CauseUnreadable, Reason: "its workspace directory could not be listed: " + e.Err.Error()})
	}
	for i, c := range sessions {
		if res.Moved >= cfg.MaxMoves {
			res.Left = len(sessions) - i
			break
		}
		if err := ctx.Err(); err != nil {
			return res, err
		}
		st := Step{Candidate: c}
		plan, why, err := checkCaches(ctx, q, fsys, rows, c, &st, cfg, now())
		switch {
		case err != nil:
			return res, err
		case why.cause != "":
			st.Action, st.Cause, st.Reason = Skipped, why.cause, why.reason
		case plan.pass != "":
			res.PassedOver[plan.pass]++
			continue
		case !cfg.Yes:
			st.Action, st.Parts = Planned, len(plan.parts)
		default:
			if run == nil {
				info := cfg.Run
				info.Parts = true
				if run, err = q.Begin(info); err != nil {
					return res, err
				}
				res.Manifest = run.ManifestPath()
			}
			if err := moveCaches(ctx, q, run, rows, c, plan, &st, cfg); err != nil {
				report(st)
				return res, err
			}
		}
		report(st)
	}
	return res, nil
}

// listSessions lists the session directories under root in path order,
// and the workspaces that could not be listed.
func listSessions(ctx context.Context, fsys afero.Fs, root string, walk scanner.Config) (sessions []Candidate, failed []scanner.Entry, err error) {
	var mu sync.Mutex
	err = scanner.List(ctx, fsys, root, walk, func(e scanner.Entry) error {
		mu.Lock()
		defer mu.Unlock()
		switch e.Kind {
		case scanner.KindSession:
			sessions = append(sessions, Candidate{Path: e.Path, WorkspaceID: e.WorkspaceID, SessionID: e.SessionID, Kind: Caches})
		case scanner.KindWorkspaceError:
			failed = append(failed, e)
		}
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("list the sessions under %s: %w", root, err)
	}
	sort.Slice(sessions, func(i, j int) bool { return sessions[i].Path < sessions[j].Path })
	sort.Slice(failed, func(i, j int) bool { return failed[i].Path < failed[j].Path })
	return sessions, failed, nil
}

// checkCaches looks at one session as it is now and returns its movable
// parts, or why it is passed over (cachePlan.pass) or skipped; an error
// stops the run. The cheap looks come first: most sessions of a share
// run, and their lock says so before any row is read.
func checkCaches(ctx context.Context, q *quarantine.Quarantine, fsys afero.Fs, rows RowFinder, c Candidate, st *Step, cfg Config, now time.Time) (cachePlan, skip, error) {
	var plan cachePlan
	stop := func(err error) (cachePlan, skip, error) {
		if errors.Is(err, scanner.ErrIOTimeout) {
			return plan, skip{}, err // the quarantine makes no call anymore: stop
		}
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, quarantine.ErrNotDir) || errors.Is(err, quarantine.ErrOtherFilesystem) {
			return plan, skip{CauseNotDirectory, "not a real directory now: " + err.Error()}, nil
		}
		return plan, skip{CauseUnreadable, "could not be read: " + err.Error()}, nil
	}
	pass := func(why string) (cachePlan, skip, error) {
		plan.pass = why
		return plan, skip{}, nil
	}
	sid, err := q.Look(c.Path)
	if err != nil {
		return stop(err)
	}
	plan.session = sid
	top, err := q.Names(c.Path)
	if err != nil {
		return stop(err)
	}
	if slices.Contains(top, anatomy.SingletonLock) {
		return pass(PassRunning)
	}
	kind := anatomy.Of(top)
	if kind != anatomy.Webjs {
		return pass(PassNothing)
	}
	var dflt []string
	if slices.Contains(top, anatomy.Profile) {
		if dflt, err = q.Names(c.Path + "/" + anatomy.Profile); err != nil {
			return stop(err)
		}
	}
	roots := anatomy.CacheRoots(kind, top, dflt)
	if len(roots) == 0 {
		return pass(PassNothing)
	}
	found, err := rows.SessionRows(ctx, c.WorkspaceID, c.SessionID)
	if err != nil {
		return plan, skip{}, fmt.Errorf("read the rows of %s: %w", c.Path, err)
	}
	ids, pw, why := stopped(cfg.PathPrefix, c, found)
	if why.cause != "" || pw != "" {
		plan.pass = pw
		return plan, why, nil
	}
	plan.rowIDs = ids
	st.RowIDs = ids
	e, err := scanner.Measure(ctx, fsys, q.Root(), c.Path, cfg.Walk)
	switch {
	case ctx.Err() != nil:
		return plan, skip{}, ctx.Err()
	case err != nil:
		return plan, skip{CauseUnreadable, "could not be measured: " + err.Error()}, nil
	case e.Kind != scanner.KindSession:
		return plan, skip{CauseNotDirectory, "not a real directory now: " + e.Reason}, nil
	case e.Err != nil:
		return plan, skip{CauseUnreadable, "could not be read: " + e.Err.Error()}, nil
	}
	newest := e.Newest
	if e.Written.After(newest) {
		newest = e.Written
	}
	if newest.After(now.Add(-cfg.MinAge)) {
		return pass(PassRecent)
	}
	st.SizeBytes, st.Files = e.Anatomy.Regenerable.Size, e.Anatomy.Regenerable.Files
	st.Candidate.SizeBytes, st.Candidate.Files = st.SizeBytes, st.Files
	for _, r := range roots {
		rel := c.Path + "/" + r
		id, err := q.Look(rel)
		switch {
		case errors.Is(err, quarantine.ErrNotDir):
			continue // a link or a special file: never moved
		case err != nil:
			return stop(err)
		}
		plan.parts = append(plan.parts, part{rel: rel, id: id})
	}
	if len(plan.parts) == 0 {
		return pass(PassNothing)
	}
	return plan, skip{}, nil
}

// stopped judges the rows found for c's directory: it returns the ids of
// the live rows that refer to it when there are some and none says the
// session runs; else why the session is passed over, or skipped (a stored
// path that names it but is unsafe).
func stopped(prefix string, c Candidate, rows []db.Row) ([]uint64, string, skip) {
	var ids []uint64
	pass := ""
	for _, r := range rows {
		refers, why := refersTo(prefix, c, r)
		if why.cause != "" {
			return nil, "", why
		}
		if !refers || !r.Live() {
			continue
		}
		ids = append(ids, r.ID)
		switch {
		case r.Status == nil:
			pass = PassStatusUnknown
		case slices.Contains(runningStatuses, *r.Status):
			return nil, PassRunning, skip{}
		}
	}
	if len(ids) == 0 {
		return nil, PassNoRow, skip{}
	}
	return ids, pass, skip{}
}

// moveCaches moves the parts of plan into run, then looks at the session
// again and moves them back if it started meanwhile. It sets st's Action
// (Moved, or Skipped with why); an error stops the run.
func moveCaches(ctx context.Context, q *quarantine.Quarantine, run *quarantine.Run, rows RowFinder, c Candidate, plan cachePlan, st *Step, cfg Config) error {
	var moved []part
	back := func(cause, reason string) error {
		st.Action, st.Cause, st.Reason = Skipped, cause, reason
		var left []string
		for _, p := range slices.Backward(moved) {
			err := run.Return(p.rel, p.id, errors.New(reason))
			switch {
			case errors.Is(err, quarantine.ErrExists):
				left = append(left, strings.TrimPrefix(p.rel, c.Path+"/"))
			case err != nil:
				return fmt.Errorf("%s: %s, and %w", c.Path, reason, err)
			}
		}
		if len(left) > 0 {
			slices.Reverse(left)
			st.Reason += fmt.Sprintf("; %d parts stay in quarantine, a new one was made at their place (%s): restore brings them back once those are gone",
				len(left), strings.Join(left, ", "))
		}
		return nil
	}
	for _, p := range plan.parts {
		err := run.Move(p.rel, p.id, quarantine.Item{Kind: Caches, RowIDs: plan.rowIDs, Session: &plan.session})
		switch {
		case errors.Is(err, quarantine.ErrChanged), errors.Is(err, quarantine.ErrNotDir), errors.Is(err, fs.ErrNotExist):
			return back(CauseChanged, fmt.Sprintf("%s changed just before its move (%v); moved back", strings.TrimPrefix(p.rel, c.Path+"/"), err))
		case err != nil:
			if berr := back(CauseChanged, "the run stopped: "+err.Error()); berr != nil {
				return errors.Join(err, berr)
			}
			return err
		}
		moved = append(moved, p)
	}
	st.Action, st.Parts = Moved, len(moved)
	// The session may have started between the checks and the renames:
	// look at its lock and its rows again, now that nothing of it is left
	// to move.
	top, err := q.Names(c.Path)
	switch {
	case errors.Is(err, scanner.ErrIOTimeout):
		return err
	case err != nil:
		return back(CauseUnreadable, fmt.Sprintf("could not be listed again after the move (%v); moved back", err))
	case slices.Contains(top, anatomy.SingletonLock):
		return back(CauseRunning, "the session started while its caches moved (its profile is locked now); moved back")
	}
	found, rerr := rows.SessionRows(ctx, c.WorkspaceID, c.SessionID)
	if rerr != nil {
		if err := back(CauseRunning, fmt.Sprintf("its rows could not be read again after the move (%v); moved back", rerr)); err != nil {
			return err
		}
		return fmt.Errorf("read the rows of %s again: %w", c.Path, rerr)
	}
	_, pass, why := stopped(cfg.PathPrefix, c, found)
	switch {
	case why.cause != "":
		return back(why.cause, why.reason+", appeared while its caches moved; moved back")
	case pass == PassRunning || pass == PassStatusUnknown:
		return back(CauseRunning, "a row says the session runs now (or its status is not known); moved back")
	}
	return nil
}
