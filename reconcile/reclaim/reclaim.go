package reclaim

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/spf13/afero"

	"sessaudit/db"
	"sessaudit/reconcile"
	"sessaudit/scanner"
	"sessaudit/scanner/quarantine"
)

// RowFinder is the accounts table as reclaim needs it.
type RowFinder interface {
	// SessionRows returns, live and soft-deleted, at least every row that
	// may refer to the session directory workspace_<workspace>/session_<id>.
	SessionRows(ctx context.Context, workspace uint64, id string) ([]db.Row, error)
}

// Config controls Reclaim.
type Config struct {
	// PathPrefix is the share's path as the application stores it.
	PathPrefix string
	// MinAge: a directory changed more recently (itself or anything in it)
	// is not moved.
	MinAge time.Duration
	// MaxMoves is the most directories moved (or planned) in one run; <= 0
	// means none.
	MaxMoves int
	// Yes moves; without it Reclaim only plans.
	Yes bool
	// Run describes the run for its manifest.
	Run quarantine.RunInfo
	// Walk is passed to scanner.Measure.
	Walk scanner.Config
	// OnStep, when set, hears of each candidate as it is dealt with.
	OnStep func(Step)
	// Now returns the present; nil means time.Now.
	Now func() time.Time
}

// Actions of a Step.
const (
	// Planned: it would be moved (without Yes).
	Planned = "would move"
	// Moved: it is in quarantine.
	Moved = "moved"
	// Skipped: a check failed just before the move; it was left alone.
	Skipped = "skipped"
)

// Causes of a skip: why a candidate was left alone, in one word each, for
// counting (the Reason says it in full).
const (
	// CauseNotDirectory: not a real directory now: gone, a link, or
	// something else at its path.
	CauseNotDirectory = "not_directory"
	// CauseUnreadable: it could not be measured or read.
	CauseUnreadable = "unreadable"
	// CauseRecent: something in it changed within the grace period.
	CauseRecent = "recent"
	// CauseRow: a row refers to it now.
	CauseRow = "row"
	// CauseUnsafePath: a row's stored path names it but cannot be trusted.
	CauseUnsafePath = "unsafe_path"
	// CauseChanged: it changed between the checks and the move.
	CauseChanged = "changed"
)

// Causes returns every cause of a skip.
func Causes() []string {
	return []string{CauseNotDirectory, CauseUnreadable, CauseRecent, CauseRow, CauseUnsafePath, CauseChanged, CauseRunning}
}

// Step is what Reclaim did with one candidate.
type Step struct {
	Candidate
	Action string
	// Cause and Reason say why it was skipped: one of Causes, and in full.
	Cause, Reason string
	// SizeBytes and Files are as measured just before the move (of
	// ReclaimCaches, the session's regenerable bytes and files).
	SizeBytes, Files int64
	// Parts is, of ReclaimCaches, the number of parts moved or to move.
	Parts int
}

// Result counts what Reclaim did.
type Result struct {
	// Moved is the directories moved, or planned without Yes; Bytes and
	// Files their size as measured just before.
	Moved        int
	Bytes, Files int64
	// Skipped is the candidates a check left alone.
	Skipped int
	// Left is the candidates not looked at because MaxMoves was reached.
	Left int
	// Manifest is the run's manifest, when anything moved.
	Manifest string
	// PassedOver is, of ReclaimCaches, the sessions that were not
	// candidates, by why (one of PassReasons).
	PassedOver map[string]int
}

