//go:build linux

package quarantine_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"sessaudit/scanner"
	"sessaudit/scanner/quarantine"
)

// stallFS is a loopback of a directory through FUSE, served by this
// process, whose server stops answering renames or deletions on request,
// as a stalled NFS server stops answering: the system call of the code
// under test really hangs in the kernel until the test lets it through.
type stallFS struct {
	mnt string
	mu  sync.Mutex
	op  string        // "rename" or "remove": the operation to stall
	let chan struct{} // closed to let the stalled operations through
	hit chan struct{} // closed when one is stalled
}

type stallNode struct {
	*fs.LoopbackNode
	s *stallFS
}

// WrapChild makes every node of the mount a stallNode.
func (n *stallNode) WrapChild(_ context.Context, ops fs.InodeEmbedder) fs.InodeEmbedder {
	return &stallNode{LoopbackNode: ops.(*fs.LoopbackNode), s: n.s}
}

// stall stops answering op from now on.
func (s *stallFS) stall(op string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.op, s.let, s.hit = op, make(chan struct{}), make(chan struct{})
}

// release answers the stalled operations, and those after, again.
func (s *stallFS) release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.let != nil {
		close(s.let)
	}
	s.op, s.let = "", nil
}

func (s *stallFS) wait(op string) {
	s.mu.Lock()
	if s.op != op {
		s.mu.Unlock()
		return
	}
	let, hit := s.let, s.hit
	select {
	case <-hit:
	default:
		close(hit)
	}
	s.mu.Unlock()
	<-let
}

func (n *stallNode) Rename(ctx context.Context, name string, newParent fs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	n.s.wait("rename")
	return n.LoopbackNode.Rename(ctx, name, newParent, newName, flags)
}

func (n *stallNode) Rmdir(ctx context.Context, name string) syscall.Errno {
	n.s.wait("remove")
	return n.LoopbackNode.Rmdir(ctx, name)
}

func (n *stallNode) Unlink(ctx context.Context, name string) syscall.Errno {
	n.s.wait("remove")
	return n.LoopbackNode.Unlink(ctx, name)
}

// mountStall mounts src through a stallFS. It needs root and /dev/fuse,
// as the other tests of reclaim need root; it fails without them.
func mountStall(t *testing.T, src string) *stallFS {
	t.Helper()
	s := &stallFS{mnt: t.TempDir()}
	loop, err := fs.NewLoopbackRoot(src)
	must(t, err)
	zero := time.Duration(0)
	srv, err := fs.Mount(s.mnt, &stallNode{LoopbackNode: loop.(*fs.LoopbackNode), s: s}, &fs.Options{
		AttrTimeout: &zero, EntryTimeout: &zero,
		MountOptions: fuse.MountOptions{FsName: "stallfs", DirectMount: true},
	})
	if err != nil {
		t.Fatalf("mount a FUSE filesystem (needs root and /dev/fuse): %v", err)
	}
	t.Cleanup(func() {
		s.release()
		if err := srv.Unmount(); err != nil {
			t.Errorf("unmount %s: %v", s.mnt, err)
		}
	})
	return s
}

// within runs f, which must give up the operation s stalls within a few
// seconds, and returns its error. If f does not return in time, the stall
// is released (so that the process is not left with a call hanging on its
// own FUSE server) and the test fails.
func within(t *testing.T, s *stallFS, what string, f func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		return err
	case <-time.After(5 * time.Second):
	}
	s.release()
	err := <-done
	t.Fatalf("%s waited for a stalled call for 5 s: the call is not bounded (then: %v)", what, err)
	return nil
}

// stalled fails the test unless the server stalled an operation.
func stalled(t *testing.T, s *stallFS) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-s.hit:
	default:
		t.Fatalf("no %s reached the server: the test tested nothing", s.op)
	}
}

// waitFor polls cond for up to 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after 10 s", what)
		}
	}
}

// manifestLines returns the manifest's lines.
func manifestLines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	must(t, err)
	return strings.SplitAfter(string(b), "\n")
}

