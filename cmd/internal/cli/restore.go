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
