package writers

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

//go:embed page baileys.js
var files embed.FS

// LstatSize is an independent measurement of dir: the sum of the sizes of
// its regular files by filepath.WalkDir and os.Lstat, each inode once. An
// entry that vanishes under it is skipped.
func LstatSize(dir string) int64 {
	var total int64
	seen := map[[2]uint64]bool{}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return nil
		}
		fi, err := os.Lstat(p)
		if err != nil || !fi.Mode().IsRegular() {
			return nil
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Nlink > 1 {
			id := [2]uint64{uint64(st.Dev), st.Ino}
			if seen[id] {
				return nil
			}
			seen[id] = true
		}
		total += fi.Size()
		return nil
	})
	return total
}

// Writer is a process writing a session until the test ends.
type Writer struct {
	cmd    *exec.Cmd
	exited atomic.Bool
	err    error
	done   chan struct{}
	out    strings.Builder
}

// Start runs name with args, and env added to the environment, until the
// test ends. The writer runs in a process group of its own, and the test's
// cleanup stops it as Stop(SIGTERM) does: Chromium's renderer and utility
// processes outlive a killed browser process for a moment and go on
// writing the profile, which would race the removal of the test's
// temporary directory.
func Start(t testing.TB, env []string, name string, args ...string) *Writer {
	t.Helper()
	w := &Writer{cmd: exec.Command(name, args...), done: make(chan struct{})}
	w.cmd.Env = append(os.Environ(), env...)
	w.cmd.Stdout, w.cmd.Stderr = &w.out, &w.out
	w.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := w.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		w.err = w.cmd.Wait()
		w.exited.Store(true)
		close(w.done)
	}()
	t.Cleanup(func() {
		if err := w.Stop(syscall.SIGTERM); err != nil {
			t.Errorf("stop %s: %v", name, err)
		}
	})
	return w
}

// stopGrace is how long Stop lets the writer shut down before it kills
// what is left of its process group.
const stopGrace = 20 * time.Second

// Stop sends sig to the writer's process and waits until every process of
// its group is gone, killing the group when the writer has not exited 20 s
// later or its other processes have not followed 20 s after that. It
// returns an error when the writer did not stop on sig alone, and when
// processes survive SIGKILL. Stopping a stopped writer does nothing.
func (w *Writer) Stop(sig syscall.Signal) error {
	if !w.exited.Load() {
		w.cmd.Process.Signal(sig)
	}
	var err error
	select {
	case <-w.done:
	case <-time.After(stopGrace):
		err = fmt.Errorf("still running %v after %v", sig, stopGrace)
		syscall.Kill(-w.cmd.Process.Pid, syscall.SIGKILL)
	}
	group := w.cmd.Process.Pid
	for start := time.Now(); running(group); time.Sleep(20 * time.Millisecond) {
		if time.Since(start) > stopGrace {
			syscall.Kill(-group, syscall.SIGKILL)
		}
		if time.Since(start) > 2*stopGrace {
			return fmt.Errorf("process group %d still has processes %v after SIGKILL", group, stopGrace)
		}
	}
	<-w.done
	return err
}

// Exited is closed once the writer's process has exited.
func (w *Writer) Exited() <-chan struct{} { return w.done }

// Output is what the writer printed, once it has exited.
func (w *Writer) Output() string {
	<-w.done
	return w.out.String()
}

// running reports whether a process of group pgid is alive. It reads
// /proc rather than probing with kill(-pgid, 0), which also counts the
// zombies of children left for an init that may not reap them.
func running(pgid int) bool {
	group := strconv.Itoa(pgid)
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, path := range stats {
		b, err := os.ReadFile(path)
		if err != nil {
			continue // it exited while we looked
		}
		// pid (comm) state ppid pgrp ...: comm may hold spaces and parentheses.
		fields := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
		if len(fields) < 3 || fields[0] == "Z" || fields[0] == "X" {
			continue
		}
		if fields[2] == group {
			return true
		}
	}
	return false
}

// Running returns nil while the writer runs, and why it stopped once it
// has.
func (w *Writer) Running() error {
	if w.exited.Load() {
		return fmt.Errorf("%v: %s", w.err, w.out.String())
	}
	return nil
}

// WaitFor waits until path exists, within limit, failing the test when it
// does not or when running (a Writer's Running) returns an error first.
func WaitFor(t testing.TB, path string, limit time.Duration, running func() error) {
	t.Helper()
	for start := time.Now(); ; time.Sleep(100 * time.Millisecond) {
		if _, err := os.Lstat(path); err == nil {
			return
		}
		if err := running(); err != nil {
			t.Fatalf("the writer stopped before writing %s: %v", path, err)
		}
		if time.Since(start) > limit {
			t.Fatalf("%s not written within %v", path, limit)
		}
	}
}

