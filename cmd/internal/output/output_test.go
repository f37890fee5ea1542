package output_test

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"sessaudit/cmd/internal/output"
)

func write(s string) func(io.Writer) error {
	return func(w io.Writer) error {
		_, err := io.WriteString(w, s)
		return err
	}
}

// entries lists dir, to catch temporary files left behind.
func entries(t *testing.T, dir string) []string {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, de := range des {
		names = append(names, de.Name())
	}
	return names
}

func readFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestStdout(t *testing.T) {
	for _, name := range []string{"", "-"} {
		var stdout bytes.Buffer
		d, err := output.Open(name, &stdout)
		if err != nil {
			t.Fatal(err)
		}
		if err := d.Commit(write("report\n")); err != nil {
			t.Fatal(err)
		}
		if stdout.String() != "report\n" {
			t.Errorf("%q: stdout %q", name, stdout.String())
		}
	}
}

// A new path and an existing regular file are replaced whole; until Commit
// the old file is untouched and nothing else is visible but the temporary
// file; the old file's permissions are kept.
func TestRegularFileReplacedAtomically(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "report.txt")
	if err := os.WriteFile(name, []byte(strings.Repeat("old report\n", 1000)), 0o600); err != nil {
		t.Fatal(err)
	}
	d, err := output.Open(name, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, name); !strings.HasPrefix(got, "old report") {
		t.Errorf("changed before Commit: %.20q", got)
	}
	if err := d.Commit(write("new\n")); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, name); got != "new\n" {
		t.Errorf("content %q", got)
	}
	fi, err := os.Lstat(name)
	if err != nil || fi.Mode() != 0o600 {
		t.Errorf("mode %v, %v; want -rw------- kept", fi.Mode(), err)
	}
	if got := entries(t, dir); len(got) != 1 {
		t.Errorf("left beside the report: %q", got)
	}

	fresh := filepath.Join(dir, "new.json")
	d, err = output.Open(fresh, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(fresh); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("%s exists before Commit: %v", fresh, err)
	}
	if err := d.Commit(write("{}\n")); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, fresh); got != "{}\n" {
		t.Errorf("content %q", got)
	}
}

