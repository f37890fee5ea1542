package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/afero"

	"sessaudit/reconcile"
	"sessaudit/scanner"
)

// walkFlags is the --root, --workers, --io-timeout and
// --max-ops-per-second flags of a command that walks the share: defined,
// checked and turned into a scanner.Config in this one place, so that
// every walking command reads them alike.
type walkFlags struct {
	root            string
	ignore          ignoreList
	workers         int
	ioTimeout       time.Duration
	maxOpsPerSecond float64
}

// register defines --root, --workers, --io-timeout and --max-ops-per-second
// on fs; rootUsage is what --root means to the command and what it
// defaults to.
func (w *walkFlags) register(fs *flag.FlagSet, rootUsage string) {
	fs.StringVar(&w.root, "root", "", rootUsage)
	fs.IntVar(&w.workers, "workers", 0, "`N` filesystem operations in flight (0: 4 per CPU on a local filesystem, 128 on a network or FUSE one)")
	durationVar(fs, &w.ioTimeout, "io-timeout", scanner.DefaultIOTimeout, "give up on one filesystem operation after this long; the session is then unreadable")
	w.ignore = ignoreList(scanner.DefaultIgnore)
	fs.Var(&w.ignore, "ignore", "`NAMES` of entries of the root that are not the share's (comma-separated): neither sized nor reported as unrecognized; '' ignores nothing")
	fs.Float64Var(&w.maxOpsPerSecond, "max-ops-per-second", 0, "make at most `R` filesystem operations a second, with bursts of R/10, leaving the application the rest of the filesystem's IOPS (0: no limit)")
}

// check returns a one-line usage error for the first value no walk can
// use. A command that defaults --root sets it before calling check.
func (w *walkFlags) check() error {
	switch {
	case w.root == "":
		return usageError("--root is required")
	case w.workers < 0:
		return usageError("--workers %d must not be negative (0 chooses for the filesystem)", w.workers)
	case w.ioTimeout <= 0:
		return usageError("--io-timeout %v must be positive", w.ioTimeout)
	case !(w.maxOpsPerSecond >= 0) || math.IsInf(w.maxOpsPerSecond, 0):
		return usageError("--max-ops-per-second %v must be a number of operations a second, 0 or more (0 means no limit)", w.maxOpsPerSecond)
	}
	return nil
}

// checkRoot makes --root absolute and, when the share is read from the
// host's filesystem, resolves its symbolic links, then checks that it is a
// directory. What the run reads, logs and reports is that one path: a
// report that held "share" or a link's name would send a later reclaim,
// run from another directory or after the link moved, to a tree this run
// never looked at.
func (w *walkFlags) checkRoot(ctx context.Context, fsys afero.Fs, cfg scanner.Config) error {
	root, err := resolveRoot(ctx, fsys, w.root, w.ioTimeout)
	if err != nil {
		return mark(errBadRoot, err)
	}
	w.root = root
	if err := scanner.CheckRoot(ctx, fsys, w.root, cfg); err != nil {
		return mark(errBadRoot, err)
	}
	return nil
}

// resolveRoot returns root absolute and, on the host's filesystem, with
// its links resolved; a root that is not there is returned as it is, for
// scanner.CheckRoot to report. Resolving is bounded by timeout: on a share
// that stopped answering, lstat of the mount point does not return.
func resolveRoot(ctx context.Context, fsys afero.Fs, root string, timeout time.Duration) (string, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return "", fmt.Errorf("root %s: %w", root, err)
	}
	if _, ok := fsys.(*afero.OsFs); !ok {
		return abs, nil // a test's filesystem: no links to resolve on the host
	}
	done := make(chan string, 1)
	go func() {
		resolved, err := filepath.EvalSymlinks(abs)
		if err != nil {
			resolved = abs
		}
		done <- resolved
	}()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case resolved := <-done:
		return resolved, nil
	case <-t.C:
		return "", fmt.Errorf("root %s: resolving its links did not answer within %v", abs, timeout)
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// config is the scanner.Config of a walk of scope under the flags. Call it
// once per run: the walks and calls of the run share its limiter, so that
// --max-ops-per-second holds over all of them together.
func (w *walkFlags) config(scope scanner.Scope) scanner.Config {
	return scanner.Config{Workers: w.workers, IOTimeout: w.ioTimeout, Scope: scope, Limiter: scanner.NewLimiter(w.maxOpsPerSecond), Ignore: w.ignore}
}

