package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/afero"

	"sessaudit/cmd/internal/metrics"
	"sessaudit/cmd/internal/report"
	"sessaudit/db"
	"sessaudit/reconcile"
	"sessaudit/reconcile/reclaim"
	"sessaudit/scanner"
	"sessaudit/scanner/quarantine"
)

// reclaimCmd moves the orphaned and soft-deleted session directories of an
// audit's report into quarantine.
type reclaimCmd struct {
	env          Env
	reportPath   string
	quarantine   string
	kinds        kindList
	maxMoves     int
	yes          bool
	dryRun       bool
	logLevel     string
	maxReportAge time.Duration
	minAge       time.Duration
	root         string
	pathPrefix   string
	conn         connFlags
	table        string
	ioTimeout    time.Duration
	metricsFile  string
	caches       bool
}

func newReclaimCmd(env Env) *reclaimCmd {
	return &reclaimCmd{env: env, kinds: kindList(reclaim.Kinds)}
}

func (c *reclaimCmd) flags() *flag.FlagSet {
	fs := flag.NewFlagSet("reclaim", flag.ContinueOnError)
	fs.StringVar(&c.reportPath, "report", "", "the audit's JSON report (sessaudit audit --format json --output FILE) (required)")
	fs.BoolVar(&c.caches, "caches", false, "move the regenerable parts of the whatsapp-web.js sessions under --root that are not running, instead of a report's findings (no --report; --min-age default 1h, --path-prefix default /mnt/efs)")
	fs.StringVar(&c.quarantine, "quarantine", "", "the quarantine directory, on the root's filesystem; inside the root it must be ROOT/"+scanner.QuarantineName+" (required)")
	fs.Var(&c.kinds, "kinds", "the findings to move: orphan, soft_deleted or both, comma-separated")
	fs.IntVar(&c.maxMoves, "max-moves", 100, "move at most this many directories in one run")
	fs.BoolVar(&c.yes, "yes", false, "move; without it the plan is printed and nothing moves")
	registerDryRun(fs, &c.dryRun, "print the plan and move nothing, as without --yes (refused with --yes)")
	durationVar(fs, &c.maxReportAge, "max-report-age", 24*time.Hour, "refuse a report whose audit finished longer ago than this")
	durationVar(fs, &c.minAge, "min-age", 0, "grace period checked just before each move (default: the audit's --min-age; a longer one may be given)")
	fs.StringVar(&c.root, "root", "", "where the share is mounted on this host (default: the report's root; required with --caches)")
	fs.StringVar(&c.pathPrefix, "path-prefix", "", "the share's path as the application stores it (default: the report's)")
	c.conn.register(fs)
	fs.StringVar(&c.table, "table", "whatsapp_accounts", "the accounts table")
	durationVar(fs, &c.ioTimeout, "io-timeout", scanner.DefaultIOTimeout, ioTimeoutUsage+" (a directory whose measurement does not answer is skipped)")
	registerOpMetrics(fs, &c.metricsFile, metrics.Reclaim)
	registerLogLevel(fs, &c.logLevel)
	return fs
}

// newReclaimCommand returns reclaim, restore or purge.
func newReclaimCommand(env Env, name string) command {
	switch name {
	case "restore":
		return newRestoreCmd(env)
	case "purge":
		return newPurgeCmd(env)
	}
	return newReclaimCmd(env)
}

