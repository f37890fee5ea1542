package faultfs_test

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/spf13/afero"

	"sessaudit/scanner/faultfs"
)

// memTree writes files (path → content) on a new MemMapFs.
func memTree(t *testing.T, files map[string]string) afero.Fs {
	t.Helper()
	base := afero.NewMemMapFs()
	for name, content := range files {
		if err := afero.WriteFile(base, name, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return base
}

var tree = map[string]string{
	"/root/workspace_1/session_a/creds.json":       `{"me":1}`,
	"/root/workspace_1/session_a/pre-key-1.json":   "{}",
	"/root/workspace_1/session_a/pre-key-2.json":   "{}",
	"/root/workspace_1/session_b/Default/History":  "h",
	"/root/workspace_2/session_c/Local State":      "{}",
	"/root/workspace_2/session_c/Default/LOG":      "log",
	"/root/workspace_2/session_c/Default/LOG.old":  "old",
	"/root/workspace_2/session_c/Default/CURRENT":  "MANIFEST-000001\n",
	"/root/workspace_2/session_c/Default/MANIFEST": "m",
}

// ops runs one operation of each kind on name and returns their errors.
func ops(fsys *faultfs.FS, name string) map[string]error {
	errs := map[string]error{}
	_, errs["stat"] = fsys.Stat(name)
	_, _, errs["lstat"] = fsys.LstatIfPossible(name)
	f, err := fsys.Open(name)
	errs["open"] = err
	if err == nil {
		defer f.Close()
		_, errs["readdir"] = f.Readdir(-1)
		_, errs["fstat"] = f.Stat()
	}
	return errs
}

func TestErrors(t *testing.T) {
	for _, errno := range []syscall.Errno{syscall.EIO, syscall.ESTALE, syscall.EACCES} {
		t.Run(errno.Error(), func(t *testing.T) {
			fsys := faultfs.New(memTree(t, tree), faultfs.Rule{Path: "session_b", Err: errno})
			for op, err := range ops(fsys, "/root/workspace_1/session_b") {
				var pe *fs.PathError
				if !errors.As(err, &pe) || pe.Path != "/root/workspace_1/session_b" || !errors.Is(err, errno) {
					t.Errorf("%s: got %v, want *fs.PathError for the path wrapping %v", op, err, errno)
				}
			}
			for op, err := range ops(fsys, "/root/workspace_1/session_a") {
				if err != nil {
					t.Errorf("%s of an unmatched path: %v", op, err)
				}
			}
			if got := fsys.Counts().Failed; got != 3 { // stat, lstat, open; readdir and fstat never ran
				t.Errorf("Failed = %d, want 3", got)
			}
			if errno == syscall.EACCES {
				if _, err := fsys.Stat("/root/workspace_1/session_b"); !errors.Is(err, fs.ErrPermission) {
					t.Errorf("EACCES: errors.Is(err, fs.ErrPermission) is false for %v", err)
				}
			}
		})
	}
}

func TestErrorOnFileOperations(t *testing.T) {
	// An Open that succeeds can still fail when its directory is read or its
	// data is read, as when a server goes away after the lookup.
	tests := []struct {
		name string
		rule faultfs.Rule
		do   func(afero.File) error
	}{
		{"readdir", faultfs.Rule{Ops: faultfs.OpReaddir, Err: syscall.EIO}, func(f afero.File) error { _, err := f.Readdir(-1); return err }},
		{"readdirnames", faultfs.Rule{Ops: faultfs.OpReaddir, Err: syscall.EIO}, func(f afero.File) error { _, err := f.Readdirnames(-1); return err }},
		{"fstat", faultfs.Rule{Ops: faultfs.OpStat, Err: syscall.ESTALE}, func(f afero.File) error { _, err := f.Stat(); return err }},
		{"read", faultfs.Rule{Ops: faultfs.OpRead, Err: syscall.EIO}, func(f afero.File) error { _, err := io.ReadAll(f); return err }},
		{"readat", faultfs.Rule{Ops: faultfs.OpRead, Err: syscall.EIO}, func(f afero.File) error { _, err := f.ReadAt(make([]byte, 1), 0); return err }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fsys := faultfs.New(memTree(t, tree), tc.rule)
			name := "/root/workspace_2/session_c/Default"
			if strings.HasPrefix(tc.name, "read") && !strings.HasPrefix(tc.name, "readdir") {
				name += "/LOG"
			}
			f, err := fsys.Open(name)
			if err != nil {
				t.Fatalf("open: %v", err)
			}
			defer f.Close()
			err = tc.do(f)
			var pe *fs.PathError
			if !errors.As(err, &pe) || pe.Path != name || !errors.Is(err, tc.rule.Err) {
				t.Fatalf("got %v, want *fs.PathError for %s wrapping %v", err, name, tc.rule.Err)
			}
		})
	}
}

func TestRuleMatching(t *testing.T) {
	tests := []struct {
		name     string
		rule     faultfs.Rule
		path     string
		wantFail []string // operations of ops() that fail; after a failed open, none on the file runs
	}{
		{"substring", faultfs.Rule{Path: "workspace_2/", Err: syscall.EIO}, "/root/workspace_2/session_c", []string{"lstat", "open", "stat"}},
		{"substring elsewhere", faultfs.Rule{Path: "workspace_2/", Err: syscall.EIO}, "/root/workspace_1/session_a", nil},
		{"empty path matches all", faultfs.Rule{Err: syscall.EIO}, "/root", []string{"lstat", "open", "stat"}},
		{"func", faultfs.Rule{Match: func(p string) bool { return strings.HasSuffix(p, "_c") }, Err: syscall.EIO}, "/root/workspace_2/session_c", []string{"lstat", "open", "stat"}},
		{"func overrides path", faultfs.Rule{Path: "session_c", Match: func(string) bool { return false }, Err: syscall.EIO}, "/root/workspace_2/session_c", nil},
		{"only stat", faultfs.Rule{Ops: faultfs.OpStat, Err: syscall.EIO}, "/root", []string{"fstat", "stat"}},
		{"only lstat", faultfs.Rule{Ops: faultfs.OpLstat, Err: syscall.EIO}, "/root", []string{"lstat"}},
		{"only readdir", faultfs.Rule{Ops: faultfs.OpReaddir, Err: syscall.EIO}, "/root", []string{"readdir"}},
		{"read only is not metadata", faultfs.Rule{Ops: faultfs.OpRead, Err: syscall.EIO}, "/root", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fsys := faultfs.New(memTree(t, tree), tc.rule)
			var failed []string
			for op, err := range ops(fsys, tc.path) {
				if err != nil {
					failed = append(failed, op)
				}
			}
			if got, want := sorted(failed), strings.Join(tc.wantFail, ","); got != want {
				t.Errorf("failed operations %q, want %q", got, want)
			}
		})
	}
}

