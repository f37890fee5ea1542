package scanner

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// stat is what sizing needs to know about one directory entry, read without
// following a symbolic link. The afero walk fills it from an os.FileInfo, the
// native walk from statx; both size it with session.add.
type stat struct {
	mode  fs.FileMode // only the type bits are used
	size  int64
	mtime int64 // Unix nanoseconds; noTime when unknown
	// The rest is known only when sys is set (not on afero's MemMapFs).
	sys       bool
	dev, ino  uint64
	nlink     uint64
	blocks512 int64
	// ctime and btime are in Unix nanoseconds, 0 when unknown; btime is
	// read only for directories opened, not for every entry.
	ctime, btime int64
	// node is the entry's node on afero's MemMapFs, which has no inodes.
	node any
}

// noTime marks an unknown modification time.
const noTime = math.MinInt64

func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return noTime
	}
	return t.UnixNano()
}

// tally is what one goroutine measured of a session before it merges it.
type tally struct {
	usage  Usage
	newest int64
	// oldest is the earliest change time of an entry, written the latest
	// change time of a regular file (see Entry.Oldest and Entry.Written);
	// noTime when none was seen.
	oldest, written int64
	// overflow: a sum of usage did not fit in an int64 (usage is then
	// meaningless; addDir and addOther cannot overflow before addFile does,
	// as each adds 2 KiB per entry).
	overflow bool
	// place is where the directory whose entries are added stands in the
	// session (tallyIn), and parts what they are part of.
	place place
	parts parts
}

func newTally() tally {
	return tally{newest: noTime, oldest: noTime, written: noTime, parts: newParts()}
}

// changeTime is when st last changed: its ctime, or its modification time
// where the filesystem gives no ctime (afero's MemMapFs).
func changeTime(st *stat) int64 {
	if st.ctime != 0 {
		return st.ctime
	}
	return st.mtime
}

// newestOf is the latest change of st: its modification time or its change
// time, whichever is later (see Entry.Newest).
func newestOf(st *stat) int64 {
	return max(st.mtime, changeTime(st))
}

// note adds st's times to t.
func (t *tally) note(st *stat) {
	t.newest = max(t.newest, newestOf(st))
	if ct := changeTime(st); ct != noTime {
		if t.oldest == noTime || ct < t.oldest {
			t.oldest = ct
		}
		if st.mode.IsRegular() {
			t.written = max(t.written, ct)
		}
	}
}

// session accumulates the measurement of one session directory across the
// goroutines that read its directories.
type session struct {
	entry Entry
	// dev is the device of the session directory; a directory on another
	// device is a mounted filesystem and is not entered. Known when sys.
	dev uint64
	sys bool
	// pending counts the goroutines still working on the session; the last
	// one to finish reports it.
	pending atomic.Int64
	failedF atomic.Bool

	mu       sync.Mutex
	usage    Usage
	newest   int64
	oldest   int64
	written  int64
	err      error
	vanished bool
	changed  string
	links    map[fileID]struct{}
	parts    parts

	// self is the session directory's own stat when it was opened, and
	// restat reads it again once everything under it was measured (and
	// closes what it holds); both set by walker.session.
	self   stat
	restat *restat
	// settledBefore is when, in Unix nanoseconds, the session's directories
	// must have last changed: Quiet before its measurement began.
	settledBefore int64
	// reported, when set, is called once the session is done with,
	// reported or not (MeasureEach's turns).
	reported func()
}

// Reasons for Entry.Changed.
const (
	changedVanished = "an entry vanished while it was measured"
	changedRemoved  = "the session directory was removed while it was measured"
	changedReplaced = "the session directory was replaced while it was measured"
	changedCtime    = "the session directory's change time moved while it was measured"
	changedRecently = "a directory in it had entries added or removed moments before or while it was measured"
	changedDirGone  = "a directory in it vanished while it was measured"
	changedRewrite  = "a file in it kept being rewritten while it was measured"
)