func (c *reclaimCmd) run(ctx context.Context) (err error) {
	log, err := newLogger(c.env, c.logLevel)
	if err != nil {
		return err
	}
	if c.yes && c.dryRun {
		return usageError("give --yes or --dry-run, not both")
	}
	if c.caches {
		return c.runCaches(ctx, log)
	}
	m := newOpMetrics(c.env, c.metricsFile, metrics.Reclaim, !c.yes)
	defer func() { err = m.end(err) }()
	if err := m.check(); err != nil {
		return err
	}
	switch {
	case c.reportPath == "":
		return usageError("--report is required")
	case c.quarantine == "":
		return usageError("--quarantine is required")
	case c.maxMoves < 1:
		return usageError("--max-moves %d must be at least 1", c.maxMoves)
	case c.maxReportAge <= 0:
		return usageError("--max-report-age %v must be positive", c.maxReportAge)
	case c.minAge < 0:
		return usageError("--min-age %v must not be negative", c.minAge)
	case c.ioTimeout <= 0:
		return usageError("--io-timeout %v must be positive", c.ioTimeout)
	case len(c.kinds) == 0:
		return usageError("--kinds names no kind")
	}
	// Each directory's rows are read again just before it moves: the
	// database is reached as audit reaches it.
	conn, err := c.conn.resolve(c.env)
	if err != nil {
		return err
	}
	started := time.Now()
	rep, err := c.readReport(started)
	if err != nil {
		return err
	}
	minAge, ok := rep.MinAge()
	if !ok && c.minAge == 0 {
		return usageError("the report does not record the audit's --min-age; give --min-age")
	}
	minAge = max(minAge, c.minAge)
	if c.root == "" {
		// An audit stores its root absolute; an older one stored it as
		// given, which would be read against this working directory.
		if !filepath.IsAbs(rep.Summary.Root) {
			return usageError("the report's root %q is relative (an older audit stored --root as given): give --root", rep.Summary.Root)
		}
		c.root = rep.Summary.Root
	}
	if c.root, err = resolveRoot(ctx, afero.NewOsFs(), c.root, c.ioTimeout); err != nil {
		return mark(errBadRoot, err)
	}
	if c.pathPrefix == "" {
		c.pathPrefix = rep.Summary.PathPrefix
	}
	if !filepath.IsAbs(c.pathPrefix) {
		return usageError("--path-prefix %q must be an absolute path", c.pathPrefix)
	}
	cands, err := rep.Candidates(c.kinds)
	if err != nil {
		return err
	}
	if _, err := os.Stat(c.quarantine); err != nil {
		return usageError("--quarantine %s: %v (create it first)", c.quarantine, err)
	}
	q, err := quarantine.Open(c.root, c.quarantine, quarantine.Config{IOTimeout: c.ioTimeout})
	if err != nil {
		return err
	}
	defer q.Close()
	store, err := db.Open(ctx, db.Config{DSN: conn.dsn, Table: c.table, ConnectTimeout: dbConnectTimeout,
		OnRetry: func(err error, attempt int, wait time.Duration) {
			log.Warn().Err(err).Int("attempt", attempt).Dur("wait", wait).Msg("database call failed; retrying")
		}})
	if err != nil {
		return err
	}
	defer store.Close()

	out := c.env.Stdout
	verb := "plan"
	if c.yes {
		verb = "run"
	}
	fmt.Fprintf(out, "reclaim %s: %d %s of %s (audit finished %s), root %s, quarantine %s, grace period %s\n",
		verb, len(cands), strings.Join(c.kinds.strings(), " and "), c.reportPath,
		rep.Summary.FinishedAt.UTC().Format(time.RFC3339), q.Root(), q.Dir(), minAge)
	res, err := reclaim.Reclaim(ctx, q, store, cands, reclaim.Config{
		PathPrefix: c.pathPrefix, MinAge: minAge, MaxMoves: c.maxMoves, Yes: c.yes,
		Run:    quarantine.RunInfo{Started: started, Report: absPath(c.reportPath), ReportFinishedAt: rep.Summary.FinishedAt},
		Walk:   scanner.Config{IOTimeout: c.ioTimeout},
		OnStep: func(s reclaim.Step) { printReclaimStep(out, s); m.op.Reclaimed(s) },
	})
	m.op.NotLookedAt(cands[len(cands)-res.Left:])
	printReclaimResult(out, res, c.yes, c.maxMoves)
	log.Info().Bool("plan", !c.yes).Int("moved", res.Moved).Int64("bytes", res.Bytes).Int("skipped", res.Skipped).
		Int("not_looked_at", res.Left).Str("manifest", res.Manifest).AnErr("error", err).Msg("reclaim finished")
	if err != nil {
		return err
	}
	if res.Skipped > 0 {
		return errFindings
	}
	return nil
}

func (c *reclaimCmd) readReport(now time.Time) (*reclaim.Report, error) {
	f, err := os.Open(c.reportPath)
	if err != nil {
		return nil, usageError("--report: %v", err)
	}
	defer f.Close()
	rep, err := reclaim.ReadReport(f, now, c.maxReportAge)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", c.reportPath, err)
	}
	return rep, nil
}

