package scanner_test

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"sessaudit/scanner"
)

// TestOsLookupMany: on real directories, LookupMany gives every session
// what it gives the session looked at alone (links, missing sessions and workspaces, other
// entries, a workspace of more sessions than one goroutine looks at), and
// tells a directory replaced since the walk from one that was not.
func TestOsLookupMany(t *testing.T) { forEachOS(t, testOsLookupMany) }

func testOsLookupMany(t *testing.T, impl osImpl) {
	tr := tree{
		"workspace_1/session_a/f":    "x",
		"workspace_1/session_b/f":    "x",
		"workspace_1/f":              "x",
		"workspace_4/session_new/f":  "x",
		"elsewhere/session_c/":       "",
		"elsewhere/session_link/g":   "x",
		"elsewhere/session_moved/g":  "x",
		"workspace_2/session_keep/h": "x",
	}
	const big = 300 // more than one goroutine's share of a workspace
	for k := range big {
		tr[fmt.Sprintf("workspace_5/session_%d/", k)] = ""
	}
	root := osTree(t, tr)
	symlink(t, filepath.Join(root, "elsewhere", "session_link"), filepath.Join(root, "workspace_1", "session_link"))
	symlink(t, "elsewhere", filepath.Join(root, "workspace_3"))
	settle(t)
	fsys, cfg := impl.fs(t, faults{}, scanner.Config{})
	entries := walk(t, fsys, root, cfg)
	// Replace session_b by another directory, the old one kept so that
	// its inode number cannot be given to the new one.
	wb := filepath.Join(root, "workspace_1", "session_b")
	if err := os.Rename(wb, filepath.Join(root, "elsewhere", "session_b_old")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(root, "elsewhere", "session_moved"), wb); err != nil {
		t.Fatal(err)
	}

	rels := []string{
		"workspace_1/session_a", "workspace_1/session_b", "workspace_2/session_keep",
		"workspace_1/session_none", "workspace_9/session_a", // missing
		"workspace_1/session_link", "workspace_3/session_c", "workspace_1/f", // not real directories
		"not/a/session/path",
		"workspace_1/session_a", // twice
	}
	for k := range big {
		rels = append(rels, fmt.Sprintf("workspace_5/session_%d", k))
	}
	got := lookupMany(t, fsys, root, rels, cfg)
	for i, rel := range rels {
		want, wantErr := lookupOne(t, fsys, root, rel, cfg)
		g := got[i]
		if kindOf(g.err) != kindOf(wantErr) || !g.id.Same(want) {
			t.Errorf("%s: LookupMany %v, %v; alone %v, %v", rel, g.id, g.err, want, wantErr)
		}
	}
	cases := []struct {
		rel  string
		same bool
	}{
		{"workspace_1/session_a", true},
		{"workspace_2/session_keep", true},
		{"workspace_1/session_b", false},
	}
	for k := range big {
		cases = append(cases, struct {
			rel  string
			same bool
		}{fmt.Sprintf("workspace_5/session_%d", k), true})
	}
	for _, tc := range cases {
		g := got[slices.Index(rels, tc.rel)]
		if e := entries[tc.rel]; g.err != nil || e.Identity == (scanner.Identity{}) || e.Identity.Same(g.id) != tc.same {
			t.Errorf("%s: walk %v, LookupMany %v (%v); want Same %v", tc.rel, e.Identity, g.id, g.err, tc.same)
		}
	}
	for rel, want := range map[string]error{
		"workspace_1/session_none": fs.ErrNotExist,
		"workspace_9/session_a":    fs.ErrNotExist,
		"workspace_1/session_link": scanner.ErrNotSessionDir,
		"workspace_3/session_c":    scanner.ErrNotSessionDir,
		"workspace_1/f":            scanner.ErrNotSessionDir,
		"not/a/session/path":       scanner.ErrNotSessionDir,
	} {
		if err := got[slices.Index(rels, rel)].err; !errors.Is(err, want) {
			t.Errorf("%s: %v, want %v", rel, err, want)
		}
	}
}
