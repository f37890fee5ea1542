package quarantine

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"sessaudit/scanner"
)

// PurgeConfig controls Purge.
type PurgeConfig struct {
	// OlderThan is how long a run must have been left alone: the latest
	// line of its manifest must be older.
	OlderThan time.Duration
	// Now is the present; the zero time means time.Now().
	Now time.Time
	// Yes deletes; without it Purge only says what it would delete.
	Yes bool
	// OnStep, when set, hears of each directory and run as it is dealt
	// with.
	OnStep func(Step)
	// IOTimeout bounds each filesystem call, as Config.IOTimeout does for
	// Open: a call that does not return in time stops Purge with an error
	// wrapping scanner.ErrIOTimeout, and nothing more is deleted or
	// recorded (a deletion not recorded is done again, or found done, by
	// the next Purge).
	IOTimeout time.Duration
}

// Purge deletes, in the quarantine directory dir, the runs whose manifest's
// latest line is older than cfg.OlderThan: of each, exactly the directories
// its manifest lists as moved and that are still the directories that were
// moved (same device and inode), then the run's emptied workspace
// directories, its manifest and its directory. Anything else found in a run
// is left with the manifest, and reported. Entries of dir that are not runs
// (no manifest, a link, a file) are never touched, but for what a reclaim
// killed at its start leaves (see unfinished): removed once the time its
// name gives is older than cfg.OlderThan. Nothing is followed
// through a link and no other filesystem is entered.
//
// An error means Purge could not read dir, could not record a deletion, or
// a filesystem call did not return in time.
func Purge(dir string, cfg PurgeConfig) (Result, error) {
	var res Result
	if cfg.Now.IsZero() {
		cfg.Now = time.Now()
	}
	c := newCalls(cfg.IOTimeout)
	dirFD, dirSt, err := c.openPath(dir)
	if err != nil {
		return res, fmt.Errorf("open quarantine %s: %w", dir, err)
	}
	defer closeFD(dirFD)
	names, err := c.listNames(dirFD)
	if err != nil {
		return res, fmt.Errorf("list quarantine %s: %w", dir, err)
	}
	slices.Sort(names)
	p := &purger{cfg: cfg, dirFD: dirFD, on: dirSt, res: &res, c: c}
	for _, name := range names {
		if isOwnerFile(name) {
			continue
		}
		if err := p.run(name); err != nil {
			return res, err
		}
		if c.hung != nil {
			return res, fmt.Errorf("purge run %s: %w", name, c.hung)
		}
	}
	return res, nil
}

type purger struct {
	cfg   PurgeConfig
	dirFD int
	// on is the quarantine directory's stat: nothing is deleted on another
	// device or mount.
	on  fileStat
	res *Result
	c   *calls
}

// step reports s, unless a call hung: then what s says of the failure is
// not known, and Purge stops without it.
func (p *purger) step(s Step, done bool) {
	if p.c.hung != nil && !done {
		return
	}
	p.res.add(s, done)
	if p.cfg.OnStep != nil {
		p.cfg.OnStep(s)
	}
}

// run purges the run called name, if it is one and old enough.
func (p *purger) run(name string) error {
	ignore := func(why string) error {
		p.step(Step{Run: name, Action: Ignored, Err: errors.New(why)}, false)
		return nil
	}
	fd, st, err := p.c.openDir(p.dirFD, name)
	switch {
	case errors.Is(err, ErrNotDir):
		return ignore("not a run: not a directory")
	case err != nil:
		return ignore(err.Error())
	}
	defer closeFD(fd)
	if err := sameMount(st, p.on); err != nil {
		return ignore(err.Error())
	}
	m, j, err := p.manifest(fd)
	if errors.Is(err, ErrBusy) {
		p.res.Runs++
		p.step(Step{Run: name, Action: Kept, Err: err}, false)
		return nil
	}
	if err != nil {
		if started, ok := p.unfinished(name, fd); ok {
			return p.removeUnfinished(name, fd, started)
		}
		return ignore("not a run: " + err.Error())
	}
	if j != nil {
		defer j.close()
	}
	if m.Header.Run != name {
		return ignore(fmt.Sprintf("its manifest is of run %q", m.Header.Run))
	}
	p.res.Runs++
	// A run a purge has begun deleting is finished whatever its age: its
	// own purging lines made it young again.
	if age := p.cfg.Now.Sub(m.Newest); age < p.cfg.OlderThan && !m.purging() {
		p.step(Step{Run: name, Action: TooYoung}, false)
		return nil
	}
	q := &Quarantine{dev: p.on.id.Dev, mnt: p.on.mnt, rootFD: -1, dirFD: -1, c: p.c}
	problems := false
	var dirs []string
	for _, e := range m.Entries {
		pl, _ := parsePlace(e.Path)
		for i := range pl.dirs {
			dirs = append(dirs, strings.Join(pl.dirs[:i+1], "/"))
		}
		s, done, err := p.entry(q, fd, name, j, e)
		if err != nil {
			return err
		}
		if s.Action == "" {
			continue // nothing of it in quarantine
		}
		problems = problems || s.Problem()
		p.step(s, done)
	}
	if !p.cfg.Yes {
		if !problems {
			// The plan names the run --yes would then remove, as it
			// names the directories.
			p.res.RunsToRemove++
			p.step(Step{Run: name, Action: WouldRemoveRun}, false)
		}
		return nil
	}
	if problems {
		return nil
	}
	return p.removeRun(q, name, fd, j, dirs)
}