// rulesFlags are the flags of the audit's rules that audit and watch
// share: --path-prefix, --dry-run (-n), --min-age, --max-missing-ratio,
// --max-unverified and the bloat thresholds, defined, checked and turned
// into a reconcile.Config in this one place, so that a batch audit and a
// watcher judge a session alike.
type rulesFlags struct {
	pathPrefix      string
	dryRun          bool
	minAge          time.Duration
	maxMissingRatio float64
	maxUnverified   maxUnverified
	bloat           bloat
}

// register defines the flags on fs; missingRatioUsage is what
// --max-missing-ratio does in the command.
func (r *rulesFlags) register(fs *flag.FlagSet, missingRatioUsage string) {
	fs.StringVar(&r.pathPrefix, "path-prefix", "/mnt/efs", "the share's path as the application stores it in session_storage_path")
	registerDryRun(fs, &r.dryRun, "write nothing to the database")
	durationVar(fs, &r.minAge, "min-age", time.Hour, "grace period: younger directories are never orphan or soft_deleted, rows changed more recently never missing")
	fs.Float64Var(&r.maxMissingRatio, "max-missing-ratio", 0.5, missingRatioUsage)
	r.maxUnverified.register(fs)
	r.bloat.register(fs)
}

// check returns a one-line usage error for the first value the rules
// cannot use.
func (r *rulesFlags) check() error {
	switch {
	case !filepath.IsAbs(r.pathPrefix):
		return usageError("--path-prefix %q must be an absolute path", r.pathPrefix)
	case r.maxMissingRatio < 0 || r.maxMissingRatio > 1:
		return usageError("--max-missing-ratio %v must be between 0 and 1", r.maxMissingRatio)
	case r.minAge < 0:
		return usageError("--min-age %v must not be negative", r.minAge)
	}
	if err := r.maxUnverified.check(); err != nil {
		return err
	}
	return r.bloat.check()
}

// config returns the reconcile.Config of the rules, for the share at root
// walked with walk over scope; the command adds what is its own.
func (r *rulesFlags) config(root string, scope scanner.Scope, walk scanner.Config) reconcile.Config {
	return reconcile.Config{
		Root: root, PathPrefix: r.pathPrefix, Scope: scope, MinAge: r.minAge,
		MaxMissingRatio: r.maxMissingRatio, DryRun: r.dryRun, Walk: walk,
		MaxUnverified: time.Duration(r.maxUnverified), Bloat: r.bloat.config(),
	}
}

// durationValue is a time.Duration flag that also takes days, which
// operators write for ages and intervals: 2d, 1d12h, besides 48h and 90m.
// Every duration flag is one (durationVar), so that none is the exception.
type durationValue time.Duration

// durationVar defines a duration flag that takes days, as
// flag.DurationVar defines one that does not.
func durationVar(fs *flag.FlagSet, p *time.Duration, name string, value time.Duration, usage string) {
	*p = value
	fs.Var((*durationValue)(p), name, usage)
}

func (d *durationValue) String() string { return time.Duration(*d).String() }
func (d *durationValue) Get() any       { return time.Duration(*d) }

func (d *durationValue) Set(v string) error {
	x, err := parseDuration(v)
	if err != nil {
		return err
	}
	*d = durationValue(x)
	return nil
}

// parseDuration reads whole days (2d), days then a duration (1d12h), or a
// duration as time.ParseDuration reads it (48h, 90m, 0).
func parseDuration(v string) (time.Duration, error) {
	bad := errors.New("want a duration with a unit, such as 2d, 48h or 30m")
	days, rest, ok := strings.Cut(v, "d")
	if !ok {
		d, err := time.ParseDuration(v)
		if err != nil {
			return 0, bad
		}
		return d, nil
	}
	n, err := strconv.ParseUint(days, 10, 16)
	if err != nil || days[0] == '+' {
		return 0, bad
	}
	d := time.Duration(n) * 24 * time.Hour
	if rest != "" {
		if rest[0] == '-' || rest[0] == '+' {
			return 0, bad
		}
		r, err := time.ParseDuration(rest)
		if err != nil {
			return 0, bad
		}
		d += r
	}
	return d, nil
}

// defaultMaxUnverified is --max-unverified's default: two nightly audits
// may miss a session before it is a finding.
const defaultMaxUnverified = 48 * time.Hour

// maxUnverified is the --max-unverified flag of audit and watch.
type maxUnverified time.Duration