func printReclaimStep(w io.Writer, s reclaim.Step) {
	switch {
	case s.Action == reclaim.Skipped:
		fmt.Fprintf(w, "%-10s  %-12s  %s: %s\n", s.Action, s.Kind, showPath(s.Path), s.Reason)
	case s.Parts > 0: // reclaim --caches
		fmt.Fprintf(w, "%-10s  %-12s  %s  %s in %d files, %d parts\n", s.Action, s.Kind, showPath(s.Path), report.HumanBytes(s.SizeBytes), s.Files, s.Parts)
	default:
		fmt.Fprintf(w, "%-10s  %-12s  %s  %s in %d files\n", s.Action, s.Kind, showPath(s.Path), report.HumanBytes(s.SizeBytes), s.Files)
	}
}

func printReclaimResult(w io.Writer, res reclaim.Result, yes bool, maxMoves int) {
	verb := "would move"
	if yes {
		verb = "moved"
	}
	fmt.Fprintf(w, "%s %d directories, %s in %d files; skipped %d", verb, res.Moved, report.HumanBytes(res.Bytes), res.Files, res.Skipped)
	if res.Left > 0 {
		fmt.Fprintf(w, "; %d more not looked at (--max-moves %d)", res.Left, maxMoves)
	}
	fmt.Fprintln(w)
	switch {
	case !yes && res.Moved > 0:
		fmt.Fprintln(w, "nothing was moved; run again with --yes to move them")
	case res.Manifest != "":
		fmt.Fprintf(w, "manifest: %s\nundo with: sessaudit restore --manifest %s\n", res.Manifest, res.Manifest)
	}
}

// ioTimeoutUsage is the help of the --io-timeout of reclaim, restore and
// purge.
const ioTimeoutUsage = "give up on one filesystem operation after this long; a rename, deletion or manifest write that does not answer stops the run (exit 2), which records nothing more"

// restoreCmd moves a reclaim run back.
type restoreCmd struct {
	env         Env
	manifest    string
	root        string
	ioTimeout   time.Duration
	metricsFile string
	logLevel    string
}

func newRestoreCmd(env Env) *restoreCmd { return &restoreCmd{env: env} }

func (c *restoreCmd) flags() *flag.FlagSet {
	fs := flag.NewFlagSet("restore", flag.ContinueOnError)
	fs.StringVar(&c.manifest, "manifest", "", "the manifest.json of the reclaim run to move back (required)")
	fs.StringVar(&c.root, "root", "", "where the share is mounted on this host (default: the root the manifest names); it must be the root the quarantine belongs to")
	durationVar(fs, &c.ioTimeout, "io-timeout", scanner.DefaultIOTimeout, ioTimeoutUsage)
	registerOpMetrics(fs, &c.metricsFile, metrics.Restore)
	registerLogLevel(fs, &c.logLevel)
	return fs
}

func (c *restoreCmd) run(ctx context.Context) (err error) {
	log, err := newLogger(c.env, c.logLevel)
	if err != nil {
		return err
	}
	m := newOpMetrics(c.env, c.metricsFile, metrics.Restore, false)
	defer func() { err = m.end(err) }()
	if err := m.check(); err != nil {
		return err
	}
	switch {
	case c.manifest == "":
		return usageError("--manifest is required")
	case c.ioTimeout <= 0:
		return usageError("--io-timeout %v must be positive", c.ioTimeout)
	}
	if _, err := os.Stat(c.manifest); err != nil {
		return usageError("--manifest: %v", err)
	}
	out := c.env.Stdout
	parts := 0
	res, err := quarantine.Restore(c.manifest, quarantine.RestoreConfig{
		Root: c.root, IOTimeout: c.ioTimeout,
		OnStep: func(s quarantine.Step) {
			printQuarantineStep(out, s)
			m.op.Restored(s)
			if s.Action == quarantine.Restored && isPart(s.Path) {
				parts++
			}
		},
	})
	fmt.Fprintf(out, "restored %d directories, %s%s; %d not restored\n", res.Done, report.HumanBytes(res.Bytes), partsNote(parts), res.Problems)
	log.Info().Int("restored", res.Done).Int64("bytes", res.Bytes).Int("not_restored", res.Problems).AnErr("error", err).Msg("restore finished")
	if err != nil {
		return err
	}
	if res.Problems > 0 {
		return errFindings
	}
	return nil
}