// TestMoveStopsWhenARenameHangs: a rename the server does not answer is
// given up after IOTimeout, the run stops (every call after fails at once)
// and the manifest says only what is known, the moving line: not
// not_moved, since the rename may still happen, and it does once the
// server answers. Restore then finds the directory by its identity and
// moves it back.
func TestMoveStopsWhenARenameHangs(t *testing.T) {
	src := t.TempDir()
	write(t, src, tree{"share/workspace_1/session_a/creds.json": "a", "share/workspace_1/session_b/creds.json": "b", "quarantine/": ""})
	s := mountStall(t, src)
	root, qdir := filepath.Join(s.mnt, "share"), filepath.Join(s.mnt, "quarantine")
	const timeout = 300 * time.Millisecond
	q, err := quarantine.Open(root, qdir, quarantine.Config{IOTimeout: timeout})
	must(t, err)
	defer q.Close()
	run, err := q.Begin(quarantine.RunInfo{Started: time.Now()})
	must(t, err)
	defer run.Close()
	idA, err := q.Look("workspace_1/session_a")
	must(t, err)
	idB, err := q.Look("workspace_1/session_b")
	must(t, err)

	s.stall("rename")
	err = within(t, s, "Move", func() error {
		return run.Move("workspace_1/session_a", idA, quarantine.Item{Kind: "orphan", SizeBytes: 1, Files: 1})
	})
	if !errors.Is(err, scanner.ErrIOTimeout) {
		t.Fatalf("Move with its rename stalled: %v, want ErrIOTimeout", err)
	}
	stalled(t, s)
	lines := manifestLines(t, run.ManifestPath())
	if got, want := states(readManifest(t, run.ManifestPath())), map[string]string{"workspace_1/session_a": quarantine.EventMoving}; !reflect.DeepEqual(got, want) {
		t.Errorf("manifest states %q, want %q: the rename's outcome is not known", got, want)
	}
	// The run makes no call anymore.
	start := time.Now()
	if err := run.Move("workspace_1/session_b", idB, quarantine.Item{Kind: "orphan"}); !errors.Is(err, scanner.ErrIOTimeout) || time.Since(start) > timeout/2 {
		t.Errorf("a Move after the hang: %v after %v, want ErrIOTimeout at once", err, time.Since(start))
	}
	if _, err := q.Look("workspace_1/session_b"); !errors.Is(err, scanner.ErrIOTimeout) {
		t.Errorf("a Look after the hang: %v, want ErrIOTimeout", err)
	}

	// The server answers: the rename it had happens, and the run has
	// written nothing since.
	s.release()
	waitFor(t, "the stalled rename completes", func() bool { return exists(filepath.Join(run.Dir(), "workspace_1/session_a")) })
	if exists(filepath.Join(root, "workspace_1/session_a")) || !exists(filepath.Join(root, "workspace_1/session_b")) {
		t.Error("after the release: session_a still in place, or session_b moved")
	}
	must(t, run.Close())
	if got := manifestLines(t, run.ManifestPath()); !reflect.DeepEqual(got, lines) {
		t.Errorf("the manifest changed after the hang:\n%q\nwas\n%q", got, lines)
	}
	res, err := quarantine.Restore(run.ManifestPath(), quarantine.RestoreConfig{IOTimeout: timeout})
	if err != nil || res.Done != 1 || res.Problems != 0 {
		t.Fatalf("Restore = %+v, %v; want session_a restored", res, err)
	}
	if !exists(filepath.Join(root, "workspace_1/session_a/creds.json")) {
		t.Error("session_a is not back")
	}
}

