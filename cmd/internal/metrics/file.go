package metrics

import (
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
	"time"

	"sessaudit/cmd/internal/output"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
)

// Audit is the batch audit, whose file has no command in its series' names.
const Audit Command = "audit"

// File is the metrics file of one run, opened before the command changes
// anything and written once, when it ends. It is treated as --output is
// (package output): a new path or a regular file is replaced atomically,
// anything else (a symbolic link, /dev/null, a FIFO with its reader) is
// written into and never replaced.
type File struct {
	path string
	dest *output.Dest
}

// Open checks the metrics file at path for command and opens it. It
// refuses, before anything is done, a file that cannot be written, a
// directory, "-" (metrics go to a file, not to standard output), a FIFO
// that no process reads, and the metrics file of another command: each
// has a file of its own, since node_exporter reads them all and one would
// replace the other's series.
func Open(path string, command Command) (*File, error) {
	if path == "-" {
		return nil, fmt.Errorf("%w: --metrics-file -: metrics go to a file, not to standard output", output.ErrDestination)
	}
	if w := writer(path); w != "" && w != command {
		return nil, fmt.Errorf("%w: --metrics-file %s: holds the metrics of sessaudit %s; give each command a file of its own", output.ErrDestination, path, w)
	}
	dest, err := output.OpenFor("--metrics-file", path, nil)
	if err != nil {
		return nil, err
	}
	return &File{path: path, dest: dest}, nil
}

// Write writes the audit's run to the file. When the run failed, the time
// of the last success is carried over from the file being replaced, so
// that "no success for a day" can be told from "the last run failed".
func (f *File) Write(run Run) error {
	lastSuccess, ok := run.Finished, run.Success
	if !run.Success {
		lastSuccess, ok = previousSuccess(f.path, run.Shard)
	}
	return f.commit(registry(run, run.Shard, lastSuccess, ok))
}

// WriteOp writes what reclaim, restore or purge did to the file.
func (f *File) WriteOp(op *Op) error {
	return f.commit(opRegistry(op))
}

// commit writes the series g gathers to the file in the text format, once,
// at the end of the run: what prometheus.WriteToTextfile writes, but
// through package output. WriteToTextfile renames a temporary file over
// the path, which would replace a symbolic link, /dev/null or a FIFO with
// a regular file, and makes it mode 0644 whatever the umask; output
// replaces only a new path or a regular file, and writes into anything
// else.
func (f *File) commit(g prometheus.Gatherer) error {
	if err := f.dest.Commit(func(w io.Writer) error { return writeText(w, g) }); err != nil {
		return fmt.Errorf("write metrics file: %w", err)
	}
	return nil
}

// writeText writes the series g gathers in the Prometheus text format.
func writeText(w io.Writer, g prometheus.Gatherer) error {
	families, err := g.Gather()
	if err != nil {
		return fmt.Errorf("gather metrics: %w", err)
	}
	for _, mf := range families {
		if _, err := expfmt.MetricFamilyToText(w, mf); err != nil {
			return fmt.Errorf("encode metrics: %w", err)
		}
	}
	return nil
}

// Close gives up a file that was not written; after Write it does nothing.
func (f *File) Close() { f.dest.Close() }

// readRegular returns the contents of path (through a link) when it is a
// regular file, and nil for anything else: reading a FIFO would wait for a
// writer, reading a device could do anything.
func readRegular(path string) []byte {
	fi, err := os.Stat(path)
	if err != nil || !fi.Mode().IsRegular() {
		return nil
	}
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return nil // replaced since the Stat
	}
	// A metrics file is a few kilobytes; more is not one of ours.
	b, err := io.ReadAll(io.LimitReader(f, 16<<20))
	if err != nil && !errors.Is(err, io.EOF) {
		return nil
	}
	return b
}

// unix is t as Prometheus writes a timestamp: seconds, to the millisecond.
func unix(t time.Time) float64 {
	return float64(t.UnixMilli()) / 1e3
}
