package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/rs/zerolog"

	"sessaudit/cmd/internal/metrics"
	"sessaudit/cmd/internal/output"
	"sessaudit/cmd/internal/progress"
	"sessaudit/cmd/internal/report"
	"sessaudit/cmd/internal/version"
	"sessaudit/db"
	"sessaudit/db/checklist"
	"sessaudit/reconcile"
	"sessaudit/scanner"
)

// progressInterval is how often the progress line is redrawn.
const progressInterval = 250 * time.Millisecond

// dbConnectTimeout bounds connecting to the database and reading its schema.
const dbConnectTimeout = 30 * time.Second

type auditCmd struct {
	env           Env
	walk          walkFlags
	db            dbFlags
	rules         rulesFlags
	backfillPaths bool
	selection     selection
	format        reportFormat
	output        string
	metricsFile   string
	pushgateway   string
	push          *metrics.Pushgateway // --pushgateway, once checked
	findingsExit  int
	instanceCount int
	maxDuration   time.Duration
	logLevel      string
}

func newAuditCmd(env Env) *auditCmd {
	return &auditCmd{env: env, format: "text"}
}

func (c *auditCmd) flags() *flag.FlagSet {
	fs := flag.NewFlagSet("audit", flag.ContinueOnError)
	c.walk.register(fs, "`DIR` where the share is mounted on this host (default: --path-prefix)")
	c.db.register(fs)
	c.rules.register(fs, "refuse (exit 2) when more than this share of live rows with a path would be missing")
	fs.BoolVar(&c.backfillPaths, "backfill-paths", false, "also write session_storage_path, with the size, for unlinked rows (only while their path is still NULL)")
	c.selection.register(fs, "audit")
	fs.Var(&c.format, "format", "report format: `text|json|html`")
	fs.StringVar(&c.output, "output", "", "write the report to `FILE`; - is stdout; a new path or regular file is replaced whole at the end, anything else (a link, a device, a FIFO) written into (default: stdout)")
	fs.StringVar(&c.metricsFile, "metrics-file", "", "write Prometheus metrics of the run to `FILE` (for node_exporter's textfile collector); written even when the audit fails. A new path or regular file is replaced atomically, anything else (a link, a device, a FIFO that a process reads) written into")
	fs.StringVar(&c.pushgateway, "pushgateway", "", "push Prometheus metrics of the run to the Pushgateway at `URL` (job sessaudit, grouped by shard), also when the audit fails: for a Kubernetes CronJob, whose pod no collector reads")
	fs.IntVar(&c.findingsExit, "findings-exit-code", ExitFindings, "exit status when the audit completed and found something: 1, or 0 where a non-zero status reads as a failure (a Kubernetes Job); the report and metrics still say what was found")
	fs.IntVar(&c.instanceCount, "instance-count", 0, "number of Node.js instances: live rows whose assigned_instance_index is not workspace_id % N are reported misrouted (0: no check)")
	durationVar(fs, &c.maxDuration, "max-duration", 0, "time budget: list and judge the whole scope, size sessions stalest first while there is time, defer the rest (0: no budget, size everything)")
	registerLogLevel(fs, &c.logLevel)
	return fs
}

