package reconcile

import (
	"errors"
	"fmt"
	"testing"

	"sessaudit/scanner"
)

func TestLargest(t *testing.T) {
	var measured []scanner.Entry
	add := func(ws uint64, id string, size int64) {
		p := fmt.Sprintf("workspace_%d/session_%s", ws, id)
		measured = append(measured, scanner.Entry{Kind: scanner.KindSession, Path: p, WorkspaceID: ws, SessionID: id,
			Usage: scanner.Usage{Size: size, Metered: size + 2048, Files: 1}})
	}
	// Workspace 1: twelve sessions of 1..12 bytes (78). Workspace 2: one of
	// 100. Workspace 3: two of 5, tied with workspace 1's 5.
	for i := int64(1); i <= 12; i++ {
		add(1, fmt.Sprintf("s%02d", i), i)
	}
	add(2, "big", 100)
	add(3, "a", 5)
	add(3, "b", 5)
	// Neither an unreadable session nor an unrecognized entry counts.
	measured = append(measured,
		scanner.Entry{Kind: scanner.KindSession, Path: "workspace_4/session_x", WorkspaceID: 4, Err: errors.New("EIO"), Usage: scanner.Usage{Size: 1 << 40}},
		scanner.Entry{Kind: scanner.KindUnrecognized, Path: "workspace_5/session_l", WorkspaceID: 5, Usage: scanner.Usage{Size: 1 << 40}})

	// The tally is given what the walk measured; it counts only sessions
	// measured without error.
	var tl tally
	for i := range measured {
		tl.add(&measured[i])
	}
	sessions, workspaces, n := tl.largest.result()
	var got []string
	for _, s := range sessions {
		got = append(got, fmt.Sprintf("%s=%d", s.Path, s.SizeBytes))
	}
	want := []string{
		"workspace_2/session_big=100", "workspace_1/session_s12=12", "workspace_1/session_s11=11",
		"workspace_1/session_s10=10", "workspace_1/session_s09=9", "workspace_1/session_s08=8",
		"workspace_1/session_s07=7", "workspace_1/session_s06=6",
		"workspace_1/session_s05=5", "workspace_3/session_a=5",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("largest sessions\n got %v\nwant %v", got, want)
	}
	wantWS := []WorkspaceUsage{
		{WorkspaceID: 2, Sessions: 1, SizeBytes: 100, MeteredBytes: 2148, Files: 1},
		{WorkspaceID: 1, Sessions: 12, SizeBytes: 78, MeteredBytes: 78 + 12*2048, Files: 12},
		{WorkspaceID: 3, Sessions: 2, SizeBytes: 10, MeteredBytes: 10 + 2*2048, Files: 2},
	}
	if fmt.Sprint(workspaces) != fmt.Sprint(wantWS) || n != 3 {
		t.Errorf("largest workspaces %v of %d, want %v of 3", workspaces, n, wantWS)
	}

	var none largestTally
	s, w, n := none.result()
	if s == nil || w == nil || len(s)+len(w)+n != 0 {
		t.Errorf("nothing measured: %v %v %d, want empty lists (JSON []) and 0", s, w, n)
	}
}
