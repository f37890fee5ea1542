package reconcile

import (
	"cmp"
	"slices"

	"sessaudit/scanner"
)

// LargestCount is how many sessions and workspaces Summary lists as the
// largest.
const LargestCount = 10

// SessionUsage is what one session directory holds.
type SessionUsage struct {
	// Path is relative to the root.
	Path         string `json:"path"`
	WorkspaceID  uint64 `json:"workspace_id"`
	SizeBytes    int64  `json:"size_bytes"`
	MeteredBytes int64  `json:"metered_bytes"`
	Files        int64  `json:"files"`
}

// WorkspaceUsage is what the session directories of one workspace hold
// together.
type WorkspaceUsage struct {
	WorkspaceID  uint64 `json:"workspace_id"`
	Sessions     int    `json:"sessions"`
	SizeBytes    int64  `json:"size_bytes"`
	MeteredBytes int64  `json:"metered_bytes"`
	Files        int64  `json:"files"`
}

// largest returns the LargestCount largest sessions and workspaces by size
// (ties by path and id), and how many workspaces had a session measured.
// It keeps only the largest sessions seen so far, not a list of all of
// them to sort: on a million sessions that list cost 48 MB and a second.
func largest(measured []scanner.Entry) ([]SessionUsage, []WorkspaceUsage, int) {
	bySize := func(a, b SessionUsage) int {
		return cmp.Or(cmp.Compare(b.SizeBytes, a.SizeBytes), cmp.Compare(a.Path, b.Path))
	}
	sessions := make([]SessionUsage, 0, LargestCount+1)
	byWorkspace := map[uint64]*WorkspaceUsage{}
	for _, e := range measured {
		if e.Kind != scanner.KindSession || e.Err != nil || e.ListedOnly {
			continue
		}
		u := SessionUsage{Path: e.Path, WorkspaceID: e.WorkspaceID,
			SizeBytes: e.Usage.Size, MeteredBytes: e.Usage.Metered, Files: e.Usage.Files}
		if len(sessions) < LargestCount || bySize(u, sessions[len(sessions)-1]) < 0 {
			i, _ := slices.BinarySearchFunc(sessions, u, bySize)
			sessions = slices.Insert(sessions, i, u)
			sessions = sessions[:min(len(sessions), LargestCount)]
		}
		w := byWorkspace[e.WorkspaceID]
		if w == nil {
			w = &WorkspaceUsage{WorkspaceID: e.WorkspaceID}
			byWorkspace[e.WorkspaceID] = w
		}
		w.Sessions++
		w.SizeBytes += e.Usage.Size
		w.MeteredBytes += e.Usage.Metered
		w.Files += e.Usage.Files
	}
	workspaces := make([]WorkspaceUsage, 0, len(byWorkspace))
	for _, w := range byWorkspace {
		workspaces = append(workspaces, *w)
	}
	slices.SortFunc(workspaces, func(a, b WorkspaceUsage) int {
		return cmp.Or(cmp.Compare(b.SizeBytes, a.SizeBytes), cmp.Compare(a.WorkspaceID, b.WorkspaceID))
	})
	return sessions, workspaces[:min(len(workspaces), LargestCount)], len(byWorkspace)
}