func (c *auditCmd) run(ctx context.Context) (err error) {
	started := c.env.now() // --max-duration counts from here too
	var rep *reconcile.Report
	walked := &scanner.Progress{}
	var mf *metrics.File
	if c.metricsFile != "" {
		// Opened first, as --output is, so that a destination that cannot
		// be written stops the run before it does anything.
		var oerr error
		if mf, oerr = metrics.Open(c.metricsFile, metrics.Audit); oerr != nil {
			return oerr
		}
		defer mf.Close()
	}
	if c.pushgateway != "" {
		var perr error
		if c.push, perr = metrics.ParsePushgateway(c.pushgateway, nil); perr != nil {
			return usageError("--pushgateway: %v", perr)
		}
	}
	if mf != nil || c.push != nil {
		// Every run that got this far leaves its metrics, a failed one too.
		defer func() { err = c.writeMetrics(mf, started, rep, walked, err) }()
	}
	// The progress line, on a terminal only, and the logs share stderr.
	line := progress.New(c.env.Stderr, walked)
	defer line.Stop()
	c.env.Stderr = line.Writer(c.env.Stderr)
	log, err := newLogger(c.env, c.logLevel)
	if err != nil {
		return err
	}
	if c.walk.root == "" {
		c.walk.root = c.rules.pathPrefix
	}
	if err := c.rules.check(); err != nil {
		return err
	}
	switch {
	case c.maxDuration < 0:
		return usageError("--max-duration %v must not be negative (0 means no budget)", c.maxDuration)
	case c.instanceCount < 0 || c.instanceCount > 255:
		return usageError("--instance-count %d must be between 0 and 255", c.instanceCount)
	case c.findingsExit != ExitClean && c.findingsExit != ExitFindings:
		return usageError("--findings-exit-code %d must be 0 or 1 (2 means the audit could not be done)", c.findingsExit)
	}
	if err := c.walk.check(); err != nil {
		return err
	}
	dbConfig, err := c.db.config(c.env)
	if err != nil {
		return err
	}
	// Everything the user controls is checked before anything is written:
	// the report's destination is opened (and space reserved) now, so that
	// exit 2 always means the table is untouched.
	dest, err := output.Open(c.output, c.env.Stdout)
	if err != nil {
		return err
	}
	defer dest.Close()
	fsys := c.env.fs()
	scope := c.selection.scope()
	walk := c.walk.config(scope)
	walk.Progress = walked // counts every filesystem call of the run: fs_ops
	if err := c.walk.checkRoot(ctx, fsys, walk); err != nil {
		return err
	}

	store, err := openStore(ctx, log, dbConfig)
	if err != nil {
		return err
	}
	defer store.Close()
	// One audit of a table at a time. The lock belongs to a connection the
	// store keeps for the run, so it dies with the process.
	// A shard run locks its shard; any other run the whole table (a run
	// of listed workspaces too: it may write rows of any workspace whose
	// path names one of them).
	shard := scope.Shard()
	lock, err := store.LockRun(ctx, shard.Index, shard.Count)
	if err != nil {
		return err
	}
	defer lock.Release(context.WithoutCancel(ctx))
	log.Debug().Str("lock", lock.Name()).Msg("lock taken")
	perInstance := store.HasColumn("assigned_instance_index")
	if c.instanceCount > 0 && !perInstance {
		return usageError("--instance-count needs the column assigned_instance_index, which table %s lacks (see sessaudit schema check)", c.db.table)
	}

	log.Info().Str("root", c.walk.root).Str("path_prefix", c.rules.pathPrefix).Str("table", c.db.table).
		Bool("dry_run", c.rules.dryRun).Msg("audit started")
	line.Start(progressInterval)
	cfg := c.rules.config(c.walk.root, scope, walk)
	cfg.BackfillPaths = c.backfillPaths
	cfg.InstanceCount, cfg.PerInstance = c.instanceCount, perInstance
	cfg.MaxDuration, cfg.BudgetFrom = c.maxDuration, started
	cfg.Now = c.env.now
	rep, err = reconcile.Audit(ctx, fsys, store, cfg)
	line.Stop()
	if rep != nil {
		if werr := c.writeReport(dest, rep); werr != nil && err == nil {
			err = werr
		}
		// An audit that failed once its writes had begun (a signal, a
		// lost connection, the report) says how many rows it wrote.
		if err != nil && rep.Summary.Phases != nil {
			err = fmt.Errorf("%w (%s)", err, rowsWritten(rep))
		}
	}
	if err != nil {
		return err
	}
	s := rep.Summary
	for _, w := range s.Warnings {
		log.Warn().Msg(w)
	}
	ev := log.Info().Int("sessions", s.Sessions).Int("rows", s.Rows).Int("findings", s.Findings).
		Int("rows_written", s.RowsWritten).Int64("fs_ops", s.FSOps).Float64("seconds", s.DurationSeconds)
	if p := s.Phases; p != nil {
		ev = ev.Float64("check_seconds", p.Check).Float64("rows_seconds", p.Rows).Float64("walk_seconds", p.Walk).
			Float64("judge_seconds", p.Judge).Float64("write_seconds", p.Write)
	}
	if b := s.Budget; b != nil {
		ev = ev.Int("sized", b.Sized).Int("deferred", b.Deferred)
		if b.StalestVerifiedAt != nil {
			ev = ev.Time("stalest_verified_at", *b.StalestVerifiedAt)
		}
	}
	ev.Msg("audit finished")
	if s.Findings > 0 {
		return findingsCode(c.findingsExit)
	}
	return nil
}

