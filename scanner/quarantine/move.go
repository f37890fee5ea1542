package quarantine

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"sessaudit/scanner"
)

// runNameLayout names a run's directory by the time it started, in UTC.
const runNameLayout = "20060102T150405Z"

// RunInfo describes a run for its manifest.
type RunInfo struct {
	// Started is when the run started; it names the run's directory.
	Started time.Time
	// Report is the audit report the run follows, and when that audit
	// finished.
	Report           string
	ReportFinishedAt time.Time
	// Now returns the time of each record; nil means time.Now.
	Now func() time.Time
	// Parts marks a run that moves parts of session directories (Item.Session
	// set): its manifest is version 2, which a sessaudit that knows only
	// whole session directories refuses rather than misreads.
	Parts bool
}

// Run is one reclaim run: a directory in the quarantine and its manifest.
type Run struct {
	q    *Quarantine
	name string
	fd   int
	j    *journal
	// dirs holds the run's directories opened so far (its workspace
	// directories, and for parts the directories below them), by path.
	dirs map[string]int
	// sessions holds, for each part moved, the identity of the session
	// directory it was moved from, by path: Return puts it back only there.
	sessions map[string]Identity
	parts    bool
}

// Begin creates the directory of a new run, named for info.Started, and its
// manifest, and makes both durable before it returns. The first run in a
// quarantine records the root as its owner (OwnerName).
func (q *Quarantine) Begin(info RunInfo) (*Run, error) {
	now := info.Now
	if now == nil {
		now = time.Now
	}
	if err := q.claim(); err != nil {
		return nil, err
	}
	base := info.Started.UTC().Format(runNameLayout)
	name := base
	for i := 2; ; i++ {
		err := q.c.mkdirNew(q.dirFD, name)
		if err == nil {
			break
		}
		if !errors.Is(err, errExist) || i > 100 {
			return nil, fmt.Errorf("create run %s in %s: %w", name, q.dir, err)
		}
		name = fmt.Sprintf("%s-%d", base, i)
	}
	fd, _, err := q.c.openDir(q.dirFD, name)
	if err != nil {
		return nil, fmt.Errorf("open run %s: %w", name, err)
	}
	r := &Run{q: q, name: name, fd: fd, dirs: map[string]int{}, sessions: map[string]Identity{}, parts: info.Parts}
	f, err := q.c.openFileAt(fd, ManifestName, os.O_WRONLY|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o600)
	if err != nil {
		r.Close()
		return nil, fmt.Errorf("create manifest of run %s: %w", name, err)
	}
	r.j = &journal{f: f, now: now, c: q.c}
	// Held until Close: a restore or purge of the run waits for it to end.
	if err := q.c.lock(f); err != nil {
		r.Close()
		return nil, fmt.Errorf("lock manifest of run %s: %w", name, err)
	}
	version := 1
	if info.Parts {
		version = 2
	}
	head := Record{Event: EventRun, Format: manifestFormat, Version: version, Run: name, Root: q.root, Quarantine: q.dir,
		Report: info.Report, Time: info.Started.UTC()}
	if !info.ReportFinishedAt.IsZero() {
		t := info.ReportFinishedAt.UTC()
		head.ReportFinishedAt = &t
	}
	if err := r.j.append(head); err != nil {
		r.Close()
		return nil, err
	}
	// The run directory's entry in the quarantine, and the manifest's in
	// the run directory.
	if err := q.c.syncFD(q.dirFD); err != nil {
		r.Close()
		return nil, fmt.Errorf("sync %s: %w", q.dir, err)
	}
	if err := q.c.syncFD(fd); err != nil {
		r.Close()
		return nil, fmt.Errorf("sync %s: %w", r.Dir(), err)
	}
	return r, nil
}

// Dir returns the run's directory.
func (r *Run) Dir() string { return filepath.Join(r.q.dir, r.name) }

// ManifestPath returns the path of the run's manifest.
func (r *Run) ManifestPath() string { return filepath.Join(r.Dir(), ManifestName) }

// Close closes the run's directories and manifest.
func (r *Run) Close() error {
	var err error
	if r.j != nil {
		err = r.j.close()
		r.j = nil
	}
	for d, fd := range r.dirs {
		closeFD(fd)
		delete(r.dirs, d)
	}
	closeFD(r.fd)
	r.fd = -1
	return err
}