// Reclaim moves into quarantine q, one by one and in order, the candidates
// that still hold up now, at most cfg.MaxMoves of them; without cfg.Yes it
// goes through the same checks and moves nothing. For each candidate, just
// before its move, it
//
//   - looks at the directory through q without following a link,
//   - measures it, and skips it if it could not be read or anything in it
//     changed within cfg.MinAge (by its modification or change times: a
//     copy keeps the former, never the latter; see scanner.Entry.Newest),
//   - reads again the rows that may refer to it and skips it if one does,
//     other than a soft-deleted one (any row, for an orphan), or if a row's
//     stored path names it but cannot be mapped safely,
//
// and then lets q move it only if it is still the directory it looked at
// first (same device, inode and birth time). Once it is in quarantine the
// rows are read again, and it is moved back at once (skipped, CauseRow)
// when one refers to it now, a row inserted between the check and the
// rename, or when they cannot be read.
//
// An error stops Reclaim: the database could not be read, a move failed for
// a reason other than the directory having changed, the manifest could not
// be written, or ctx ended. What moved before is in the manifest
// (Result.Manifest).
func Reclaim(ctx context.Context, q *quarantine.Quarantine, rows RowFinder, cands []Candidate, cfg Config) (res Result, err error) {
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	var run *quarantine.Run
	defer func() {
		if run != nil {
			if cerr := run.Close(); err == nil && cerr != nil {
				err = fmt.Errorf("close manifest: %w", cerr)
			}
		}
	}()
	fsys := afero.NewOsFs()
	for i, c := range cands {
		if res.Moved >= cfg.MaxMoves {
			res.Left = len(cands) - i
			break
		}
		if err := ctx.Err(); err != nil {
			return res, err
		}
		st := Step{Candidate: c}
		id, skip, err := check(ctx, q, fsys, rows, c, &st, cfg, now())
		if err != nil {
			return res, err
		}
		switch {
		case skip.cause != "":
			st.Action, st.Cause, st.Reason = Skipped, skip.cause, skip.reason
		case !cfg.Yes:
			st.Action = Planned
		default:
			if run == nil {
				if run, err = q.Begin(cfg.Run); err != nil {
					return res, err
				}
				res.Manifest = run.ManifestPath()
			}
			err := run.Move(c.Path, id, quarantine.Item{Kind: string(c.Kind), RowIDs: c.RowIDs, SizeBytes: st.SizeBytes, Files: st.Files})
			switch {
			case errors.Is(err, quarantine.ErrChanged), errors.Is(err, quarantine.ErrNotDir), errors.Is(err, fs.ErrNotExist):
				st.Action, st.Cause, st.Reason = Skipped, CauseChanged, err.Error()
			case err != nil:
				return res, err
			default:
				st.Action = Moved
				if err := recheck(ctx, run, rows, c, id, &st, cfg); err != nil {
					return res, err
				}
			}
		}
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
	return res, nil
}

// skip is why a candidate is left alone; the zero value lets it move.
type skip struct{ cause, reason string }

// check looks at one candidate as it is now. It returns the identity of its
// directory, or why it must be left alone; an error stops the run.
func check(ctx context.Context, q *quarantine.Quarantine, fsys afero.Fs, rows RowFinder, c Candidate, st *Step, cfg Config, now time.Time) (quarantine.Identity, skip, error) {
	id, err := q.Look(c.Path)
	if errors.Is(err, scanner.ErrIOTimeout) {
		return id, skip{}, err // the quarantine makes no call anymore: stop
	}
	if err != nil {
		return id, skip{CauseNotDirectory, "not a real directory now: " + err.Error()}, nil
	}
	e, err := scanner.Measure(ctx, fsys, q.Root(), c.Path, cfg.Walk)
	switch {
	case ctx.Err() != nil:
		return id, skip{}, ctx.Err()
	case err != nil:
		return id, skip{CauseUnreadable, "could not be measured: " + err.Error()}, nil
	case e.Kind != scanner.KindSession:
		return id, skip{CauseNotDirectory, "not a real directory now: " + e.Reason}, nil
	case e.Err != nil:
		return id, skip{CauseUnreadable, "could not be read: " + e.Err.Error()}, nil
	}
	st.SizeBytes, st.Files = e.Usage.Size, e.Usage.Files
	// Newest counts change times as well as modification times: a tree
	// copied in keeping the latter (cp -a, rsync -a) has old ones, and only
	// its change times, which cannot be set back, say it arrived just now.
	newest := e.Newest
	if cutoff := now.Add(-cfg.MinAge); newest.After(cutoff) {
		return id, skip{CauseRecent, fmt.Sprintf("changed %s ago, within the grace period of %s", now.Sub(newest).Round(time.Second), cfg.MinAge)}, nil
	}
	found, err := rows.SessionRows(ctx, c.WorkspaceID, c.SessionID)
	if err != nil {
		return id, skip{}, fmt.Errorf("read the rows of %s: %w", c.Path, err)
	}
	return id, refusal(cfg.PathPrefix, c, found), nil
}

// recheck reads the rows of c again once its directory is in quarantine: a
// row the application inserted after check read them, before the rename,
// would otherwise not stop the move. When one refers to it now, or the
// rows cannot be read (unknown is not "none"), the directory is moved back
// at once; an error that stops the run follows a failed read.
func recheck(ctx context.Context, run *quarantine.Run, rows RowFinder, c Candidate, id quarantine.Identity, st *Step, cfg Config) error {
	found, rerr := rows.SessionRows(ctx, c.WorkspaceID, c.SessionID)
	why := skip{}
	switch {
	case rerr != nil:
		why = skip{CauseRow, fmt.Sprintf("its rows could not be read again after the move (%v); moved back", rerr)}
	default:
		if why = refusal(cfg.PathPrefix, c, found); why.cause == "" {
			return nil
		}
		why.reason += ", appeared while it moved; moved back"
	}
	if err := run.Return(c.Path, id, errors.New(why.reason)); err != nil {
		return fmt.Errorf("%s: %s, and %w", c.Path, why.reason, err)
	}
	st.Action, st.Cause, st.Reason = Skipped, why.cause, why.reason
	if rerr != nil {
		return fmt.Errorf("read the rows of %s again: %w", c.Path, rerr)
	}
	return nil
}

// refusal says why the rows found forbid moving c's directory; the zero
// skip when none does.
func refusal(prefix string, c Candidate, rows []db.Row) skip {
	for _, r := range rows {
		refers, why := refersTo(prefix, c, r)
		if why.cause != "" {
			return why
		}
		if refers && (c.Kind == reconcile.Orphan || r.Live()) {
			return skip{CauseRow, fmt.Sprintf("%s row %d refers to it now", rowState(r), r.ID)}
		}
	}
	return skip{}
}

// refersTo reports whether the row r refers to c's directory: its stored
// path maps onto it, or, with a NULL path, it is the row's conventional
// directory. A stored path that cannot be mapped safely is a skip
// (CauseUnsafePath): it may be meant for it.
func refersTo(prefix string, c Candidate, r db.Row) (bool, skip) {
	if r.StoragePath == nil {
		return r.WorkspaceID == c.WorkspaceID && r.SessionID == c.SessionID, skip{}
	}
	p, err := reconcile.MapPath(prefix, *r.StoragePath)
	if err != nil {
		// A path that names the directory but cannot be trusted:
		// it may be meant for it. Leave it to a person.
		return false, skip{CauseUnsafePath, fmt.Sprintf("%s row %d has a stored path that names it but is unsafe (%v): %q", rowState(r), r.ID, err, *r.StoragePath)}
	}
	return p == c.Path, skip{}
}

func rowState(r db.Row) string {
	if r.Live() {
		return "live"
	}
	return "soft-deleted"
}
