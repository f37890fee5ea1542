package cli_test

import (
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"sessaudit/cmd/internal/cli"
)

// runBounded runs args like run, but fails the test when the command has
// not returned after a minute instead of hanging the suite: the defect
// under test blocks for ever. unblock is called then, to let it go.
func runBounded(t *testing.T, unblock func(), fsysArgs func() result) result {
	t.Helper()
	done := make(chan result, 1)
	go func() { done <- fsysArgs() }()
	select {
	case res := <-done:
		return res
	case <-time.After(time.Minute):
		unblock()
		<-done
		t.Fatal("the command did not return within a minute")
	}
	return result{}
}

// Issue 18 item 3: --metrics-file is treated as --output is: /dev/null
// stays the null device, a symbolic link stays a link and its target gets
// the metrics, a FIFO is written into when a process reads it and refused
// at once when none does (it blocked the audit for ever before any work).
func TestMetricsFileNotReplaced(t *testing.T) {
	f := newFixture(t)
	dir := t.TempDir()
	target := filepath.Join(dir, "target.prom")
	link := filepath.Join(dir, "link.prom")
	mustDo(t, os.WriteFile(target, []byte("# old\n"), 0o644))
	mustDo(t, os.Symlink(target, link))
	fifo := filepath.Join(dir, "pipe.prom")
	mustDo(t, syscall.Mkfifo(fifo, 0o600))
	null := guardDevNull(t)
	qdir := t.TempDir()

	audit := func(metricsFile string) result {
		return f.run(t, "audit", "--root", f.root, "--path-prefix", "/mnt/efs", "--dsn", f.dsn,
			"--format", "json", "--log-level", "warn", "--dry-run", "--metrics-file", metricsFile)
	}
	purge := func(metricsFile string) result {
		return run(t, nil, "purge", "--quarantine", qdir, "--older-than", "1d", "--metrics-file", metricsFile)
	}
	for name, command := range map[string]func(string) result{"audit": audit, "purge": purge} {
		t.Run(name, func(t *testing.T) {
			if res := command("/dev/null"); res.code == cli.ExitFailed {
				t.Fatalf("/dev/null: exit %d\n%s", res.code, res.stderr)
			}
			if fi, err := os.Lstat("/dev/null"); err != nil || fi.Mode() != null.Mode() || !os.SameFile(fi, null) {
				t.Fatalf("/dev/null replaced: %v %v", fi.Mode(), err)
			}

			mustDo(t, os.WriteFile(target, []byte("# old\n"), 0o644))
			if res := command(link); res.code == cli.ExitFailed {
				t.Fatalf("link: exit %d\n%s", res.code, res.stderr)
			}
			if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
				t.Errorf("link replaced by %v (%v)", fi.Mode(), err)
			}
			if text, err := os.ReadFile(target); err != nil || !strings.Contains(string(text), "sessaudit_") {
				t.Errorf("the link's target does not hold the metrics: %v\n%s", err, text)
			}

			// A FIFO nobody reads: refused at once, before any work.
			before := dump(t, f.dsn)
			res := runBounded(t, func() {
				if r, err := os.Open(fifo); err == nil {
					go io.Copy(io.Discard, r)
				}
			}, func() result { return command(fifo) })
			if res.code != cli.ExitFailed || !strings.Contains(res.stderr, "--metrics-file") {
				t.Errorf("FIFO without a reader: exit %d, stderr %q: want 2 naming --metrics-file", res.code, res.stderr)
			}
			if after := dump(t, f.dsn); !reflect.DeepEqual(before, after) {
				t.Error("rows changed although the command refused")
			}

			// A FIFO a process reads: it gets the metrics.
			r, err := os.OpenFile(fifo, os.O_RDONLY|syscall.O_NONBLOCK, 0)
			mustDo(t, err)
			defer r.Close()
			res = runBounded(t, func() {}, func() result { return command(fifo) })
			if res.code == cli.ExitFailed {
				t.Fatalf("FIFO with a reader: exit %d\n%s", res.code, res.stderr)
			}
			text, _ := io.ReadAll(r)
			if !strings.Contains(string(text), "sessaudit_") {
				t.Errorf("the FIFO's reader got %q", text)
			}
			if fi, err := os.Lstat(fifo); err != nil || fi.Mode()&os.ModeNamedPipe == 0 {
				t.Errorf("FIFO replaced by %v (%v)", fi.Mode(), err)
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 3 {
				t.Errorf("left behind in %s: %v", dir, entries)
			}
		})
	}
}