// Item is what is recorded about a directory being moved.
type Item struct {
	Kind   string
	RowIDs []uint64
	// SizeBytes and Files are the directory's size; a part's is not
	// recorded (it is not measured alone: its session's regenerable bytes
	// are), and Restore and Purge count it with no bytes.
	SizeBytes int64
	Files     int64
	// Session is, for a part, the identity of the session directory it is
	// moved from: the move, and any move back, happens only while that
	// directory stands there. Nil for a whole session directory.
	Session *Identity
}

// Move renames the session directory at rel under the root into the run, at
// the same relative path, provided it is still the directory want names:
// reached without a link, a real directory, same device and inode. Else it
// returns an error wrapping ErrChanged, ErrNotDir or fs.ErrNotExist and
// nothing has moved.
//
// rel may also name a part of a session directory, a directory or regular
// file below it ("workspace_<id>/session_<id>/Default/Cache"), in a run
// begun with RunInfo.Parts: it is moved alone, to the same path in the
// run, provided it.Session names the session directory it passes
// through; the run's directories above it are made as needed.
//
// The manifest records the move before the rename (EventMoving) and after
// it (EventMoved), each line fsync-ed, and both directories are fsync-ed
// after the rename: a crash at any point leaves a manifest from which
// exactly what moved can be told. If what arrives in the quarantine is not
// want (it was swapped for something else between the last look and the
// rename), it is renamed back at once and ErrChanged returned.
//
// Any other error (the manifest cannot be written, the rename fails) means
// the run cannot go on safely. A call that does not return within the
// Quarantine's IOTimeout (a stalled NFS server) is such an error, wrapping
// scanner.ErrIOTimeout: nothing more is recorded, since the call may still
// complete (a rename the server received). The manifest then holds the
// moving line, fsync-ed before the rename, and not what became of it, as
// after a crash at that moment; Restore and Purge look for the identity.
func (r *Run) Move(rel string, want Identity, it Item) error {
	pl, err := parsePlace(rel)
	if err != nil {
		return err
	}
	if pl.part() && (it.Session == nil || !r.parts) {
		return fmt.Errorf("move %s: a part of a session directory is moved only by a run begun with Parts, with its session directory's identity", rel)
	}
	srcFD, err := r.q.openDirs(r.q.rootFD, pl.dirs, it.Session)
	if err != nil {
		return fmt.Errorf("move %s: %w", rel, err)
	}
	defer closeFD(srcFD)
	st, err := r.q.entryAt(srcFD, pl.name, pl.part())
	if err != nil {
		return fmt.Errorf("move %s: %w", rel, err)
	}
	if !st.id.Same(want) {
		return fmt.Errorf("move %s: %w", rel, ErrChanged)
	}
	rec := Record{Event: EventMoving, Source: filepath.Join(r.q.root, rel), Destination: filepath.Join(r.Dir(), rel),
		Kind: it.Kind, RowIDs: it.RowIDs, SizeBytes: &it.SizeBytes, Files: &it.Files, Identity: &want, Session: it.Session}
	if pl.part() {
		rec.SizeBytes, rec.Files = nil, nil
	}
	rec.setPath(rel)
	if err := r.j.append(rec); err != nil {
		return err
	}
	// The run's directories above it are made after the moving line: a
	// crash between the two leaves no directory the manifest does not
	// account for.
	dstFD, err := r.dirAt(pl.dirs)
	if err != nil {
		if errors.Is(err, scanner.ErrIOTimeout) {
			return err
		}
		if jerr := r.j.append(r.record(EventNotMoved, rel, err)); jerr != nil {
			return errors.Join(err, jerr)
		}
		return err
	}
	if err := r.q.c.renameNoReplace(srcFD, pl.name, dstFD, pl.name); err != nil {
		err = fmt.Errorf("move %s to %s: %w", rel, r.Dir(), err)
		if errors.Is(err, scanner.ErrIOTimeout) {
			return err // it may yet happen: not_moved would be a lie
		}
		if jerr := r.j.append(r.record(EventNotMoved, rel, err)); jerr != nil {
			return errors.Join(err, jerr)
		}
		return err
	}
	if err := r.syncBoth(srcFD, dstFD); err != nil {
		return err
	}
	got, err := r.q.c.statAt(dstFD, pl.name)
	if err == nil && got.id.Same(want) && got.sameType(st) {
		if it.Session != nil {
			r.sessions[rel] = *it.Session
		}
		return r.j.append(r.record(EventMoved, rel, nil))
	}
	if errors.Is(err, scanner.ErrIOTimeout) {
		return fmt.Errorf("move %s: look at what arrived: %w", rel, err)
	}
	// Something else took the directory's place between the look and the
	// rename: put it back where it was.
	changed := fmt.Errorf("move %s: %w", rel, ErrChanged)
	if err := r.moveBack(rel, pl.name, srcFD, dstFD, changed); err != nil {
		return fmt.Errorf("move %s: something else took its place before the rename: %w", rel, err)
	}
	return changed
}

