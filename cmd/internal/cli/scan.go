package cli

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"sync"
	"time"

	"sessaudit/cmd/internal/report"
	"sessaudit/scanner"
)

type scanCmd struct {
	env       Env
	root      string
	format    formatFlag
	workers   int
	selection selection
	ioTimeout time.Duration
	logLevel  string
}

func newScanCmd(env Env) *scanCmd {
	return &scanCmd{env: env, format: "text"}
}

func (c *scanCmd) flags() *flag.FlagSet {
	fs := flag.NewFlagSet("scan", flag.ContinueOnError)
	fs.StringVar(&c.root, "root", "", "`DIR` holding the workspace_<id> directories (required)")
	fs.Var(&c.format, "format", "output: `text|json`: a table, or one JSON object per session per line")
	fs.IntVar(&c.workers, "workers", 0, "`N` filesystem operations in flight (0: 4 per CPU on a local filesystem, 128 on a network or FUSE one)")
	c.selection.register(fs, "scan")
	fs.DurationVar(&c.ioTimeout, "io-timeout", scanner.DefaultIOTimeout, "give up on one filesystem operation after this long; the session is then unreadable")
	fs.StringVar(&c.logLevel, "log-level", "info", "debug, info, warn or error")
	return fs
}

func (c *scanCmd) run(ctx context.Context) error {
	log, err := newLogger(c.env, c.logLevel)
	if err != nil {
		return err
	}
	if c.root == "" {
		return usageError("--root is required")
	}
	if c.ioTimeout <= 0 {
		return usageError("--io-timeout %v must be positive", c.ioTimeout)
	}
	if c.workers < 0 {
		return usageError("--workers %d must not be negative (0 chooses for the filesystem)", c.workers)
	}

	out := bufio.NewWriter(c.env.Stdout)
	var (
		mu       sync.Mutex
		sessions []scanner.Entry
		others   []scanner.Entry
		problems int
	)
	cfg := scanner.Config{Workers: c.workers, Scope: c.selection.scope(), IOTimeout: c.ioTimeout}
	err = scanner.Walk(ctx, c.env.fs(), c.root, cfg, func(e scanner.Entry) error {
		mu.Lock()
		defer mu.Unlock()
		switch e.Kind {
		case scanner.KindSession:
			if e.Err != nil {
				problems++
				log.Warn().Str("path", e.Path).Err(e.Err).Msg("session unreadable")
			}
			if c.format == "json" {
				return report.ScanLine(out, e)
			}
			sessions = append(sessions, e)
		case scanner.KindUnrecognized:
			problems++
			log.Warn().Str("path", e.Path).Str("reason", e.Reason).Msg("unrecognized entry")
			others = append(others, e)
		case scanner.KindWorkspaceError:
			problems++
			log.Warn().Str("path", e.Path).Err(e.Err).Msg("workspace unreadable")
			others = append(others, e)
		}
		return nil
	})
	if err != nil {
		out.Flush()
		return fmt.Errorf("scan: %w", err)
	}
	if c.format == "text" {
		err = report.ScanTable(out, sessions, others)
	}
	if ferr := out.Flush(); err == nil {
		err = ferr
	}
	if err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	if problems > 0 {
		return errFindings
	}
	return nil
}