func (c *auditCmd) writeReport(dest *output.Dest, rep *reconcile.Report) error {
	return writeAudit(dest, c.format, rep)
}

// writeAudit writes an audit's report to dest in format: the audit's own,
// and report merge and show.
func writeAudit(dest *output.Dest, format reportFormat, rep *reconcile.Report) error {
	return dest.Commit(func(w io.Writer) error {
		switch format {
		case "json":
			return report.AuditJSON(w, rep)
		case "html":
			return report.AuditHTML(w, rep)
		}
		return report.AuditText(w, rep)
	})
}

// writeMetrics writes the metrics file of a run that ended with err and
// pushes them to the Pushgateway, and returns err, or the metrics' error
// when the audit itself succeeded.
func (c *auditCmd) writeMetrics(mf *metrics.File, started time.Time, rep *reconcile.Report, walked *scanner.Progress, err error) error {
	run := metrics.Run{
		Started: started, Finished: c.env.now(), Report: rep,
		Success:         err == nil || errors.Is(err, errFindings),
		FilesystemCalls: walked.Calls.Load(),
		Shard:           c.selection.scope().Shard().String(),
		Build:           version.CurrentBuild(),
	}
	var werr error
	if mf != nil {
		werr = mf.Write(run)
	}
	if c.push != nil {
		werr = errors.Join(werr, pushRun(c.push, run))
	}
	switch {
	case werr == nil:
		return err
	case run.Success:
		if rep != nil && rep.Summary.RowsWritten+rep.Summary.PathsWritten > 0 {
			werr = fmt.Errorf("%w (the audit is done: %s)", werr, rowsWritten(rep))
		}
		return werr
	}
	// The audit's own error says more; the metrics file's is one more line.
	fmt.Fprintf(c.env.Stderr, "sessaudit audit: %s\n", oneLine(werr.Error()))
	return err
}

// pushRun pushes run, trying three times over about 3 s: a Pushgateway
// restarting should not fail a night's audit. It does not take the run's
// context: a run stopped by a signal still says so.
func pushRun(pg *metrics.Pushgateway, run metrics.Run) error {
	var err error
	for attempt, wait := 0, time.Second; attempt < 3; attempt, wait = attempt+1, wait*2 {
		if attempt > 0 {
			time.Sleep(wait / 2)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err = pg.Push(ctx, run)
		cancel()
		if err == nil {
			return nil
		}
	}
	return err
}

// rowsWritten says how many rows the audit of rep wrote: sizes, and
// paths with --backfill-paths.
func rowsWritten(rep *reconcile.Report) string {
	switch n := rep.Summary.RowsWritten + rep.Summary.PathsWritten; n {
	case 0:
		return "no row was written"
	case 1:
		return "1 row was written"
	default:
		return fmt.Sprintf("%d rows were written", n)
	}
}

// openStore connects to the accounts table of cfg for a run that writes:
// retries are logged, and a required column that schema check rates an
// error (an INT size, say, which would store wrong values or fail whole
// batches) is refused before the share is read.
func openStore(ctx context.Context, log zerolog.Logger, cfg db.Config) (*db.Store, error) {
	cfg.ConnectTimeout = dbConnectTimeout
	cfg.OnRetry = func(err error, attempt int, wait time.Duration) {
		log.Warn().Err(err).Int("attempt", attempt).Dur("wait", wait).Msg("database write failed; retrying")
	}
	store, err := db.Open(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if err := checklist.Check(store.Schema()).Usable(); err != nil {
		store.Close()
		return nil, err
	}
	return store, nil
}