// Return moves the directory (or part) rel, which Move moved into the run
// (identity want), back to its place under the root, because of why,
// learnt after the move (a row that refers to it appeared meanwhile, the
// session started), and records EventReturned with why. It never replaces
// anything at the place, nor moves what is not want, nor puts a part into
// another session directory than the one it came from: then it is left in
// quarantine, still recorded as moved, and the error says so (ErrExists,
// ErrChanged).
func (r *Run) Return(rel string, want Identity, why error) error {
	pl, err := parsePlace(rel)
	if err != nil {
		return err
	}
	dstFD, ok := r.dirs[pl.dir()]
	if !ok {
		return fmt.Errorf("return %s: %w: not moved by this run", rel, fs.ErrNotExist)
	}
	if got, err := r.q.c.statAt(dstFD, pl.name); err != nil {
		return fmt.Errorf("return %s: %w", rel, err)
	} else if !got.id.Same(want) {
		return fmt.Errorf("return %s: %w: what is in quarantine is not what was moved", rel, ErrChanged)
	}
	var session *Identity
	if id, ok := r.sessions[rel]; ok {
		session = &id
	}
	srcFD, err := r.q.openDirs(r.q.rootFD, pl.dirs, session)
	if err != nil {
		return fmt.Errorf("return %s: %w", rel, err)
	}
	defer closeFD(srcFD)
	if err := r.moveBack(rel, pl.name, srcFD, dstFD, why); err != nil {
		return fmt.Errorf("return %s: %w", rel, err)
	}
	return nil
}

// moveBack renames name from the run (the directory dstFD) back to the
// root (srcFD), makes it durable and records EventReturned for rel with
// why.
func (r *Run) moveBack(rel, name string, srcFD, dstFD int, why error) error {
	if err := r.q.c.renameNoReplace(dstFD, name, srcFD, name); err != nil {
		if errors.Is(err, errExist) || errors.Is(err, errNotEmpty) {
			err = fmt.Errorf("%w: something was created at its place", ErrExists)
		}
		return fmt.Errorf("moving it back failed (it is at %s): %w", filepath.Join(r.Dir(), rel), err)
	}
	if err := r.syncBoth(srcFD, dstFD); err != nil {
		return err
	}
	return r.j.append(r.record(EventReturned, rel, why))
}

func (r *Run) record(event, rel string, err error) Record {
	rec := Record{Event: event}
	rec.setPath(rel)
	if err != nil {
		rec.Error = err.Error()
	}
	return rec
}

// syncBoth makes a rename between two directories durable.
func (r *Run) syncBoth(a, b int) error {
	if err := r.q.c.syncFD(a); err != nil {
		return fmt.Errorf("sync directory after rename: %w", err)
	}
	if err := r.q.c.syncFD(b); err != nil {
		return fmt.Errorf("sync directory after rename: %w", err)
	}
	return nil
}

// dirAt returns the run's directory at dirs (a workspace directory, or
// for a part the directories down to its own), making each that is not
// there yet.
func (r *Run) dirAt(dirs []string) (int, error) {
	fd := r.fd
	for i, d := range dirs {
		key := strings.Join(dirs[:i+1], "/")
		if next, ok := r.dirs[key]; ok {
			fd = next
			continue
		}
		if err := r.q.c.mkdirAt(fd, d); err != nil {
			return -1, fmt.Errorf("create %s in run %s: %w", key, r.name, err)
		}
		if err := r.q.c.syncFD(fd); err != nil {
			return -1, fmt.Errorf("sync %s: %w", filepath.Join(r.Dir(), filepath.Dir(key)), err)
		}
		next, _, err := r.q.openDir(fd, d)
		if err != nil {
			return -1, fmt.Errorf("open %s in run %s: %w", key, r.name, err)
		}
		r.dirs[key] = next
		fd = next
	}
	return fd, nil
}