// Chromium runs a headless Chromium with session as its profile on a page
// served from 127.0.0.1 that registers a service worker and writes Cache
// Storage, IndexedDB blobs and localStorage without pause; one step of the
// page writes a cache entry and a blob of at most 62 KB each, about 6 steps
// a second. It passes the flags whatsapp-web.js's LocalAuth passes and none
// that reaches the network, and returns once the service worker is
// written. It skips the test when Debian's chromium is not installed.
func Chromium(t testing.TB, session string) *Writer {
	t.Helper()
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("chromium is not installed (Debian's package chromium; .ci/run installs it): no real Chromium to write a profile")
	}
	page, err := fs.Sub(files, "page")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.FileServerFS(page))
	t.Cleanup(srv.Close)
	w := StartChromium(t, chromium, session, srv.URL)
	WaitFor(t, filepath.Join(session, "Default/Service Worker"), 30*time.Second, w.Running)
	return w
}

// StartChromium runs the chromium binary headless with profile as its
// user data directory on url, with the flags whatsapp-web.js's LocalAuth
// passes and none that reaches the network, until the test ends or Stop.
func StartChromium(t testing.TB, chromium, profile, url string) *Writer {
	t.Helper()
	return Start(t, nil, chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir="+profile, url)
}

// Baileys runs Baileys' own useMultiFileAuthState under Node, offline,
// writing session's creds and keys files several times a second as a
// connected client does (a step writes a signal session of at most 4 KB and
// a sender key of 700 bytes, or deletes a pre-key), and returns once
// creds.json is written. It skips the test when node or
// @whiskeysockets/baileys (in SESSAUDIT_TEST_NODE_MODULES) is missing.
func Baileys(t testing.TB, session string) *Writer {
	t.Helper()
	node, err := exec.LookPath("node")
	modules := baileysModules()
	if err != nil || modules == "" {
		t.Skip("node or @whiskeysockets/baileys is missing (.ci/run installs it and sets SESSAUDIT_TEST_NODE_MODULES): no real Baileys to write a session")
	}
	script, err := files.ReadFile("baileys.js")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "baileys.js")
	if err := os.WriteFile(path, script, 0o600); err != nil {
		t.Fatal(err)
	}
	w := Start(t, []string{"NODE_PATH=" + modules}, node, path, session)
	WaitFor(t, filepath.Join(session, "creds.json"), 30*time.Second, w.Running)
	return w
}

// baileysModules returns the node_modules directory that holds
// @whiskeysockets/baileys, or "" when there is none: .ci/run installs it
// and names it in SESSAUDIT_TEST_NODE_MODULES.
func baileysModules() string {
	dir := os.Getenv("SESSAUDIT_TEST_NODE_MODULES")
	if dir == "" {
		return ""
	}
	if _, err := os.Stat(filepath.Join(dir, "@whiskeysockets/baileys/package.json")); err != nil {
		return ""
	}
	return dir
}

// Churn writes session as Chromium does until ctx is done, about 8 entries
// created or deleted a second: cache entries created and the oldest
// deleted, a LevelDB log appended to and rotated into a table file, the
// Preferences file rewritten in place. A step writes a cache entry of at
// most 31 KB, appends at most 2.5 KB, writes a table of 4 KB and rewrites
// Preferences (at most 10 KB). It needs neither Chromium nor Node.
func Churn(ctx context.Context, session string) error {
	cache := filepath.Join(session, "Default/Cache/Cache_Data")
	ldb := filepath.Join(session, "Default/Local Storage/leveldb")
	prefs := filepath.Join(session, "Default/Preferences")
	for _, d := range []string{ldb, cache, filepath.Join(session, "Default/IndexedDB")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return err
		}
	}
	var entries []string
	for i := 0; ctx.Err() == nil; i++ {
		name := filepath.Join(cache, fmt.Sprintf("f_%06x", i))
		if err := os.WriteFile(name, make([]byte, 1000+rand.IntN(30000)), 0o600); err != nil {
			return err
		}
		entries = append(entries, name)
		if len(entries) > 30 {
			if err := os.Remove(entries[0]); err != nil {
				return err
			}
			entries = entries[1:]
		}
		log := filepath.Join(ldb, fmt.Sprintf("%06d.log", i/20))
		f, err := os.OpenFile(log, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
		if err != nil {
			return err
		}
		_, err = f.Write(make([]byte, 500+rand.IntN(2000)))
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
		if i%20 == 19 { // the log is compacted into a table, and removed
			if err := os.WriteFile(filepath.Join(ldb, fmt.Sprintf("%06d.ldb", i/20)), make([]byte, 4000), 0o600); err != nil {
				return err
			}
			if err := os.Remove(log); err != nil {
				return err
			}
		}
		if i%3 == 0 {
			if err := os.WriteFile(prefs, make([]byte, 5000+rand.IntN(5000)), 0o600); err != nil {
				return err
			}
		}
		select {
		case <-time.After(250 * time.Millisecond):
		case <-ctx.Done():
		}
	}
	return nil
}

// Rewrite rewrites path in place as Node's writeFile does: open with
// O_TRUNC, then the data in two writes, a pause before each. It returns how
// long the file was torn: from its truncation to its last write.
func Rewrite(path string, data []byte, pause time.Duration) (time.Duration, error) {
	start := time.Now()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return 0, err
	}
	time.Sleep(pause)
	_, err = f.Write(data[:len(data)/2])
	time.Sleep(pause)
	if err == nil {
		_, err = f.Write(data[len(data)/2:])
	}
	took := time.Since(start)
	return took, errors.Join(err, f.Close())
}
