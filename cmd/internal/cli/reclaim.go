package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
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
	db           tableFlags
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
	c.db.register(fs)
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
	dbConfig, err := c.db.config(c.env)
	if err != nil {
		return err
	}
	started := c.env.now()
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
	dbConfig.OnRetry = func(err error, attempt int, wait time.Duration) {
		log.Warn().Err(err).Int("attempt", attempt).Dur("wait", wait).Msg("database call failed; retrying")
	}
	store, err := db.Open(ctx, dbConfig)
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
		Now:    c.env.now,
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