// ChangedByWriting reports whether reason, an Entry.Changed, is one that a
// session being written gives while its directories stand: entries added,
// removed or renamed, or files vanishing, under directories that all stood.
// The others are not: the session directory removed or replaced, or a
// directory of it vanishing (a tree being deleted loses its directories; a
// writer adds and removes files in standing ones), or a file that kept being
// rewritten (its size is not known).
func ChangedByWriting(reason string) bool {
	switch reason {
	case changedVanished, changedCtime, changedRecently:
		return true
	}
	return false
}

type fileID struct{ dev, ino uint64 }

// Quiet is how long before its measurement began a session's directories
// must have stood unchanged (by their ctime, which the open of each already
// reads) for the measurement to be of a tree that stood. A tree being
// deleted (rm -rf works deepest first) or copied in looks, read in a
// moment, exactly like a smaller tree; only the recent change times of its
// directories tell. A live session writes into its files far more often
// than it adds or removes entries, and a session that does is measured again
// on a later run. On a network filesystem the change times come from the
// server's clock: one ahead of this host's by more than this makes every
// session look unsettled (visible: nothing is verified), one behind makes
// the check weaker, never wrong the other way.
const Quiet = 2 * time.Second

func newSession(e Entry) *session {
	return &session{entry: e, parts: newParts(), newest: noTime, oldest: noTime, written: noTime, settledBefore: time.Now().Add(-Quiet).UnixNano()}
}

// FileSettle is how long a regular file modified moments before it was
// looked at (within Quiet before the session's measurement began, by its
// modification time) must then stand unchanged for its size to count: it
// is looked at again FileSettle after, and counted when its size, times and
// inode are the same. A writer that rewrites a file in place (Node's
// writeFile, which Baileys uses: open with O_TRUNC, then write in chunks of
// at most 512 KiB) changes no directory, and a file caught between its
// truncation and its last write would count empty or short. Such a writer
// pauses between those steps for a thread-pool round trip and a turn of its
// event loop, far less than FileSettle; one that stalls for longer in the
// middle of a rewrite can still be counted at a size it had mid-write. A
// file that changed at every look, fileLooks of them, leaves the session
// Changed.
const FileSettle = 100 * time.Millisecond

// fileLooks is how many times a file modified moments before it was first
// looked at is looked at again, FileSettle apart, before the session is
// left Changed: a file rewritten 5 times a second (each rewrite a few
// milliseconds) stands still over FileSettle about one time in two, and
// over none of five looks about once in 40.
const fileLooks = 5

// recentFile is a regular file of a session modified moments before it was
// looked at: its size counts once it stood unchanged for FileSettle.
type recentFile struct {
	name string
	st   stat
	at   time.Time // when st was read
}

// recent reports whether st is a regular file modified moments before or
// while the session was measured, whose size counts only once it stood
// still (see FileSettle). A file rewritten in place changes no directory:
// only its own times tell. Its modification time, not its change time,
// tells: a writer moves it at every write, and a tree whose times were set
// back (a copy, a generated tree) is not looked at twice.
func (s *session) recent(st *stat) bool {
	return st.mode.IsRegular() && st.mtime != noTime && st.mtime >= s.settledBefore
}

// emptied reports whether st, a regular file that reads empty with times
// from before the session's measurement began, may be a file caught inside
// a truncation rather than an empty one. A rewrite in place (O_TRUNC) sets
// the file's new size, then frees its blocks, and only then its new times:
// for that moment it reads empty with its old times, which recent does not
// see. An empty file that still holds blocks is in that moment (or was
// allocated ahead, which standing still for FileSettle tells); one that
// holds none, or whose blocks are unknown, is looked at again at once, one
// more lstat per empty file (LOCK files and the like; a session holds few).
func (s *session) emptied(st *stat) bool {
	return st.mode.IsRegular() && st.size == 0 && !s.recent(st)
}