func sorted(s []string) string {
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if s[j] < s[i] {
				s[i], s[j] = s[j], s[i]
			}
		}
	}
	return strings.Join(s, ",")
}

func TestDelay(t *testing.T) {
	const d = 20 * time.Millisecond
	fsys := faultfs.New(memTree(t, tree), faultfs.Rule{Path: "workspace_2", Delay: d})
	tests := []struct {
		name    string
		do      func() error
		atLeast time.Duration
	}{
		{"stat", func() error { _, err := fsys.Stat("/root/workspace_2/session_c"); return err }, d},
		{"lstat", func() error { _, _, err := fsys.LstatIfPossible("/root/workspace_2"); return err }, d},
		{"open", func() error {
			f, err := fsys.Open("/root/workspace_2")
			if err == nil {
				f.Close()
			}
			return err
		}, d},
		{"readdir charges each entry", func() error {
			f, err := fsys.Open("/root/workspace_2/session_c/Default") // open: d, readdir of 4 entries: 5d
			if err != nil {
				return err
			}
			defer f.Close()
			infos, err := f.Readdir(-1)
			if len(infos) != 4 {
				t.Errorf("Readdir returned %d entries, want 4", len(infos))
			}
			return err
		}, 6 * d},
		{"readdirnames charges the call only", func() error {
			f, err := fsys.Open("/root/workspace_2/session_c/Default")
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = f.Readdirnames(-1)
			return err
		}, 2 * d},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			if err := tc.do(); err != nil {
				t.Fatal(err)
			}
			if el := time.Since(start); el < tc.atLeast {
				t.Errorf("took %v, want at least %v", el, tc.atLeast)
			}
		})
	}
	t.Run("unmatched path is not delayed", func(t *testing.T) {
		before := fsys.Counts().Delayed
		if _, err := fsys.Stat("/root/workspace_1"); err != nil {
			t.Fatal(err)
		}
		if got := fsys.Counts().Delayed; got != before {
			t.Errorf("Delayed went from %d to %d", before, got)
		}
	})
}

