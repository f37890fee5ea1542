package scanner_test

import (
	"path/filepath"
	"testing"

	"github.com/spf13/afero"

	"sessaudit/scanner"
)

// TestMemIdentity: on MemMapFs, which has no inodes, a session directory
// removed and created again has another Identity, and the one a walk
// measured is the one LookupMany finds while nothing changed.
func TestMemIdentity(t *testing.T) {
	fsys := memTree(t, tree{"workspace_1/session_a/f": "x"})
	const rel = "workspace_1/session_a"
	e := walk(t, fsys, memRoot, scanner.Config{})[rel]
	id, err := lookupOne(t, fsys, memRoot, rel, scanner.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if !e.Identity.Same(id) || e.Identity == (scanner.Identity{}) || e.Changed != "" {
		t.Fatalf("walk Identity %v, Changed %q; LookupMany %v", e.Identity, e.Changed, id)
	}
	p := filepath.Join(memRoot, "workspace_1", "session_a")
	if err := fsys.RemoveAll(p); err != nil {
		t.Fatal(err)
	}
	if err := afero.WriteFile(fsys, filepath.Join(p, "f"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	now, err := lookupOne(t, fsys, memRoot, rel, scanner.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if now.Same(id) {
		t.Errorf("a directory created again is the Same as the one removed: %v", now)
	}
}