// register defines --max-unverified on fs.
func (m *maxUnverified) register(fs *flag.FlagSet) {
	durationVar(fs, (*time.Duration)(m), "max-unverified", defaultMaxUnverified,
		"report a live row whose directory is there but that was not verified for longer than this (never verified: since it was created) as unverified, whatever kept it from being verified; such as 2d or 7d (0: never)")
}

// check returns a usage error for a negative value.
func (m maxUnverified) check() error {
	if m < 0 {
		return usageError("--max-unverified %v must not be negative (0 turns the finding off)", time.Duration(m))
	}
	return nil
}

// registerLogLevel defines --log-level, the same on every command.
func registerLogLevel(fs *flag.FlagSet, p *string) {
	fs.StringVar(p, "log-level", "info", "debug, info, warn or error")
}

// registerDryRun defines --dry-run and its short form -n on p.
func registerDryRun(fs *flag.FlagSet, p *bool, usage string) {
	fs.BoolVar(p, "dry-run", false, usage)
	fs.BoolVar(p, "n", false, "short for --dry-run")
}

// ignoreList is --ignore: names of the root's entries, comma-separated.
type ignoreList []string

func (l *ignoreList) String() string { return strings.Join(*l, ",") }

func (l *ignoreList) Set(v string) error {
	*l = nil
	for _, name := range strings.Split(v, ",") {
		name = strings.TrimSpace(name)
		switch _, isWorkspace := scanner.ParseWorkspace(name); {
		case name == "" && v == "":
			return nil // --ignore '': nothing
		case name == "" || name == "." || name == ".." || strings.Contains(name, "/"):
			return fmt.Errorf("%q is not the name of an entry of the root", name)
		case isWorkspace:
			return fmt.Errorf("%q is a workspace: a workspace is never ignored", name)
		}
		*l = append(*l, name)
	}
	return nil
}

// workspaceList is a repeatable --workspace flag; commas also separate ids.
type workspaceList []uint64

func (l *workspaceList) String() string {
	parts := make([]string, len(*l))
	for i, id := range *l {
		parts[i] = strconv.FormatUint(id, 10)
	}
	return strings.Join(parts, ",")
}

func (l *workspaceList) Set(v string) error {
	for _, part := range strings.Split(v, ",") {
		id, err := strconv.ParseUint(strings.TrimSpace(part), 10, 64)
		if err != nil {
			return fmt.Errorf("workspace id %q is not a non-negative integer", part)
		}
		*l = append(*l, id)
	}
	return nil
}

// selection is the --workspace and --shard flags of a command: which
// workspaces it covers.
type selection struct {
	workspaces workspaceList
	shard      shardFlag
}

// register defines --workspace and --shard on fs; verb is the command's
// ("scan", "audit").
func (s *selection) register(fs *flag.FlagSet, verb string) {
	fs.Var(&s.workspaces, "workspace", verb+" only the workspace with this `ID` (repeatable, or comma-separated)")
	fs.Var(&s.shard, "shard", verb+" only shard `I/N`: the workspaces with workspace_id % N == I (0 <= I < N), as the application routes them to instance I")
}

// scope returns the workspaces the flags select: all when neither was given.
func (s *selection) scope() scanner.Scope {
	scope := scanner.AllWorkspaces()
	if len(s.workspaces) > 0 {
		scope = scanner.OnlyWorkspaces(s.workspaces...)
	}
	return scope.InShard(scanner.Shard(s.shard))
}

// shardFlag is --shard I/N.
type shardFlag scanner.Shard

func (f *shardFlag) String() string { return scanner.Shard(*f).String() }

func (f *shardFlag) Set(v string) error {
	sh, err := scanner.ParseShard(v)
	if err != nil {
		return fmt.Errorf("want I/N with 0 <= I < N, such as 0/4")
	}
	*f = shardFlag(sh)
	return nil
}

// formatFlag is --format: text or json.
type formatFlag string

func (f *formatFlag) String() string { return string(*f) }

func (f *formatFlag) Set(v string) error {
	switch v {
	case "text", "json":
		*f = formatFlag(v)
		return nil
	}
	return fmt.Errorf("want text or json")
}

// reportFormat is audit's --format: text, json or html.
type reportFormat string

func (f *reportFormat) String() string { return string(*f) }

func (f *reportFormat) Set(v string) error {
	switch v {
	case "text", "json", "html":
		*f = reportFormat(v)
		return nil
	}
	return fmt.Errorf("want text, json or html")
}