func TestDelaysAdd(t *testing.T) {
	const d = 15 * time.Millisecond
	fsys := faultfs.New(memTree(t, tree), faultfs.Rule{Delay: d}, faultfs.Rule{Path: "session_c", Delay: d})
	start := time.Now()
	if _, err := fsys.Stat("/root/workspace_2/session_c"); err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el < 2*d {
		t.Errorf("took %v, want at least %v", el, 2*d)
	}
	if got := fsys.Counts().Delayed; got != 1 {
		t.Errorf("Delayed = %d, want 1 (one operation)", got)
	}
}

func TestDelayThenError(t *testing.T) {
	const d = 20 * time.Millisecond
	fsys := faultfs.New(memTree(t, tree), faultfs.Rule{Delay: d}, faultfs.Rule{Err: syscall.ESTALE}, faultfs.Rule{Delay: time.Hour})
	start := time.Now()
	_, err := fsys.Stat("/root")
	if !errors.Is(err, syscall.ESTALE) {
		t.Fatalf("got %v, want ESTALE", err)
	}
	if el := time.Since(start); el < d || el > time.Minute {
		t.Errorf("took %v, want the first delay only (rules after the error are not applied)", el)
	}
}

func TestStall(t *testing.T) {
	t.Run("until the channel is closed", func(t *testing.T) {
		unblock := make(chan struct{})
		fsys := faultfs.New(memTree(t, tree), faultfs.Rule{Path: "session_a", Stall: unblock})
		t.Cleanup(fsys.Release)
		done := make(chan error, 1)
		go func() { _, err := fsys.Stat("/root/workspace_1/session_a"); done <- err }()
		waitFor(t, func() bool { return fsys.Counts().Waiting == 1 })
		if _, err := fsys.Stat("/root/workspace_1/session_b"); err != nil {
			t.Fatalf("other path: %v", err)
		}
		select {
		case err := <-done:
			t.Fatalf("stalled Stat returned %v before the channel was closed", err)
		case <-time.After(20 * time.Millisecond):
		}
		close(unblock)
		if err := <-done; err != nil {
			t.Fatalf("Stat after release: %v", err)
		}
		if c := fsys.Counts(); c.Stalled != 1 || c.Waiting != 0 {
			t.Errorf("Stalled = %d, Waiting = %d, want 1, 0", c.Stalled, c.Waiting)
		}
	})
	t.Run("forever until Release", func(t *testing.T) {
		fsys := faultfs.New(memTree(t, tree), faultfs.Rule{Ops: faultfs.OpReaddir, Stall: make(chan struct{}), Err: syscall.EIO})
		f, err := fsys.Open("/root/workspace_1")
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		var wg sync.WaitGroup
		errs := make([]error, 3)
		for i := range errs {
			wg.Go(func() { _, errs[i] = f.Readdir(-1) })
		}
		waitFor(t, func() bool { return fsys.Counts().Waiting == 3 })
		fsys.Release()
		wg.Wait()
		for i, err := range errs {
			if !errors.Is(err, syscall.EIO) {
				t.Errorf("reader %d: got %v, want EIO after the stall", i, err)
			}
		}
		// After Release, stalls pass at once.
		if _, err := f.Readdir(-1); !errors.Is(err, syscall.EIO) {
			t.Errorf("after Release: got %v, want EIO", err)
		}
	})
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestCounts(t *testing.T) {
	fsys := faultfs.New(memTree(t, tree))
	f, err := fsys.Open("/root/workspace_2/session_c/Default")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Readdir(-1); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Stat(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if _, err := fsys.Stat("/root"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := fsys.LstatIfPossible("/root"); err != nil {
		t.Fatal(err)
	}
	if err := afero.WriteFile(fsys, "/root/new", []byte("x"), 0o644); err != nil { // open + write
		t.Fatal(err)
	}
	if _, err := afero.ReadFile(fsys, "/root/new"); err != nil { // open + stat + reads
		t.Fatal(err)
	}
	if err := fsys.Mkdir("/root/d", 0o755); err != nil {
		t.Fatal(err)
	}
	c := fsys.Counts()
	want := faultfs.Counts{Open: 3, Stat: 3, Lstat: 1, Readdir: 1, Entries: 4, Write: 2, Read: c.Read}
	if c != want {
		t.Errorf("Counts = %+v, want %+v", c, want)
	}
	if c.Read < 1 {
		t.Errorf("Read = %d, want at least 1", c.Read)
	}
	if got := c.RoundTrips(); got != 3+3+1+1+4 {
		t.Errorf("RoundTrips = %d, want 12", got)
	}
}

func TestConcurrentUse(t *testing.T) {
	fsys := faultfs.New(memTree(t, tree), faultfs.Rule{Path: "session_b", Err: syscall.EIO}, faultfs.Rule{Delay: time.Microsecond})
	const goroutines, each = 16, 200
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range each {
				name := "/root/workspace_1/session_a"
				if (g+i)%2 == 0 {
					name = "/root/workspace_1/session_b"
				}
				_, err := fsys.Stat(name)
				if (err != nil) != strings.HasSuffix(name, "_b") {
					t.Errorf("Stat(%s) = %v", name, err)
					return
				}
			}
		})
	}
	wg.Wait()
	c := fsys.Counts()
	if c.Stat != goroutines*each || c.Failed != goroutines*each/2 {
		t.Errorf("Stat = %d, Failed = %d, want %d, %d", c.Stat, c.Failed, goroutines*each, goroutines*each/2)
	}
}

