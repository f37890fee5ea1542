package scanner_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spf13/afero"

	"sessaudit/scanner"
)

// memRoot is where in-memory trees are laid out.
const memRoot = "/share"

// tree is a filesystem written as a literal: path relative to the root →
// content. A path ending in "/" is an empty directory.
type tree map[string]string

// writeTree lays t out under root on fsys.
func writeTree(t *testing.T, fsys afero.Fs, root string, tr tree) {
	t.Helper()
	if err := fsys.MkdirAll(root, 0o755); err != nil {
		t.Fatal(err)
	}
	for rel, content := range tr {
		p := filepath.Join(root, filepath.FromSlash(rel))
		if strings.HasSuffix(rel, "/") {
			if err := fsys.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := fsys.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := afero.WriteFile(fsys, p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// memTree returns an in-memory filesystem holding tr under memRoot.
func memTree(t *testing.T, tr tree) afero.Fs {
	t.Helper()
	fsys := afero.NewMemMapFs()
	writeTree(t, fsys, memRoot, tr)
	return fsys
}

// osTree lays tr out in a fresh temporary directory and returns its path.
func osTree(t *testing.T, tr tree) string {
	t.Helper()
	root := filepath.Join(t.TempDir(), "share")
	writeTree(t, afero.NewOsFs(), root, tr)
	return root
}

// result is the comparable part of an Entry.
type result struct {
	Kind  scanner.Kind
	WS    uint64
	SID   string
	Usage scanner.Usage
	Err   bool
}

func (r result) String() string {
	return fmt.Sprintf("{kind %d ws %d sid %q usage %+v err %t}", r.Kind, r.WS, r.SID, r.Usage, r.Err)
}

func summarize(entries map[string]scanner.Entry) map[string]result {
	out := make(map[string]result, len(entries))
	for p, e := range entries {
		out[p] = result{Kind: e.Kind, WS: e.WorkspaceID, SID: e.SessionID, Usage: e.Usage, Err: e.Err != nil}
	}
	return out
}

// walk runs Walk and returns its entries by path. An entry reported twice,
// a zero Kind, an unrecognized entry without a reason and a failed Walk all
// fail the test.
func walk(t *testing.T, fsys afero.Fs, root string, cfg scanner.Config) map[string]scanner.Entry {
	t.Helper()
	entries, err := walkErr(t, fsys, root, cfg)
	if err != nil {
		t.Fatalf("Walk: %v", err)
	}
	return entries
}

func walkErr(t *testing.T, fsys afero.Fs, root string, cfg scanner.Config) (map[string]scanner.Entry, error) {
	t.Helper()
	var mu sync.Mutex
	entries := map[string]scanner.Entry{}
	var dups []string
	err := scanner.Walk(context.Background(), fsys, root, cfg, func(e scanner.Entry) error {
		mu.Lock()
		defer mu.Unlock()
		if _, ok := entries[e.Path]; ok {
			dups = append(dups, e.Path)
		}
		entries[e.Path] = e
		return nil
	})
	if len(dups) > 0 {
		t.Errorf("entries reported more than once: %q", dups)
	}
	for p, e := range entries {
		switch {
		case e.Kind == 0:
			t.Errorf("%q: entry with zero Kind", p)
		case e.Kind == scanner.KindUnrecognized && e.Reason == "":
			t.Errorf("%q: unrecognized entry without a reason", p)
		case e.Kind == scanner.KindWorkspaceError && e.Err == nil:
			t.Errorf("%q: workspace error without Err", p)
		case e.Err != nil && e.Usage != (scanner.Usage{}):
			t.Errorf("%q: entry with Err %v has non-zero usage %+v", p, e.Err, e.Usage)
		}
	}
	return entries, err
}

// diff fails the test with a readable list of differences.
func diff(t *testing.T, got, want map[string]result) {
	t.Helper()
	if reflect.DeepEqual(got, want) {
		return
	}
	var keys []string
	for k := range got {
		keys = append(keys, k)
	}
	for k := range want {
		if _, ok := got[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		g, gok := got[k]
		w, wok := want[k]
		switch {
		case !gok:
			t.Errorf("%q: missing, want %v", k, w)
		case !wok:
			t.Errorf("%q: unexpected %v", k, g)
		case g != w:
			t.Errorf("%q:\n got %v\nwant %v", k, g, w)
		}
	}
}

// setTimes sets the modification time of root and everything under it to
// mtime, without following symbolic links' targets (links keep theirs).
func setTimes(t *testing.T, fsys afero.Fs, root string, mtime time.Time) {
	t.Helper()
	var paths []string
	err := afero.Walk(fsys, root, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if fi.Mode()&os.ModeSymlink == 0 {
			paths = append(paths, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range paths {
		if err := fsys.Chtimes(p, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
}

// faultFs wraps an afero.Fs and lets a test decide what happens when chosen
// paths are opened or lstat-ed: fail with an error, or change the filesystem
// first (remove or swap a directory, cancel a context) and then open for
// real. Paths are compared after filepath.Clean.
type faultFs struct {
	afero.Fs
	// open maps a path to what runs before it is opened, by Open or
	// OpenFile. An error it returns is what the open returns.
	open map[string]func() error
	// lstat maps a path to the error Stat and Lstat return for it.
	lstat map[string]error
	// list maps a directory to what runs before an open handle of it
	// is listed (Readdir, Readdirnames). An error it returns is what the
	// listing returns.
	list map[string]func() error
}

// listHookFile runs before before its directory is listed.
type listHookFile struct {
	afero.File
	before func() error
}

func (f listHookFile) Readdir(n int) ([]os.FileInfo, error) {
	if err := f.before(); err != nil {
		return nil, err
	}
	return f.File.Readdir(n)
}

func (f listHookFile) Readdirnames(n int) ([]string, error) {
	if err := f.before(); err != nil {
		return nil, err
	}
	return f.File.Readdirnames(n)
}

func (f *faultFs) hooked(name string, file afero.File, err error) (afero.File, error) {
	if h, ok := f.list[filepath.Clean(name)]; ok && err == nil {
		return listHookFile{File: file, before: h}, nil
	}
	return file, err
}

func (f *faultFs) before(name string) error {
	if h, ok := f.open[filepath.Clean(name)]; ok {
		return h()
	}
	return nil
}

func (f *faultFs) Open(name string) (afero.File, error) {
	if err := f.before(name); err != nil {
		return nil, err
	}
	file, err := f.Fs.Open(name)
	return f.hooked(name, file, err)
}

func (f *faultFs) OpenFile(name string, flag int, perm os.FileMode) (afero.File, error) {
	if err := f.before(name); err != nil {
		return nil, err
	}
	file, err := f.Fs.OpenFile(name, flag, perm)
	return f.hooked(name, file, err)
}

func (f *faultFs) Stat(name string) (os.FileInfo, error) {
	if err, ok := f.lstat[filepath.Clean(name)]; ok {
		return nil, err
	}
	return f.Fs.Stat(name)
}

func (f *faultFs) LstatIfPossible(name string) (os.FileInfo, bool, error) {
	if err, ok := f.lstat[filepath.Clean(name)]; ok {
		return nil, false, err
	}
	if l, ok := f.Fs.(afero.Lstater); ok {
		return l.LstatIfPossible(name)
	}
	fi, err := f.Fs.Stat(name)
	return fi, false, err
}

// failWith returns an open hook that fails like the kernel would.
func failWith(name string, errno error) func() error {
	return func() error {
		return &os.PathError{Op: "open", Path: name, Err: errno}
	}
}

// aferoOsFs is the host filesystem behind a type that is not *afero.OsFs,
// so that Walk reads it through afero.
type aferoOsFs struct{ afero.Fs }

func (a aferoOsFs) LstatIfPossible(name string) (os.FileInfo, bool, error) {
	return a.Fs.(afero.Lstater).LstatIfPossible(name)
}

// timeoutOutcomes walks root and returns each entry's outcome: "ok",
// "timeout" for ErrIOTimeout, or the error's text. It fails t if the walk
// fails or takes over 2 s: the tests that use it set a 50 ms IOTimeout.
func timeoutOutcomes(t *testing.T, fsys afero.Fs, root string, cfg scanner.Config) map[string]string {
	t.Helper()
	var mu sync.Mutex
	got := map[string]string{}
	start := time.Now()
	err := scanner.Walk(context.Background(), fsys, root, cfg, func(e scanner.Entry) error {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case e.Err == nil:
			got[e.Path] = "ok"
		case errors.Is(e.Err, scanner.ErrIOTimeout):
			got[e.Path] = "timeout"
		default:
			got[e.Path] = e.Err.Error()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("walk took %v with a %v timeout", d, cfg.IOTimeout)
	}
	return got
}

// walkCancelledByFn walks root with a fn that cancels the walk on the first
// entry, and returns the entries fn saw. It fails t if fn is called after
// Walk returned or Walk does not return context.Canceled.
func walkCancelledByFn(t *testing.T, fsys afero.Fs, root string, cfg scanner.Config) []scanner.Entry {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	var entries []scanner.Entry
	returned := false
	err := scanner.Walk(ctx, fsys, root, cfg, func(e scanner.Entry) error {
		mu.Lock()
		defer mu.Unlock()
		if returned {
			t.Error("fn called after Walk returned")
		}
		entries = append(entries, e)
		cancel()
		return nil
	})
	mu.Lock()
	returned = true
	mu.Unlock()
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Walk = %v, want context.Canceled", err)
	}
	return entries
}

func diffStrings(t *testing.T, got, want map[string]string) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("got %v, want %v", got, want)
	}
	for p, w := range want {
		if got[p] != w {
			t.Errorf("%s: %q, want %q", p, got[p], w)
		}
	}
}

// settle waits until a tree written by the test has stood unchanged for
// scanner.Quiet, so that a walk takes it for a settled tree rather than one
// being copied in or deleted.
func settle(t *testing.T) {
	t.Helper()
	time.Sleep(scanner.Quiet + 20*time.Millisecond)
}
