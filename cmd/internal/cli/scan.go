package cli

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"sync"
	"time"

	"sessaudit/cmd/internal/progress"
	"sessaudit/cmd/internal/report"
	"sessaudit/scanner"
)

type scanCmd struct {
	env       Env
	walk      walkFlags
	format    formatFlag
	selection selection
	logLevel  string
}

func newScanCmd(env Env) *scanCmd {
	return &scanCmd{env: env, format: "text"}
}

func (c *scanCmd) flags() *flag.FlagSet {
	fs := flag.NewFlagSet("scan", flag.ContinueOnError)
	c.walk.register(fs, "`DIR` holding the workspace_<id> directories (required)")
	fs.Var(&c.format, "format", "output: `text|json`: a table, or one JSON object per session per line")
	c.selection.register(fs, "scan")
	registerLogLevel(fs, &c.logLevel)
	return fs
}

func (c *scanCmd) run(ctx context.Context) error {
	// The progress line, on a terminal only, and the logs share stderr;
	// JSON lines written to the same terminal during the walk would not.
	walked := &scanner.Progress{}
	var line *progress.Line
	if c.format != "json" || !progress.IsTerminal(c.env.Stdout) {
		line = progress.New(c.env.Stderr, walked)
	}
	defer line.Stop()
	c.env.Stderr = line.Writer(c.env.Stderr)
	log, err := newLogger(c.env, c.logLevel)
	if err != nil {
		return err
	}
	if err := c.walk.check(); err != nil {
		return err
	}
	fsys := c.env.fs()
	scope := c.selection.scope()
	walk := c.walk.config(scope)
	walk.Progress = walked // counts every filesystem call of the run: fs_ops
	if err := c.walk.checkRoot(ctx, fsys, walk); err != nil {
		return err
	}

	out := bufio.NewWriter(c.env.Stdout)
	var (
		mu       sync.Mutex
		sessions []scanner.Entry
		others   []scanner.Entry
		problems int
		changed  int
	)
	line.Start(progressInterval)
	started := time.Now()
	err = scanner.Walk(ctx, fsys, c.walk.root, walk, func(e scanner.Entry) error {
		mu.Lock()
		defer mu.Unlock()
		switch e.Kind {
		case scanner.KindSession:
			if e.Err != nil {
				problems++
				log.Warn().Str("path", e.Path).Err(e.Err).Msg("session unreadable")
			} else if e.Changed != "" {
				// Not a problem: a session being written changes under
				// most measurements. Its record says so.
				changed++
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
	line.Stop()
	// fs_ops is the figure EFS bills and throttles by: what the scan cost
	// the filesystem, stopped or not.
	log.Info().Bool("complete", err == nil).Int64("sessions", walked.SessionsDone.Load()).Int("changed", changed).
		Int64("fs_ops", walked.Calls.Load()).Float64("seconds", time.Since(started).Seconds()).Msg("scan finished")
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
