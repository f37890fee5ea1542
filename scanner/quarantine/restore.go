package quarantine

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"time"
)

// Step is what Restore or Purge did with one directory, or with a run.
type Step struct {
	// Run is the run's name.
	Run string
	// Path is the directory's path relative to the root and the run; empty
	// for a step about the whole run.
	Path string
	// Action says what happened: one of the Actions below.
	Action string
	// SizeBytes is the size the manifest recorded.
	SizeBytes int64
	// Err says why, when the directory was left alone for a reason that
	// needs a person (then the command exits 1).
	Err error
}

// Actions of a Step. Restore's, one per directory of the manifest:
const (
	Restored    = "restored"
	AlreadyBack = "already back"
	NotMoved    = "not moved"
	NotRestored = "not restored" // Err says why
)

// Purge's, per directory (Path set) and per run (Path empty).
const (
	Deleted     = "deleted"
	WouldDelete = "would delete" // without Yes
	NotDeleted  = "not deleted"  // Err says why
	TooYoung    = "too young"    // a run not old enough
	Kept        = "kept"         // a run kept for what it still holds; Err says what
	RemovedRun  = "removed run"
	// WouldRemoveRun is a run Purge without Yes would remove whole: one
	// old enough, all of whose directories it would delete.
	WouldRemoveRun = "would remove run"
	Ignored        = "ignored" // not a run; Err says why
)

// Problem reports whether the step needs a person.
func (s Step) Problem() bool { return s.Err != nil }

// Result counts what Restore or Purge did.
type Result struct {
	// Done is the directories restored (Restore) or deleted, or to be
	// deleted without Yes (Purge); Bytes their recorded size.
	Done  int
	Bytes int64
	// Problems is the steps that need a person.
	Problems int
	// Runs is the runs looked at and RunsRemoved those Purge removed whole;
	// RunsToRemove, of a Purge without Yes, those it would remove.
	Runs, RunsRemoved, RunsToRemove int
}

func (r *Result) add(s Step, done bool) {
	if done {
		r.Done++
		r.Bytes += s.SizeBytes
	}
	if s.Problem() {
		r.Problems++
	}
}

// RestoreConfig controls Restore. The zero value restores to the root the
// manifest names.
type RestoreConfig struct {
	// Root, when set, is where the share is mounted now, if not where the
	// manifest says. It must still be the root the quarantine belongs to
	// (see Restore).
	Root string
	// OnStep, when set, hears of each directory as it is dealt with.
	OnStep func(Step)
	// Now returns the time of each record; nil means time.Now.
	Now func() time.Time
	// IOTimeout bounds each filesystem call, as Config.IOTimeout does for
	// Open: a call that does not return in time stops Restore with an
	// error wrapping scanner.ErrIOTimeout, and nothing more is moved or
	// recorded (a directory moved back but not recorded is found back by
	// the next Restore).
	IOTimeout time.Duration
}