// purgeCmd deletes old reclaim runs.
type purgeCmd struct {
	env         Env
	quarantine  string
	olderThan   time.Duration
	yes         bool
	dryRun      bool
	logLevel    string
	ioTimeout   time.Duration
	metricsFile string
}

func newPurgeCmd(env Env) *purgeCmd { return &purgeCmd{env: env} }

func (c *purgeCmd) flags() *flag.FlagSet {
	fs := flag.NewFlagSet("purge", flag.ContinueOnError)
	fs.StringVar(&c.quarantine, "quarantine", "", "the quarantine directory (required)")
	durationVar(fs, &c.olderThan, "older-than", 0, "delete the runs whose manifest's last line is older than this `age`: whole days (30d) or a duration (720h) (required)")
	fs.BoolVar(&c.yes, "yes", false, "delete; without it what would be deleted is printed")
	registerDryRun(fs, &c.dryRun, "print what would be deleted and delete nothing, as without --yes (refused with --yes)")
	durationVar(fs, &c.ioTimeout, "io-timeout", scanner.DefaultIOTimeout, ioTimeoutUsage)
	registerOpMetrics(fs, &c.metricsFile, metrics.Purge)
	registerLogLevel(fs, &c.logLevel)
	return fs
}

func (c *purgeCmd) run(ctx context.Context) (err error) {
	log, err := newLogger(c.env, c.logLevel)
	if err != nil {
		return err
	}
	if c.yes && c.dryRun {
		return usageError("give --yes or --dry-run, not both")
	}
	m := newOpMetrics(c.env, c.metricsFile, metrics.Purge, !c.yes)
	defer func() { err = m.end(err) }()
	if err := m.check(); err != nil {
		return err
	}
	switch {
	case c.quarantine == "":
		return usageError("--quarantine is required")
	case c.olderThan <= 0:
		return usageError("--older-than is required, and positive (30d, say)")
	case c.ioTimeout <= 0:
		return usageError("--io-timeout %v must be positive", c.ioTimeout)
	}
	if _, err := os.Stat(c.quarantine); err != nil {
		return usageError("--quarantine: %v", err)
	}
	out := c.env.Stdout
	parts := 0
	res, err := quarantine.Purge(c.quarantine, quarantine.PurgeConfig{
		OlderThan: c.olderThan, Yes: c.yes, IOTimeout: c.ioTimeout,
		OnStep: func(s quarantine.Step) {
			printQuarantineStep(out, s)
			m.op.Purged(s)
			if (s.Action == quarantine.Deleted || s.Action == quarantine.WouldDelete) && isPart(s.Path) {
				parts++
			}
		},
	})
	m.op.PurgedRuns(res)
	verb := "would delete"
	if c.yes {
		verb = "deleted"
	}
	runs := fmt.Sprintf("%d runs removed", res.RunsRemoved)
	if !c.yes {
		runs = fmt.Sprintf("%d runs would be removed", res.RunsToRemove)
	}
	fmt.Fprintf(out, "%s %d directories, %s%s, of %d runs; %s; %d left alone that need a look\n",
		verb, res.Done, report.HumanBytes(res.Bytes), partsNote(parts), res.Runs, runs, res.Problems)
	if !c.yes && res.Done > 0 {
		fmt.Fprintln(out, "nothing was deleted; run again with --yes to delete")
	}
	log.Info().Bool("plan", !c.yes).Int("directories", res.Done).Int64("bytes", res.Bytes).Int("runs", res.Runs).
		Int("runs_removed", res.RunsRemoved).Int("runs_to_remove", res.RunsToRemove).Int("need_a_look", res.Problems).AnErr("error", err).Msg("purge finished")
	if err != nil {
		return err
	}
	if res.Problems > 0 {
		return errFindings
	}
	return nil
}

