package scanner_test

import (
	"testing"

	"github.com/spf13/afero"

	"sessaudit/scanner"
)

// TestProgressCountsTheWalk checks that after a walk the progress counters
// add up to what the walk reported, on both walkers.
func TestProgressCountsTheWalk(t *testing.T) {
	tr := tree{
		"workspace_1/session_a/creds.json":     "{}",
		"workspace_1/session_a/Default/x.ldb":  "0123456789",
		"workspace_1/session_b/":               "",
		"workspace_2/session_c/app-state.json": "abc",
		"workspace_3/":                         "",
		"workspace_3/notes.txt":                "stray",
		"workspace_x/session_d/f":              "ignored",
		"lost+found/":                          "",
	}
	for name, fs := range map[string]struct {
		fsys afero.Fs
		root string
	}{
		"afero":  {memTree(t, tr), memRoot},
		"native": {afero.NewOsFs(), osTree(t, tr)},
	} {
		t.Run(name, func(t *testing.T) {
			var p scanner.Progress
			entries := walk(t, fs.fsys, fs.root, scanner.Config{Progress: &p})
			var sessions, entriesSeen, bytes int64
			for _, e := range entries {
				if e.Kind == scanner.KindSession {
					sessions++
					entriesSeen += e.Usage.Files + e.Usage.Dirs
					bytes += e.Usage.Size
				}
			}
			got := [6]int64{p.Workspaces.Load(), p.WorkspacesListed.Load(), p.Sessions.Load(),
				p.SessionsDone.Load(), p.Entries.Load(), p.Bytes.Load()}
			want := [6]int64{3, 3, sessions, sessions, entriesSeen, bytes}
			if got != want {
				t.Errorf("progress (workspaces, listed, sessions, done, entries, bytes) = %v, want %v", got, want)
			}
			// Every entry of a session was looked at by at least one call,
			// and so were the root and the workspaces.
			t.Logf("%d filesystem calls, %d entries in sessions", p.Calls.Load(), entriesSeen)
			if calls := p.Calls.Load(); calls < entriesSeen+4 {
				t.Errorf("%d filesystem calls counted for %d entries in sessions", calls, entriesSeen)
			}
			if sessions != 3 || bytes != 15 {
				t.Errorf("walk saw %d sessions, %d bytes; want 3 and 15", sessions, bytes)
			}
		})
	}
}

func TestProgressScoped(t *testing.T) {
	tr := tree{"workspace_1/session_a/f": "1", "workspace_2/session_b/f": "22", "workspace_4/session_c/f": "4444"}
	var p scanner.Progress
	walk(t, memTree(t, tr), memRoot, scanner.Config{Progress: &p, Scope: scanner.OnlyWorkspaces(2, 4, 9)})
	// workspace_9 is listed in the scope but absent: it counts as listed.
	if got := [4]int64{p.Workspaces.Load(), p.WorkspacesListed.Load(), p.SessionsDone.Load(), p.Bytes.Load()}; got != [4]int64{3, 3, 2, 6} {
		t.Errorf("progress (workspaces, listed, sessions done, bytes) = %v, want [3 3 2 6]", got)
	}
}