// plainFs hides every optional interface of the Fs it embeds.
type plainFs struct{ afero.Fs }

func TestLstat(t *testing.T) {
	dir := t.TempDir()
	if err := os.Symlink("hostname-1234", filepath.Join(dir, "SingletonLock")); err != nil { // dangling, as Chromium leaves it
		t.Fatal(err)
	}
	link := filepath.Join(dir, "SingletonLock")

	t.Run("delegates to base", func(t *testing.T) {
		fsys := faultfs.New(afero.NewOsFs())
		fi, lstatted, err := fsys.LstatIfPossible(link)
		if err != nil || !lstatted || fi.Mode()&fs.ModeSymlink == 0 {
			t.Fatalf("LstatIfPossible = %v, %v, %v; want a symlink, true, nil", fi, lstatted, err)
		}
		target, err := fsys.ReadlinkIfPossible(link)
		if err != nil || target != "hostname-1234" {
			t.Fatalf("ReadlinkIfPossible = %q, %v", target, err)
		}
		if _, err := fsys.Stat(link); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("Stat of a dangling link = %v, want ErrNotExist", err)
		}
	})
	t.Run("falls back to Stat", func(t *testing.T) {
		fsys := faultfs.New(plainFs{afero.NewOsFs()})
		fi, lstatted, err := fsys.LstatIfPossible(dir)
		if err != nil || lstatted || !fi.IsDir() {
			t.Fatalf("LstatIfPossible = %v, %v, %v; want a dir, false, nil", fi, lstatted, err)
		}
		if _, err := fsys.ReadlinkIfPossible(link); !errors.Is(err, afero.ErrNoReadlink) {
			t.Fatalf("ReadlinkIfPossible = %v, want ErrNoReadlink", err)
		}
		if err := fsys.SymlinkIfPossible("x", filepath.Join(dir, "l")); !errors.Is(err, afero.ErrNoSymlink) {
			t.Fatalf("SymlinkIfPossible = %v, want ErrNoSymlink", err)
		}
	})
	t.Run("faults apply", func(t *testing.T) {
		fsys := faultfs.New(afero.NewOsFs(), faultfs.Rule{Ops: faultfs.OpLstat, Path: "Singleton", Err: syscall.EIO})
		if _, _, err := fsys.LstatIfPossible(link); !errors.Is(err, syscall.EIO) {
			t.Fatalf("got %v, want EIO", err)
		}
	})
}

func TestWrites(t *testing.T) {
	fsys := faultfs.New(afero.NewMemMapFs(), faultfs.Rule{Ops: faultfs.OpWrite, Path: "ro/", Err: syscall.EACCES})
	if err := fsys.MkdirAll("/rw", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := afero.WriteFile(fsys, "/rw/a", []byte("a"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := fsys.Rename("/rw/a", "/ro/a"); !errors.Is(err, fs.ErrPermission) {
		t.Errorf("Rename to a matched path = %v, want EACCES", err)
	}
	if err := fsys.Remove("/rw/a"); err != nil {
		t.Errorf("Remove = %v", err)
	}
}