// truncating reports whether st, an empty regular file looked at again by
// emptied's rule, is still in a truncation: it holds blocks, or its times
// are now recent. Such a file counts only once it stood still (steady).
func (s *session) truncating(st *stat) bool {
	return s.recent(st) || st.mode.IsRegular() && st.size == 0 && st.blocks512 > 0
}

// sameFile reports whether b, a file looked at again, is a as it was: the
// same inode, size and times (the block count is not compared: a delayed
// allocation changes it without a write).
func sameFile(a, b *stat) bool {
	return a.mode == b.mode && a.size == b.size && a.mtime == b.mtime && a.ctime == b.ctime &&
		a.dev == b.dev && a.ino == b.ino && a.node == b.node
}

// steady sizes into t the files of one directory that were modified moments
// before they were looked at, each once it stood unchanged for FileSettle,
// looking at them again with look (by name in their directory, without
// following a link). A file that vanished is not counted, as one that
// vanished between listing and lstat; one that changed at every look is
// counted as last seen and leaves the session Changed. Its only error is
// errDetached; others fail s.
func (s *session) steady(ctx context.Context, t *tally, files []recentFile, look func(name string) (stat, error)) error {
	for try := 0; len(files) > 0; try++ {
		if try == fileLooks {
			s.change(changedRewrite)
			for i := range files {
				s.add(t, files[i].name, &files[i].st)
			}
			return nil
		}
		var last time.Time
		for _, f := range files {
			last = later(last, f.at)
		}
		if err := sleep(ctx, time.Until(last.Add(FileSettle))); err != nil {
			return nil // done reports the cancellation
		}
		kept := files[:0]
		for _, f := range files {
			st, err := look(f.name)
			switch {
			case errors.Is(err, errDetached):
				return err
			case errors.Is(err, fs.ErrNotExist) || err == nil && !st.mode.IsRegular():
				s.change(changedVanished)
				continue
			case err != nil:
				s.fail(err)
				return nil
			case sameFile(&f.st, &st):
				s.add(t, f.name, &st)
				continue
			}
			kept = append(kept, recentFile{name: f.name, st: st, at: time.Now()})
		}
		files = kept
	}
	return nil
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// sleep waits for d, or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// opened notes a directory of the session that was opened, with its stat as
// read then: one whose entries changed moments before or while the session
// was measured makes the measurement Changed.
func (s *session) opened(st *stat) {
	if st.ctime != 0 && st.ctime >= s.settledBefore {
		s.change(changedRecently)
	}
}

// add sizes one entry of the session, name in the directory t tallies,
// into t, under the size rules of docs/guarantees.md, and notes what part
// of the session it is (parts.note), and reports whether it is a
// directory to descend into. It is the one place where an entry becomes
// bytes. name is needed only where t.entryName gives it.
func (s *session) add(t *tally, name string, st *stat) bool {
	before := t.usage
	descend := s.addUsage(t, st)
	t.parts.note(t.place, name, st, t.usage.minus(before))
	return descend
}

// addUsage is add's sizing.
func (s *session) addUsage(t *tally, st *stat) bool {
	t.note(st)
	switch {
	case st.mode.IsDir():
		if s.sys && st.sys && st.dev != s.dev {
			return false // another filesystem mounted here is not entered
		}
		t.usage.addDir()
		return true
	case st.mode.IsRegular():
		allocated := st.size
		if st.sys {
			if st.nlink > 1 && !s.firstLink(st.dev, st.ino) {
				return false // counted under another name
			}
			if st.blocks512 < 0 || st.blocks512 > math.MaxInt64/512 {
				t.overflow = true
				return false
			}
			allocated = st.blocks512 * 512
		}
		if !t.usage.addFile(st.size, allocated) {
			t.overflow = true
		}
	default:
		t.usage.addOther()
	}
	return false
}

// addSelf counts the session directory itself, whose device is the one the
// session is measured on.
func (s *session) addSelf(t *tally, st *stat) {
	s.dev, s.sys = st.dev, st.sys
	s.self = *st
	s.entry.Identity = identityOf(st)
	s.opened(st)
	t.note(st)
	t.usage.addDir()
}

// merge adds what a goroutine measured to the session. A sum that does not
// fit in an int64 fails the session: a wrapped-around size must never be
// reported as one.
func (s *session) merge(t *tally) {
	s.mu.Lock()
	ok := !t.overflow && s.usage.add(t.usage)
	s.newest = max(s.newest, t.newest)
	s.written = max(s.written, t.written)
	s.parts.merge(&t.parts)
	if t.oldest != noTime && (s.oldest == noTime || t.oldest < s.oldest) {
		s.oldest = t.oldest
	}
	s.mu.Unlock()
	if !ok {
		s.fail(fmt.Errorf("measure %s: %w", s.entry.Path, ErrOverflow))
	}
}

func (s *session) fail(err error) {
	s.mu.Lock()
	if s.err == nil {
		s.err = err
	}
	s.mu.Unlock()
	s.failedF.Store(true)
}

func (s *session) vanish() {
	s.mu.Lock()
	s.vanished = true
	s.mu.Unlock()
}

func (s *session) failed() bool { return s.failedF.Load() }

// change notes that the session changed under the walk, for a reason that
// is not a failure: its sizes are still reported.
func (s *session) change(reason string) {
	s.mu.Lock()
	if s.changed == "" {
		s.changed = reason
	}
	s.mu.Unlock()
}

// settle reads the session directory's stat again, once everything under it
// was measured, and notes whether it was removed, replaced or changed (its
// change time moved) meanwhile. It is the only call a session makes after
// its last directory was read.
func (s *session) settle(ctx context.Context, b bounds) {
	restat := s.restat
	if restat == nil {
		return
	}
	s.restat = nil
	if s.failed() || ctx.Err() != nil {
		restat.release()
		return
	}
	now, err := bounded(ctx, b, 1, restat.look)
	switch {
	case err != nil:
		s.fail(fmt.Errorf("stat %s: %w", s.entry.Path, err))
	case now.gone:
		s.change(changedRemoved)
	case !identityOf(&now.st).Same(s.entry.Identity):
		s.change(changedReplaced)
	case now.st.ctime != s.self.ctime:
		s.change(changedCtime)
	}
}

// restat is how a backend looks at a session directory again: look reads
// its stat (and releases what the backend held for it), release only
// releases.
type restat struct {
	look    func() (restated, error)
	release func()
}

// restated is a session directory looked at again: its stat, or gone when
// it was removed.
type restated struct {
	st   stat
	gone bool
}

// firstLink reports whether this is the first time the session meets the
// file behind a hard link. Only files with more than one link are kept, so
// the set stays small.
func (s *session) firstLink(dev, ino uint64) bool {
	id := fileID{dev, ino}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.links == nil {
		s.links = make(map[fileID]struct{})
	}
	if _, seen := s.links[id]; seen {
		return false
	}
	s.links[id] = struct{}{}
	return true
}

// result returns the session's entry as measured, and false when there is
// nothing to report (it vanished while the walk ran).
func (s *session) result() (Entry, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.vanished {
		return Entry{}, false
	}
	e := s.entry
	e.Usage, e.Err, e.Changed = s.usage, s.err, s.changed
	if !e.ListedOnly {
		e.Anatomy = s.parts.anatomy()
	}
	if s.newest != noTime {
		e.Newest = time.Unix(0, s.newest)
	}
	if s.oldest != noTime {
		e.Oldest = time.Unix(0, s.oldest)
	}
	if s.written != noTime {
		e.Written = time.Unix(0, s.written)
	}
	if e.Err != nil {
		e.Usage, e.Anatomy = Usage{}, Anatomy{}
	}
	return e, true
}
