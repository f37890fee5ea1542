package cli

// What reclaim, restore and purge share: the help of their --io-timeout,
// their metrics file and how their quarantine steps and paths print.

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"sessaudit/cmd/internal/metrics"
	"sessaudit/cmd/internal/report"
	"sessaudit/scanner/quarantine"
)

// ioTimeoutUsage is the help of the --io-timeout of reclaim, restore and
// purge.
const ioTimeoutUsage = "give up on one filesystem operation after this long; a rename, deletion or manifest write that does not answer stops the run (exit 2), which records nothing more"

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
