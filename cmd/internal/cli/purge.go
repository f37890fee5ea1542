package cli

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"sessaudit/cmd/internal/metrics"
	"sessaudit/cmd/internal/report"
	"sessaudit/scanner"
	"sessaudit/scanner/quarantine"
)

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
