package cli

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"slices"
	"sync"
	"text/tabwriter"
	"time"

	"sessaudit/reconcile"
	"sessaudit/scanner"
)

type scanCmd struct {
	env        Env
	root       string
	format     formatFlag
	workers    int
	workspaces workspaceList
	ioTimeout  time.Duration
	logLevel   string
}

func newScanCmd(env Env) *scanCmd {
	return &scanCmd{env: env, format: "text"}
}

func (c *scanCmd) flags() *flag.FlagSet {
	fs := flag.NewFlagSet("scan", flag.ContinueOnError)
	fs.StringVar(&c.root, "root", "", "directory holding the workspace_<id> directories (required)")
	fs.Var(&c.format, "format", "output: text (a table) or json (one JSON object per session per line)")
	fs.IntVar(&c.workers, "workers", 0, "filesystem operations in flight (0: 4 per CPU on a local filesystem, 128 on a network or FUSE one)")
	fs.Var(&c.workspaces, "workspace", "scan only this workspace id (repeatable)")
	fs.DurationVar(&c.ioTimeout, "io-timeout", scanner.DefaultIOTimeout, "give up on one filesystem operation after this long; the session is then unreadable")
	fs.StringVar(&c.logLevel, "log-level", "info", "debug, info, warn or error")
	return fs
}

// scanRecord is one session in --format json.
type scanRecord struct {
	Path           string `json:"path"`
	WorkspaceID    uint64 `json:"workspace_id"`
	Session        string `json:"session"`
	SizeBytes      *int64 `json:"size_bytes,omitempty"`
	AllocatedBytes *int64 `json:"allocated_bytes,omitempty"`
	MeteredBytes   *int64 `json:"metered_bytes,omitempty"`
	Files          *int64 `json:"files,omitempty"`
	Error          string `json:"error,omitempty"`
}

func (c *scanCmd) run(ctx context.Context) (int, error) {
	log, err := newLogger(c.env, c.logLevel)
	if err != nil {
		return ExitFailed, err
	}
	if c.root == "" {
		return ExitFailed, usageError("--root is required")
	}
	if c.ioTimeout <= 0 {
		return ExitFailed, usageError("--io-timeout %v must be positive", c.ioTimeout)
	}
	if c.workers < 0 {
		return ExitFailed, usageError("--workers %d must not be negative (0 chooses for the filesystem)", c.workers)
	}
	var workspaces []uint64
	if len(c.workspaces) > 0 {
		workspaces = c.workspaces
	}

	out := bufio.NewWriter(c.env.Stdout)
	enc := json.NewEncoder(out)
	var (
		mu       sync.Mutex
		sessions []scanner.Entry
		others   []scanner.Entry
		problems int
	)
	cfg := scanner.Config{Workers: c.workers, Workspaces: workspaces, IOTimeout: c.ioTimeout}
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
				return enc.Encode(record(e))
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
		return ExitFailed, fmt.Errorf("scan: %w", err)
	}
	if c.format == "text" {
		writeScanTable(out, sessions, others)
	}
	if err := out.Flush(); err != nil {
		return ExitFailed, fmt.Errorf("write output: %w", err)
	}
	if problems > 0 {
		return ExitFindings, nil
	}
	return ExitClean, nil
}

func record(e scanner.Entry) scanRecord {
	r := scanRecord{Path: e.Path, WorkspaceID: e.WorkspaceID, Session: e.SessionID}
	if e.Err != nil {
		r.Error = oneLine(e.Err.Error())
		return r
	}
	u := e.Usage
	r.SizeBytes, r.AllocatedBytes, r.MeteredBytes, r.Files = &u.Size, &u.Allocated, &u.Metered, &u.Files
	return r
}

func writeScanTable(w *bufio.Writer, sessions, others []scanner.Entry) {
	byPath := func(a, b scanner.Entry) int { return cmp.Compare(a.Path, b.Path) }
	slices.SortFunc(sessions, byPath)
	slices.SortFunc(others, byPath)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "PATH\tFILES\tSIZE\tALLOCATED\tMETERED\t")
	var total scanner.Usage
	for _, e := range sessions {
		if e.Err != nil {
			fmt.Fprintf(tw, "%q\t-\t-\t-\t-\t\n", e.Path)
			continue
		}
		u := e.Usage
		total.Add(u)
		fmt.Fprintf(tw, "%q\t%d\t%s\t%s\t%s\t\n", e.Path, u.Files, reconcile.HumanBytes(u.Size),
			reconcile.HumanBytes(u.Allocated), reconcile.HumanBytes(u.Metered))
	}
	fmt.Fprintf(tw, "total: %d sessions\t%d\t%s\t%s\t%s\t\n", len(sessions), total.Files,
		reconcile.HumanBytes(total.Size), reconcile.HumanBytes(total.Allocated), reconcile.HumanBytes(total.Metered))
	tw.Flush()
	for _, e := range others {
		switch e.Kind {
		case scanner.KindUnrecognized:
			fmt.Fprintf(w, "unrecognized %q: %s\n", e.Path, e.Reason)
		case scanner.KindWorkspaceError:
			fmt.Fprintf(w, "unreadable workspace %q: %s\n", e.Path, oneLine(e.Err.Error()))
		}
	}
	for _, e := range sessions {
		if e.Err != nil {
			fmt.Fprintf(w, "unreadable session %q: %s\n", e.Path, oneLine(e.Err.Error()))
		}
	}
}