// Close without Commit leaves everything as it was.
func TestCloseWithoutCommit(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "report.txt")
	if err := os.WriteFile(name, []byte("old\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	d, err := output.Open(name, nil)
	if err != nil {
		t.Fatal(err)
	}
	d.Close()
	if got := readFile(t, name); got != "old\n" {
		t.Errorf("content %q", got)
	}
	if got := entries(t, dir); len(got) != 1 {
		t.Errorf("left behind: %q", got)
	}
}

// A symbolic link is written through, not replaced: the link stays a link
// and what it points to holds the report (and only the report).
func TestSymlinkWrittenThrough(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "real.txt")
	link := filepath.Join(dir, "link.txt")
	if err := os.WriteFile(target, []byte(strings.Repeat("a longer old report\n", 10)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("real.txt", link); err != nil {
		t.Fatal(err)
	}
	d, err := output.Open(link, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Commit(write("new\n")); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Lstat(link)
	if err != nil || fi.Mode()&fs.ModeSymlink == 0 {
		t.Fatalf("link replaced: %v %v", fi.Mode(), err)
	}
	if got := readFile(t, target); got != "new\n" {
		t.Errorf("target holds %q", got)
	}
}

// A FIFO stays a FIFO and its reader gets the report.
func TestFIFOWrittenInto(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "pipe")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	// The reader is there first (a non-blocking open returns at once); it
	// reads once the report is in the pipe.
	r, err := os.OpenFile(fifo, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	d, err := output.Open(fifo, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Commit(write("through the pipe\n")); err != nil {
		t.Fatal(err)
	}
	if b, err := io.ReadAll(r); err != nil || string(b) != "through the pipe\n" {
		t.Errorf("reader got %q, %v", b, err)
	}
	fi, err := os.Lstat(fifo)
	if err != nil || fi.Mode()&fs.ModeNamedPipe == 0 {
		t.Errorf("no longer a FIFO: %v %v", fi.Mode(), err)
	}
}

// A FIFO that no process reads is refused at once, naming the flag: Open
// used to wait in open(2) for a reader that might never come, before the
// command had done anything.
func TestFIFOWithoutReaderRefused(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "pipe")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		d, err := output.OpenFor("--metrics-file", fifo, nil)
		if err == nil {
			d.Close()
		}
		done <- err
	}()
	var err error
	select {
	case err = <-done:
	case <-time.After(time.Minute):
		if r, oerr := os.Open(fifo); oerr == nil { // let it go
			r.Close()
		}
		t.Fatal("Open waited for a reader")
	}
	if !errors.Is(err, output.ErrDestination) || !strings.Contains(err.Error(), "--metrics-file "+fifo) || !strings.Contains(err.Error(), "no process reads") {
		t.Errorf("error %v, want ErrDestination naming --metrics-file and saying no process reads it", err)
	}
}

// /dev/null stays the null device.
func TestDevNull(t *testing.T) {
	before := guardDevNull(t)
	d, err := output.Open("/dev/null", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Commit(write("gone\n")); err != nil {
		t.Fatal(err)
	}
	after, err := os.Lstat("/dev/null")
	if err != nil || after.Mode() != before.Mode() || !os.SameFile(before, after) {
		t.Errorf("/dev/null was %v, is %v (%v)", before.Mode(), after.Mode(), err)
	}
}

// Everything about the destination is refused at Open, before the command
// has done anything, and leaves nothing behind.
func TestRefusedUpFront(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("nowhere", filepath.Join(dir, "dangling")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(".", filepath.Join(dir, "dirlink")); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ name, path, want string }{
		{"directory missing", filepath.Join(dir, "nope", "report.txt"), "no such file or directory"},
		{"parent is a file", filepath.Join(file, "report.txt"), "not a directory"},
		{"a directory", dir, "is a directory"},
		{"dangling link", filepath.Join(dir, "dangling"), "no such file or directory"},
		{"link to a directory", filepath.Join(dir, "dirlink"), "directory"},
		// sysfs refuses to create files, root included.
		{"not writable", "/sys/sessaudit-report.txt", "permission denied"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, err := output.Open(tc.path, nil)
			if err == nil {
				d.Close()
				t.Fatal("opened")
			}
			if !errors.Is(err, output.ErrDestination) || !strings.Contains(err.Error(), tc.want) ||
				!strings.Contains(err.Error(), "--output "+tc.path) {
				t.Errorf("error %q, want ErrDestination naming --output %s and %q", err, tc.path, tc.want)
			}
		})
	}
	if got := entries(t, dir); len(got) != 3 {
		t.Errorf("left behind: %q", got)
	}
}

// A full filesystem is found at Open, not after the work: the reservation
// fails. RLIMIT_FSIZE makes writes past a size fail as a full disk does
// (EFBIG instead of ENOSPC; Go ignores SIGXFSZ) for this process only.
func TestFullFilesystemRefusedUpFront(t *testing.T) {
	dir := t.TempDir()
	withFileSizeLimit(t, 4096, func() {
		d, err := output.Open(filepath.Join(dir, "report.json"), nil)
		if err == nil {
			d.Close()
			t.Fatal("opened")
		}
		if !errors.Is(err, output.ErrDestination) || !errors.Is(err, syscall.EFBIG) {
			t.Errorf("error %v, want ErrDestination and EFBIG", err)
		}
	})
	if got := entries(t, dir); len(got) != 0 {
		t.Errorf("left behind: %q", got)
	}
}

// withFileSizeLimit runs fn with the soft RLIMIT_FSIZE lowered to n bytes.
func withFileSizeLimit(t *testing.T, n uint64, fn func()) {
	t.Helper()
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &old); err != nil {
		t.Fatal(err)
	}
	lim := old
	lim.Cur = n
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &lim); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &old); err != nil {
			t.Fatal(err)
		}
	}()
	fn()
}

// guardDevNull fails the test and puts the null device back if the test
// replaced /dev/null: the bug under test does that when run as root, and
// the machine needs it.
func guardDevNull(t *testing.T) os.FileInfo {
	t.Helper()
	before, err := os.Lstat("/dev/null")
	if err != nil || before.Mode()&os.ModeCharDevice == 0 {
		t.Fatalf("/dev/null is not the null device before the test: %v %v", before, err)
	}
	t.Cleanup(func() {
		if fi, err := os.Lstat("/dev/null"); err == nil && os.SameFile(fi, before) {
			return
		}
		t.Errorf("/dev/null was replaced; restoring it")
		os.Remove("/dev/null")
		if err := syscall.Mknod("/dev/null", syscall.S_IFCHR|0o666, 1<<8|3); err != nil {
			t.Errorf("restore /dev/null: %v", err)
		}
		os.Chmod("/dev/null", 0o666)
	})
	return before
}