// purgingName is where Purge puts a directory just before it deletes it:
// a name Restore never looks at, so that no restore can take a directory
// back while it is being deleted, nor after a purge cut short.
func purgingName(sess string) string { return ".purging." + sess }

// entry deletes the directory of one entry of the run runFD (named run), or with Yes
// unset says it would. The step's Action is empty when nothing of it is in
// quarantine. The error is one that stops Purge.
//
// With Yes, the order is what keeps restore away: the purging line is
// written and fsync-ed, the directory renamed to purgingName in its
// workspace directory (a restore that took it first leaves the rename
// nothing to take), and only then deleted, then the purged line written. A
// purge cut short anywhere in this is finished by the next one: the
// purging line says to look for the directory under either name.
func (p *purger) entry(q *Quarantine, runFD int, run string, j *journal, e Entry) (Step, bool, error) {
	pl, _ := parsePlace(e.Path)
	sess := pl.name
	s := Step{Run: run, Path: e.Path}
	if e.Moving.SizeBytes != nil {
		s.SizeBytes = *e.Moving.SizeBytes
	}
	if e.State != EventMoving && e.State != EventMoved && e.State != EventPurging {
		return Step{}, false, nil // never arrived, gone back, or deleted already
	}
	notDeleted := func(err error) (Step, bool, error) {
		s.Action, s.Err = NotDeleted, err
		return s, false, nil
	}
	wsFD, err := q.openDirs(runFD, pl.dirs, nil)
	if err == nil {
		defer closeFD(wsFD)
	}
	name := sess
	var got fileStat
	if err == nil && e.State == EventPurging {
		name = purgingName(sess)
		if got, err = q.entryAt(wsFD, name, pl.part()); errors.Is(err, fs.ErrNotExist) {
			name = sess // cut short before the rename
			got, err = q.entryAt(wsFD, name, pl.part())
		}
	} else if err == nil {
		got, err = q.entryAt(wsFD, name, pl.part())
	}
	switch {
	case errors.Is(err, fs.ErrNotExist) && e.State != EventMoved:
		// moving: the rename never happened; purging: deleted whole by a
		// purge cut short before its purged line (or, where no lock is
		// shared, taken back by a restore that came first).
		return Step{}, false, nil
	case err != nil:
		return notDeleted(err)
	case e.Moving.Identity == nil || !got.id.Same(*e.Moving.Identity):
		return notDeleted(fmt.Errorf("%w: not the directory that was moved", ErrChanged))
	}
	if !p.cfg.Yes {
		s.Action = WouldDelete
		return s, true, nil
	}
	if e.State != EventPurging {
		rec := Record{Event: EventPurging}
		rec.setPath(e.Path)
		if err := j.append(rec); err != nil {
			return s, false, err
		}
	}
	if name == sess {
		name = purgingName(sess)
		if err := p.c.renameNoReplace(wsFD, sess, wsFD, name); err != nil {
			return notDeleted(fmt.Errorf("move aside to %s before deleting: %w", name, err))
		}
		if err := p.c.syncFD(wsFD); err != nil {
			return s, false, fmt.Errorf("sync after moving %s aside: %w", e.Path, err)
		}
		// What was renamed must be what was looked at.
		if got, err = q.entryAt(wsFD, name, pl.part()); err != nil || !got.id.Same(*e.Moving.Identity) {
			if err == nil {
				err = fmt.Errorf("%w: not the directory that was moved", ErrChanged)
			}
			return notDeleted(fmt.Errorf("moved aside to %s: %w", name, err))
		}
	}
	if err := p.c.removeTree(wsFD, name, p.on); err != nil {
		return notDeleted(fmt.Errorf("delete: %w", err))
	}
	rec := Record{Event: EventPurged}
	rec.setPath(e.Path)
	if err := j.append(rec); err != nil {
		return s, false, err
	}
	s.Action = Deleted
	return s, true, nil
}