// TestRestoreAndPurgeStopWhenACallHangs: Restore and Purge give up a rename
// or a deletion the server does not answer and stop without recording it;
// run again once it answers, they find what happened meanwhile and finish.
func TestRestoreAndPurgeStopWhenACallHangs(t *testing.T) {
	src := t.TempDir()
	write(t, src, tree{"share/workspace_1/session_a/creds.json": "a", "share/workspace_1/session_b/creds.json": "b", "quarantine/": ""})
	s := mountStall(t, src)
	root, qdir := filepath.Join(s.mnt, "share"), filepath.Join(s.mnt, "quarantine")
	const timeout = 300 * time.Millisecond
	q, err := quarantine.Open(root, qdir, quarantine.Config{IOTimeout: timeout})
	must(t, err)
	defer q.Close()
	t0 := time.Now().Add(-48 * time.Hour)
	run, err := q.Begin(quarantine.RunInfo{Started: t0, Now: func() time.Time { return t0 }})
	must(t, err)
	for _, rel := range []string{"workspace_1/session_a", "workspace_1/session_b"} {
		id, err := q.Look(rel)
		must(t, err)
		must(t, run.Move(rel, id, quarantine.Item{Kind: "orphan", SizeBytes: 1}))
	}
	must(t, run.Close())

	t.Run("restore", func(t *testing.T) {
		lines := manifestLines(t, run.ManifestPath())
		s.stall("rename")
		err := within(t, s, "Restore", func() error {
			_, err := quarantine.Restore(run.ManifestPath(), quarantine.RestoreConfig{IOTimeout: timeout})
			return err
		})
		if !errors.Is(err, scanner.ErrIOTimeout) {
			t.Fatalf("Restore with its rename stalled: %v, want ErrIOTimeout", err)
		}
		stalled(t, s)
		if got := manifestLines(t, run.ManifestPath()); !reflect.DeepEqual(got, lines) {
			t.Errorf("Restore recorded something after the hang:\n%q", got[len(lines):])
		}
		s.release()
		waitFor(t, "the stalled rename completes", func() bool { return exists(filepath.Join(root, "workspace_1/session_a")) })
		res, err := quarantine.Restore(run.ManifestPath(), quarantine.RestoreConfig{IOTimeout: timeout})
		if err != nil || res.Problems != 0 || res.Done != 1 {
			t.Fatalf("Restore again = %+v, %v; want session_b restored, session_a found back", res, err)
		}
		want := map[string]string{"workspace_1/session_a": quarantine.EventRestored, "workspace_1/session_b": quarantine.EventRestored}
		if got := states(readManifest(t, run.ManifestPath())); !reflect.DeepEqual(got, want) {
			t.Errorf("manifest states %q, want %q", got, want)
		}
	})

	t.Run("purge", func(t *testing.T) {
		run, err := q.Begin(quarantine.RunInfo{Started: t0.Add(time.Hour), Now: func() time.Time { return t0 }})
		must(t, err)
		id, err := q.Look("workspace_1/session_a")
		must(t, err)
		must(t, run.Move("workspace_1/session_a", id, quarantine.Item{Kind: "orphan", SizeBytes: 1}))
		must(t, run.Close())
		lines := manifestLines(t, run.ManifestPath())
		cfg := quarantine.PurgeConfig{OlderThan: time.Hour, Yes: true, IOTimeout: timeout}
		s.stall("remove")
		err = within(t, s, "Purge", func() error { _, err := quarantine.Purge(qdir, cfg); return err })
		if !errors.Is(err, scanner.ErrIOTimeout) {
			t.Fatalf("Purge with its deletions stalled: %v, want ErrIOTimeout", err)
		}
		stalled(t, s)
		// The purging line comes before the deletion that hangs; nothing
		// after it.
		got := manifestLines(t, run.ManifestPath())
		if len(got) != len(lines)+1 || !reflect.DeepEqual(got[:len(lines)-1], lines[:len(lines)-1]) ||
			!strings.Contains(got[len(lines)-1], `"event":"purging"`) {
			t.Errorf("Purge recorded, around the hang:\n%q", got[len(lines)-1:])
		}
		s.release()
		res, err := quarantine.Purge(qdir, cfg)
		if err != nil || res.Problems != 0 || res.RunsRemoved != 1 {
			t.Fatalf("Purge again = %+v, %v; want the run removed", res, err)
		}
		if exists(run.Dir()) || !exists(filepath.Join(root, "workspace_1/session_b/creds.json")) {
			t.Error("the run is still there, or session_b (restored) was deleted")
		}
	})
}
