package scanner_test

import (
	"context"
	"errors"
	"io/fs"
	"sync"
	"testing"
	"time"

	"github.com/spf13/afero"

	"sessaudit/scanner"
	"sessaudit/scanner/faultfs"
)

// TestLookupManyMem: on afero's MemMapFs, LookupMany gives the Identity a
// walk gave an unchanged session, another one for a session removed and
// created again, and the errors of what is missing or not a directory.
func TestLookupManyMem(t *testing.T) {
	fsys := memTree(t, tree{
		"workspace_1/session_a/f": "x",
		"workspace_1/session_b/f": "x",
		"workspace_1/f":           "x",
		"workspace_2/session_c/f": "x",
	})
	entries := walk(t, fsys, memRoot, scanner.Config{})
	if err := fsys.RemoveAll(memRoot + "/workspace_1/session_b"); err != nil {
		t.Fatal(err)
	}
	writeTree(t, fsys, memRoot, tree{"workspace_1/session_b/f": "x"})
	rels := []string{"workspace_1/session_a", "workspace_1/session_b", "workspace_2/session_c",
		"workspace_1/session_none", "workspace_7/session_a", "workspace_1/f"}
	got := lookupMany(t, fsys, memRoot, rels, scanner.Config{})
	for i, want := range []string{"same", "replaced", "same", "not exist", "not exist", "not a session dir"} {
		rel, g := rels[i], got[i]
		outcome := kindOf(g.err)
		if g.err == nil {
			outcome = "replaced"
			if g.id.Same(entries[rel].Identity) {
				outcome = "same"
			}
		}
		if outcome != want {
			t.Errorf("%s: %s (%v, %v), want %s", rel, outcome, g.id, g.err, want)
		}
	}
}

// TestLookupManyIOTimeout: a workspace that does not answer times out the
// sessions in it, and only those.
func TestLookupManyIOTimeout(t *testing.T) {
	for _, tc := range []struct {
		name string
		rule faultfs.Rule
		want []string
	}{
		{"opening a workspace", faultfs.Rule{Path: "/workspace_1", Ops: faultfs.OpOpen},
			[]string{"timeout", "timeout", "ok"}},
		{"looking at a session", faultfs.Rule{Path: "/session_b", Ops: faultfs.OpLstat},
			[]string{"ok", "timeout", "ok"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base := memTree(t, tree{"workspace_1/session_a/f": "x", "workspace_1/session_b/f": "x", "workspace_2/session_c/f": "x"})
			tc.rule.Stall = make(chan struct{})
			fsys := faultfs.New(base, tc.rule)
			t.Cleanup(fsys.Release)
			rels := []string{"workspace_1/session_a", "workspace_1/session_b", "workspace_2/session_c"}
			got := lookupMany(t, fsys, memRoot, rels, scanner.Config{IOTimeout: 50 * time.Millisecond, Workers: 1})
			for i, want := range tc.want {
				if k := kindOf(got[i].err); k != want {
					t.Errorf("%s: %s (%v), want %s", rels[i], k, got[i].err, want)
				}
			}
			if err := got[1].err; !errors.Is(err, scanner.ErrIOTimeout) || errors.Is(err, fs.ErrNotExist) {
				t.Errorf("session_b: %v, want an ErrIOTimeout", err)
			}
		})
	}
}

type looked struct {
	id  scanner.Identity
	err error
}

// lookupMany runs LookupMany and returns what it reported for each rel,
// failing t unless it reported each exactly once.
func lookupMany(t *testing.T, fsys afero.Fs, root string, rels []string, cfg scanner.Config) []looked {
	t.Helper()
	got := make([]looked, len(rels))
	calls := make([]int, len(rels))
	var mu sync.Mutex
	err := scanner.LookupMany(context.Background(), fsys, root, rels, cfg, func(i int, id scanner.Identity, err error) {
		mu.Lock()
		defer mu.Unlock()
		got[i] = looked{id, err}
		calls[i]++
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, n := range calls {
		if n != 1 {
			t.Errorf("%s reported %d times", rels[i], n)
		}
	}
	return got
}

// lookupOne runs LookupMany on rel alone.
func lookupOne(t *testing.T, fsys afero.Fs, root, rel string, cfg scanner.Config) (scanner.Identity, error) {
	t.Helper()
	g := lookupMany(t, fsys, root, []string{rel}, cfg)[0]
	return g.id, g.err
}

// kindOf classes a LookupMany error the way its callers tell them apart.
func kindOf(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, fs.ErrNotExist):
		return "not exist"
	case errors.Is(err, scanner.ErrNotSessionDir):
		return "not a session dir"
	case errors.Is(err, scanner.ErrIOTimeout):
		return "timeout"
	}
	return "other: " + err.Error()
}
