package scanner

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"runtime"
	"time"

	"github.com/spf13/afero"
)

// ErrRootNotDir reports a root that exists but is not a directory.
var ErrRootNotDir = errors.New("scanner: root is not a directory")

// errChanged reports a directory that was replaced between listing and opening.
var errChanged = errors.New("scanner: directory changed while it was read")

// Kind says what an Entry describes.
type Kind uint8

const (
	// KindSession is a session directory. Usage holds its measurement unless
	// Err is set, in which case its size is unknown.
	KindSession Kind = iota + 1
	// KindUnrecognized is anything under the root or a workspace that is not
	// part of the layout: never sized, never acted on. Reason says why.
	KindUnrecognized
	// KindWorkspaceError is a workspace directory that could not be listed:
	// the sessions in it are unknown. Err says why.
	KindWorkspaceError
)

// Entry is one thing Walk found.
type Entry struct {
	Kind Kind
	// Path is relative to the root and slash-separated.
	Path        string
	WorkspaceID uint64
	SessionID   string
	Usage       Usage
	// Newest is the latest change of the session directory or anything
	// inside it: the later of each entry's modification time and its change
	// time (ctime; where the filesystem has none, the modification time
	// alone). It is what the grace periods of the audit and of reclaim go
	// by: a tree copied in keeping its modification times (cp -a, rsync -a,
	// tar x) has old ones, but a change time cannot be set back, so the
	// copy is as new as the moment it was made.
	Newest time.Time
	// Oldest is the earliest change time (ctime; the modification time
	// where the filesystem has none) of the session directory or anything
	// inside it, and Written the latest change time of a regular file in
	// it; zero when unknown. A change time cannot be set back: a tree
	// copied or extracted in has nothing older than the copy, and a tree
	// being deleted has no file written.
	Oldest, Written time.Time
	Reason          string
	Err             error
	// Identity is the identity of the session directory that was measured,
	// read when it was opened. Compare it with LookupMany's just before acting on
	// the measurement: a different one means another directory stands there
	// now.
	Identity Identity
	// Changed, when not empty, says how the session directory changed while
	// it was measured: an entry under it vanished (ENOENT between listing
	// and reading), it was removed or replaced, its own change time (ctime)
	// moved between its opening and the end of its measurement (an entry
	// added, removed or renamed directly in it), or one of its directories
	// had entries added or removed within Quiet before its measurement
	// began (a tree being deleted or copied in, read in a moment, looks
	// like a smaller tree). Usage is still the
	// measurement, but it may mix the tree before and after the change: it
	// is not an error, and not a size to record as verified.
	Changed string
	// ListedOnly marks a session that List looked at without measuring it:
	// Usage is zero, Newest is the directory's own latest change (of its
	// modification and change times) and
	// Identity the one its lstat gave.
	ListedOnly bool
	// Anatomy is what the session is made of, counted in the same walk as
	// Usage; zero when Usage is (an error, ListedOnly).
	Anatomy Anatomy
}

// Config controls Walk. The zero value is valid.
type Config struct {
	// Workers is the number of filesystem operations in flight: directories
	// being read, and the entries of one directory being looked at in
	// parallel when a worker is idle. <= 0 picks a default suited to the
	// filesystem under root: 4 per CPU on a local filesystem, 128 on a
	// network or FUSE filesystem (or one of a type Walk does not know),
	// where each operation waits for a round trip.
	Workers int
	// Scope limits the walk to some workspaces; the zero Scope walks them
	// all. Entries of the root that are not workspace directories (such as
	// lost+found) are reported only by a scope that is not a list and whose
	// shard is 0 (or none), so that the shards of one share report each of
	// them once.
	Scope Scope
	// IOTimeout bounds each filesystem call (opening a directory, reading a
	// batch of its entries, one lstat); a session whose call times out is
	// reported with an error wrapping ErrIOTimeout. 0 means
	// DefaultIOTimeout; a negative value means no limit.
	IOTimeout time.Duration
	// Progress, when not nil, is counted up as the walk goes, for a
	// progress display.
	Progress *Progress
	// Ignore names entries of the root that are not part of the share's
	// layout and are neither sized nor reported (DefaultIgnore: what the
	// filesystem puts there). Only the root's entries are matched, by
	// exact name; a workspace_<id> name is never ignored.
	Ignore []string
	// Limiter, when not nil, paces the filesystem calls: each waits for a
	// token first (see NewLimiter), those of a walk and those made outside
	// one (CheckRoot, WorkspaceIDs) alike. Share one among the walks and
	// calls of a run, so that the rate holds over all of them together. A
	// wait for a token is not a call: IOTimeout does not run during it, and
	// it ends when ctx is done.
	Limiter *Limiter
}

