package scanner_test

import (
	"strings"
	"testing"

	"sessaudit/scanner"
)

// FuzzParseSessionPath checks that a path the layout accepts round-trips
// through SessionPath and can never name anything but a directory two levels
// below the root.
func FuzzParseSessionPath(f *testing.F) {
	for _, s := range []string{
		"workspace_7/session_abc", "workspace_0/session_x", "workspace_07/session_a", "workspace_7/session_",
		"workspace_7/session_a/b", "workspace_7/session_..", "../workspace_7/session_a", "workspace_7/session_a\x00",
		"workspace_18446744073709551616/session_a", "workspace_7/session_new\nline",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, rel string) {
		ws, id, ok := scanner.ParseSessionPath(rel)
		if !ok {
			return
		}
		if got := scanner.SessionPath(ws, id); got != rel {
			t.Fatalf("ParseSessionPath(%q) = %d, %q, which maps back to %q", rel, ws, id, got)
		}
		if strings.Count(rel, "/") != 1 || strings.ContainsRune(rel, 0) || strings.HasPrefix(rel, "/") {
			t.Fatalf("accepted %q", rel)
		}
		for _, elem := range strings.Split(rel, "/") {
			if elem == "." || elem == ".." || elem == "" {
				t.Fatalf("accepted %q with element %q", rel, elem)
			}
		}
		if wsID, ok := scanner.ParseWorkspace(scanner.WorkspaceName(ws)); !ok || wsID != ws {
			t.Fatalf("workspace %d does not round-trip", ws)
		}
	})
}