// unfinished reports whether the directory name (open as fd), which holds
// no manifest that can be read, is a run a reclaim killed at its start
// left: named as Begin names a run, holding nothing but, at most, a
// manifest whose first line, the run line, was never finished (empty, or
// the start of a run line with no newline). It returns when the run
// started, as its name says.
func (p *purger) unfinished(name string, fd int) (time.Time, bool) {
	base, suffix, numbered := strings.Cut(name, "-")
	started, err := time.Parse(runNameLayout, base)
	if err != nil {
		return time.Time{}, false
	}
	if _, err := strconv.ParseUint(suffix, 10, 8); numbered && err != nil {
		return time.Time{}, false
	}
	names, err := p.c.listNames(fd)
	if err != nil || len(names) > 1 || (len(names) == 1 && names[0] != ManifestName) {
		return time.Time{}, false
	}
	if len(names) == 0 {
		return started, true
	}
	f, err := p.c.openFileAt(fd, ManifestName, os.O_RDONLY, 0)
	if err != nil {
		return time.Time{}, false
	}
	defer f.Close()
	var data []byte
	if err := p.c.do("read manifest", func() (err error) { data, err = io.ReadAll(io.LimitReader(f, 1<<16)); return err }, nil); err != nil {
		return time.Time{}, false
	}
	cut := !bytes.Contains(data, []byte("\n")) && (len(data) == 0 || bytes.HasPrefix(data, []byte(`{"event":"run"`)))
	return started, cut
}

// removeUnfinished removes a run unfinished found, once it is older than
// OlderThan by the time its name gives.
func (p *purger) removeUnfinished(name string, fd int, started time.Time) error {
	p.res.Runs++
	switch {
	case p.cfg.Now.Sub(started) < p.cfg.OlderThan:
		p.step(Step{Run: name, Action: TooYoung}, false)
		return nil
	case !p.cfg.Yes:
		p.res.RunsToRemove++
		p.step(Step{Run: name, Action: WouldRemoveRun}, false)
		return nil
	}
	if err := p.c.unlinkAt(fd, ManifestName); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove manifest of run %s: %w", name, err)
	}
	if removed, err := p.c.removeEmptyDir(p.dirFD, name); err != nil {
		return fmt.Errorf("remove run %s: %w", name, err)
	} else if !removed {
		p.step(Step{Run: name, Action: Kept, Err: errors.New("something was written into it meanwhile")}, false)
		return nil
	}
	p.res.RunsRemoved++
	p.step(Step{Run: name, Action: RemovedRun}, false)
	return nil
}

// manifest reads the run's manifest; with Yes it is opened for appending.
func (p *purger) manifest(runFD int) (*Manifest, *journal, error) {
	if p.cfg.Yes {
		j, m, err := openJournal(p.c, runFD, time.Now)
		return m, j, err
	}
	f, err := p.c.openFileAt(runFD, ManifestName, os.O_RDONLY, 0)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	m, err := p.c.readManifest(f)
	return m, nil, err
}

// removeRun removes the run's emptied directories (its workspace
// directories, and those below them that held parts), deepest first, and
// then its manifest and directory when nothing else is left in it. An empty
// workspace directory the manifest does not list goes too: a reclaim
// killed after it created one and before its first line (older versions
// created it first) left nothing in it.
func (p *purger) removeRun(q *Quarantine, name string, fd int, j *journal, dirs []string) error {
	names, err := p.c.listNames(fd)
	if err != nil {
		p.step(Step{Run: name, Action: Kept, Err: err}, false)
		return nil
	}
	for _, n := range names {
		if _, ok := scanner.ParseWorkspace(n); ok {
			dirs = append(dirs, n)
		}
	}
	slices.SortFunc(dirs, func(a, b string) int {
		if c := strings.Count(b, "/") - strings.Count(a, "/"); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	for _, d := range slices.Compact(dirs) {
		parent, base := fd, d
		if i := strings.LastIndexByte(d, '/'); i >= 0 {
			parent, err = q.openDirs(fd, strings.Split(d[:i], "/"), nil)
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			if err != nil {
				p.step(Step{Run: name, Action: Kept, Err: fmt.Errorf("remove %s: %w", d, err)}, false)
				return nil
			}
			base = d[i+1:]
		}
		_, err := p.c.removeEmptyDir(parent, base)
		if parent != fd {
			closeFD(parent)
		}
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			p.step(Step{Run: name, Action: Kept, Err: fmt.Errorf("remove %s: %w", d, err)}, false)
			return nil
		}
	}
	left, err := p.c.listNames(fd)
	if err != nil {
		p.step(Step{Run: name, Action: Kept, Err: err}, false)
		return nil
	}
	if left = slices.DeleteFunc(left, func(n string) bool { return n == ManifestName }); len(left) > 0 {
		p.step(Step{Run: name, Action: Kept, Err: fmt.Errorf("holds %d entries its manifest does not list, such as %q", len(left), left[0])}, false)
		return nil
	}
	if err := p.c.unlinkAt(fd, ManifestName); err != nil {
		return fmt.Errorf("remove manifest of run %s: %w", name, err)
	}
	if _, err := p.c.removeEmptyDir(p.dirFD, name); err != nil {
		return fmt.Errorf("remove run %s: %w", name, err)
	}
	p.res.RunsRemoved++
	p.step(Step{Run: name, Action: RemovedRun}, false)
	return nil
}