// Restore moves every directory the manifest at manifestPath lists as moved
// back to its place under the root, by rename, and records each in the
// manifest. It never replaces anything at the place: such a directory is
// reported (Step.Err wraps ErrExists) and left in quarantine, and Restore
// goes on with the rest. A directory in quarantine that is not the one that
// was moved (another identity) is reported and left alone too. Restore may
// be run again: what is back already is counted as such.
//
// Restore moves nothing unless the run lies where its manifest says, in
// the quarantine the manifest names (unless cfg.Root is given), and the
// root is the one that quarantine belongs to: the root its OwnerName file
// names, the same path or the same directory; for a quarantine without
// one, its parent when it is ROOT/scanner.QuarantineName, or else only
// cfg.Root, which then must be given. A manifest is a file anyone may
// edit: it is not taken on its word for where the directories go (such a
// refusal wraps ErrBadPlace).
//
// An error means Restore could not start (the manifest cannot be read, the
// root is not on the run's filesystem or not the quarantine's root, the
// run is in use: ErrBusy), could not record what it did, or a
// filesystem call did not return in time (it then stops).
func Restore(manifestPath string, cfg RestoreConfig) (Result, error) {
	var res Result
	if filepath.Base(manifestPath) != ManifestName {
		return res, fmt.Errorf("%w: %s is not named %s", ErrNotManifest, manifestPath, ManifestName)
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	c := newCalls(cfg.IOTimeout)
	runDir, err := c.resolve(filepath.Dir(manifestPath))
	if err != nil {
		return res, fmt.Errorf("run: %w", err)
	}
	runFD, runSt, err := c.openPath(runDir)
	if err != nil {
		return res, fmt.Errorf("open run %s: %w", runDir, err)
	}
	defer closeFD(runFD)
	j, m, err := openJournal(c, runFD, now)
	if errors.Is(err, ErrBusy) {
		return res, fmt.Errorf("%s: %w; nothing was restored: run restore again once it is done", manifestPath, err)
	}
	if err != nil {
		return res, fmt.Errorf("%s: %w", manifestPath, err)
	}
	defer j.close()
	root := m.Header.Root
	if cfg.Root != "" {
		root = cfg.Root
	}
	if root, err = c.resolve(root); err != nil {
		return res, fmt.Errorf("root: %w", err)
	}
	rootFD, rootSt, err := c.openPath(root)
	if err != nil {
		return res, fmt.Errorf("open root %s: %w", root, err)
	}
	defer closeFD(rootFD)
	if err := checkRestore(c, m, runDir, root, rootSt.id, cfg.Root != ""); err != nil {
		return res, fmt.Errorf("%s: %w; nothing was restored", manifestPath, err)
	}
	if rootSt.id.Dev != runSt.id.Dev {
		return res, fmt.Errorf("%w: root %s and run %s", ErrOtherFilesystem, root, runDir)
	}
	q := &Quarantine{root: root, dir: filepath.Dir(runDir), dev: rootSt.id.Dev, mnt: rootSt.mnt, rootFD: rootFD, dirFD: -1, c: c}
	if !q.onMount(runSt) {
		return res, fmt.Errorf("%w: root %s and run %s are different mounts (a bind mount?)", ErrOtherFilesystem, root, runDir)
	}
	rs := &restorer{q: q, runFD: runFD, run: m.Header.Run, j: j}
	res.Runs = 1
	for _, e := range m.Entries {
		s, done, err := rs.restore(e)
		if err != nil {
			return res, err
		}
		res.add(s, done)
		if cfg.OnStep != nil {
			cfg.OnStep(s)
		}
	}
	return res, nil
}

type restorer struct {
	q     *Quarantine
	runFD int
	run   string
	j     *journal
}

// restore deals with one entry. The error is one that stops Restore.
func (rs *restorer) restore(e Entry) (Step, bool, error) {
	s := Step{Run: rs.run, Path: e.Path}
	if e.Moving.SizeBytes != nil {
		s.SizeBytes = *e.Moving.SizeBytes
	}
	switch e.State {
	case EventMoving, EventMoved:
	case EventRestored:
		s.Action = AlreadyBack
		return s, false, nil
	case EventPurged:
		s.Action, s.Err = NotRestored, errors.New("purged: deleted from quarantine")
		return s, false, nil
	case EventPurging:
		s.Action, s.Err = NotRestored, errors.New("a purge has begun deleting it (and was cut short, or is running on a host that does not share the lock): what is left is not restored; purge --yes deletes the rest")
		return s, false, nil
	default: // not moved, or moved back at once
		s.Action = NotMoved
		return s, false, nil
	}
	want := Identity{}
	if e.Moving.Identity != nil {
		want = *e.Moving.Identity
	}
	pl, _ := parsePlace(e.Path)
	fail := func(err error) (Step, bool, error) {
		if rs.q.c.hung != nil {
			// A call hung: what became of the directory is not known,
			// and Restore stops.
			return s, false, fmt.Errorf("restore %s: %w", e.Path, rs.q.c.hung)
		}
		s.Action, s.Err = NotRestored, err
		return s, false, nil
	}

	st, from, err := rs.inQuarantine(pl)
	defer closeFD(from)
	switch {
	case rs.q.c.hung != nil:
		return fail(err)
	case errors.Is(err, fs.ErrNotExist):
		// Not in quarantine: not moved (a crash before the rename), or
		// restored already (a crash before the record)?
		if e.State == EventMoving {
			s.Action = NotMoved
			return s, false, rs.j.append(rs.record(EventNotMoved, e.Path))
		}
		if back, err := rs.q.Look(e.Path); err == nil && back.Same(want) {
			s.Action = AlreadyBack
			return s, false, rs.j.append(rs.record(EventRestored, e.Path))
		} else if rs.q.c.hung != nil {
			return fail(err)
		}
		return fail(fmt.Errorf("not in quarantine at %s", e.Path))
	case err != nil:
		return fail(err)
	case !st.id.Same(want):
		return fail(fmt.Errorf("%w: the directory in quarantine is not the one that was moved", ErrChanged))
	}
	to, err := rs.q.openDirs(rs.q.rootFD, pl.dirs, e.Moving.Session)
	if errors.Is(err, fs.ErrNotExist) && !pl.part() {
		return fail(fmt.Errorf("its workspace directory %s is gone; create it and restore again: %w", pl.dir(), err))
	}
	if errors.Is(err, fs.ErrNotExist) {
		return fail(fmt.Errorf("the directory it was moved from is gone: %w", err))
	}
	if err != nil {
		return fail(err)
	}
	defer closeFD(to)
	if err := rs.q.c.renameNoReplace(from, pl.name, to, pl.name); err != nil {
		if errors.Is(err, errExist) || errors.Is(err, errNotEmpty) {
			err = fmt.Errorf("%w: %s; not overwritten, left in quarantine", ErrExists, filepath.Join(rs.q.root, e.Path))
		}
		return fail(err)
	}
	if err := rs.q.c.syncFD(from); err != nil {
		return s, false, fmt.Errorf("sync after restoring %s: %w", e.Path, err)
	}
	if err := rs.q.c.syncFD(to); err != nil {
		return s, false, fmt.Errorf("sync after restoring %s: %w", e.Path, err)
	}
	s.Action = Restored
	return s, true, rs.j.append(rs.record(EventRestored, e.Path))
}

// inQuarantine looks at the entry at pl in the run and returns it with the
// run's directory holding it open (or -1).
func (rs *restorer) inQuarantine(pl place) (fileStat, int, error) {
	fd, err := rs.q.openDirs(rs.runFD, pl.dirs, nil)
	if err != nil {
		return fileStat{}, -1, err
	}
	st, err := rs.q.entryAt(fd, pl.name, pl.part())
	return st, fd, err
}

func (rs *restorer) record(event, rel string) Record {
	rec := Record{Event: event}
	rec.setPath(rel)
	return rec
}