// opMetrics is the --metrics-file of reclaim, restore or purge: the tally
// of the run, written when the command ends, whatever its outcome.
type opMetrics struct {
	env     Env
	path    string // "": write none
	file    *metrics.File
	command metrics.Command
	op      *metrics.Op
}

func registerOpMetrics(fs *flag.FlagSet, path *string, command metrics.Command) {
	fs.StringVar(path, "metrics-file", "", "write Prometheus metrics of the run to `FILE` (for node_exporter's textfile collector); written even when the command fails. "+
		"A new path or regular file is replaced atomically, anything else (a link, a device, a FIFO that a process reads) written into. "+
		"Give each command a file of its own (sessaudit-"+string(command)+".prom): one never replaces another's")
}

func newOpMetrics(env Env, path string, command metrics.Command, plan bool) *opMetrics {
	return &opMetrics{env: env, path: path, command: command, op: metrics.NewOp(command, time.Now(), plan)}
}

// check opens the metrics file before the command changes anything, and
// refuses one that cannot be written or is another command's; then none
// is written.
func (m *opMetrics) check() error {
	if m.path == "" {
		return nil
	}
	f, err := metrics.Open(m.path, m.command)
	if err != nil {
		return err
	}
	m.file = f
	return nil
}

// end writes the metrics file of a run that ended with err, and returns
// err, or the metrics file's error when the command itself succeeded.
func (m *opMetrics) end(err error) error {
	if m.file == nil {
		return err
	}
	defer m.file.Close()
	success := err == nil || errors.Is(err, errFindings)
	m.op.End(time.Now(), success)
	werr := m.file.WriteOp(m.op)
	switch {
	case werr == nil:
		return err
	case success:
		return fmt.Errorf("%w (the %s itself is done: its output above says what it did)", werr, m.command)
	}
	// The command's own error says more; the metrics file's is one more line.
	fmt.Fprintf(m.env.Stderr, "sessaudit %s: %s\n", m.command, oneLine(werr.Error()))
	return err
}

func printQuarantineStep(w io.Writer, s quarantine.Step) {
	where := s.Run
	if s.Path != "" {
		where += "/" + showPath(s.Path)
	}
	switch {
	case s.Err != nil:
		fmt.Fprintf(w, "%-12s  %s: %v\n", s.Action, where, s.Err)
	case isPart(s.Path):
		fmt.Fprintf(w, "%-12s  %s\n", s.Action, where) // its size is not recorded
	case s.Path != "":
		fmt.Fprintf(w, "%-12s  %s  %s\n", s.Action, where, report.HumanBytes(s.SizeBytes))
	default:
		fmt.Fprintf(w, "%-12s  %s\n", s.Action, where)
	}
}

// isPart reports whether the path of a quarantine step is a part of a
// session directory (reclaim --caches), whose size its manifest does not
// record.
func isPart(p string) bool {
	ws, rest, _ := strings.Cut(p, "/")
	_, tail, deeper := strings.Cut(rest, "/")
	return ws != "" && deeper && tail != ""
}

// partsNote says, after a restore's or purge's bytes, how many of its
// directories were parts whose bytes are not counted.
func partsNote(parts int) string {
	if parts == 0 {
		return ""
	}
	return fmt.Sprintf(" (%d of them parts of reclaim --caches runs, whose sizes are not recorded)", parts)
}

// showPath Go-quotes p, as the other text outputs do, so that a name that
// is not valid UTF-8 prints with its exact bytes escaped.
func showPath(p string) string { return strconv.Quote(p) }

func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

// kindList is --kinds: findings reclaim may move.
type kindList []reconcile.Outcome

func (l *kindList) String() string { return strings.Join(l.strings(), ",") }

func (l kindList) strings() []string {
	out := make([]string, len(l))
	for i, k := range l {
		out[i] = string(k)
	}
	return out
}

func (l *kindList) Set(v string) error {
	*l = nil
	for _, part := range strings.Split(v, ",") {
		k := reconcile.Outcome(strings.TrimSpace(part))
		if !k.Reclaimable() {
			return fmt.Errorf("%q: reclaim moves only orphan and soft_deleted directories", part)
		}
		*l = append(*l, k)
	}
	return nil
}