const (
	// localWorkersPerCPU and remoteWorkers are the default Workers. On a
	// local filesystem with a warm cache every call is CPU work in the
	// kernel: a few per CPU keep them busy when one waits for the disk. On
	// a network filesystem a call waits for a round trip, and throughput is
	// the calls in flight over the latency (AWS asks for at least 64
	// threads per EFS client).
	localWorkersPerCPU = 4
	remoteWorkers      = 128
)

func (c Config) workers(remote bool) int {
	switch {
	case c.Workers > 0:
		return c.Workers
	case remote:
		return remoteWorkers
	default:
		return localWorkersPerCPU * runtime.GOMAXPROCS(0)
	}
}

// Walk measures every session directory under root and calls fn once for
// every session, every unrecognized entry and every workspace directory that
// could not be listed. fn must be safe for concurrent use; order is
// undefined. Walk returns only after every call to fn has returned.
//
// Walk never follows a symbolic link below root and never enters another
// filesystem mounted inside a session. A failure inside one session is
// reported on that session's Entry; Walk itself fails only when the root
// cannot be listed, fn returns an error, or ctx is done.
//
// On Linux, when fsys is an *afero.OsFs, Walk reads the filesystem directly
// through directory file descriptors: each directory is opened relative to
// its parent (openat with O_NOFOLLOW) or, inside a session, to the session
// directory (openat2 with RESOLVE_BENEATH and RESOLVE_NO_SYMLINKS), so no
// path is resolved from the root again, no path is too long, and nothing
// reached can be outside the root. The descriptors it holds are bounded:
// Workers is lowered to what the soft RLIMIT_NOFILE leaves room for (see
// nativeFS), and an open that finds none free waits for one.
// Any other afero.Fs is read through afero with the same results.
func Walk(ctx context.Context, fsys afero.Fs, root string, cfg Config, fn func(Entry) error) error {
	return walkFrom(ctx, fsys, root, cfg, fn, func(w walkerStarter) error { return w.walkRoot(cfg.Scope) })
}

// Measure measures the single session directory at rel ("workspace_<id>/
// session_<id>") under root, as Walk would. It returns an error wrapping
// fs.ErrNotExist when there is no such entry, and a KindUnrecognized entry
// when the entry is not a real directory.
func Measure(ctx context.Context, fsys afero.Fs, root, rel string, cfg Config) (Entry, error) {
	ws, id, ok := ParseSessionPath(rel)
	if !ok {
		return Entry{}, fmt.Errorf("measure %q: not a session path", rel)
	}
	if err := CheckRoot(ctx, fsys, root, cfg); err != nil {
		return Entry{}, err
	}
	_, err := lstatSession(ctx, fsys, root, rel, cfg.bounds())
	if errors.Is(err, ErrNotSessionDir) {
		return Entry{Kind: KindUnrecognized, Path: rel, WorkspaceID: ws, SessionID: id, Reason: err.Error()}, nil
	}
	if err != nil {
		return Entry{}, fmt.Errorf("measure: %w", err)
	}
	var result Entry
	fn := func(e Entry) error { result = e; return nil }
	start := func(w walkerStarter) error { return w.measureOne(ws, id) }
	ok, err = walkNative(ctx, fsys, root, cfg, fn, start)
	if !ok {
		err = run(ctx, newAferoFS(fsys, root), root, cfg.workers(false), cfg, fn, start)
	}
	if err != nil {
		return Entry{}, err
	}
	if result.Kind == 0 {
		return Entry{}, fmt.Errorf("measure %s: %w", rel, fs.ErrNotExist)
	}
	return result, nil
}

// walkerStarter is what Walk, List, Measure and MeasureEach start a walk
// with.
type walkerStarter interface {
	walkRoot(scope Scope) error
	listRoot(scope Scope) error
	measureOne(ws uint64, id string) error
	measureEach(sessions []sessionRef) error
	lookEach(l *lookup) error
}

// notDir says why st, read without following links, is not a directory to
// enter, or "" when it is one.
func notDir(mode fs.FileMode) string {
	switch {
	case mode&fs.ModeSymlink != 0:
		return "a symbolic link (never followed)"
	case !mode.IsDir():
		return "not a directory"
	}
	return ""
}
