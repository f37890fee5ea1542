package reconcile

import (
	"cmp"
	"slices"

	"sessaudit/scanner"
	"sessaudit/scanner/anatomy"
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
	// Kind is what wrote the session; RegenerableBytes the part of
	// SizeBytes that is regenerable cache (webjs), the rest being state;
	// KeyFiles its Baileys key files by type (see docs/anatomy.md).
	Kind             anatomy.Kind        `json:"kind,omitempty"`
	RegenerableBytes int64               `json:"regenerable_bytes"`
	KeyFiles         map[string]KeyFiles `json:"key_files,omitempty"`
}

// WorkspaceUsage is what the session directories of one workspace hold
// together.
type WorkspaceUsage struct {
	WorkspaceID  uint64 `json:"workspace_id"`
	Sessions     int    `json:"sessions"`
	SizeBytes    int64  `json:"size_bytes"`
	MeteredBytes int64  `json:"metered_bytes"`
	Files        int64  `json:"files"`
	// RegenerableBytes is the regenerable part of SizeBytes, KeyFiles the
	// Baileys key files of its sessions.
	RegenerableBytes int64 `json:"regenerable_bytes"`
	KeyFiles         int64 `json:"key_files"`
}

// largestTally keeps the LargestCount largest sessions seen so far and
// adds up the workspaces, not a list of all of them to sort: on a million
// sessions that list cost 48 MB and a second.
type largestTally struct {
	sessions    []SessionUsage
	byWorkspace map[uint64]*WorkspaceUsage
}

// bySize orders sessions largest first, ties by path.
func bySize(a, b SessionUsage) int {
	return cmp.Or(cmp.Compare(b.SizeBytes, a.SizeBytes), cmp.Compare(a.Path, b.Path))
}

// add counts e, a session directory measured without error.
func (l *largestTally) add(e *scanner.Entry) {
	if l.byWorkspace == nil {
		l.byWorkspace = map[uint64]*WorkspaceUsage{}
		l.sessions = make([]SessionUsage, 0, LargestCount+1)
	}
	u := SessionUsage{Path: e.Path, WorkspaceID: e.WorkspaceID,
		SizeBytes: e.Usage.Size, MeteredBytes: e.Usage.Metered, Files: e.Usage.Files,
		Kind: e.Anatomy.Kind, RegenerableBytes: e.Anatomy.Regenerable.Size}
	if len(l.sessions) < LargestCount || bySize(u, l.sessions[len(l.sessions)-1]) < 0 {
		u.KeyFiles = keyFilesOf(&e.Anatomy)
		i, _ := slices.BinarySearchFunc(l.sessions, u, bySize)
		l.sessions = slices.Insert(l.sessions, i, u)
		l.sessions = l.sessions[:min(len(l.sessions), LargestCount)]
	}
	w := l.byWorkspace[e.WorkspaceID]
	if w == nil {
		w = &WorkspaceUsage{WorkspaceID: e.WorkspaceID}
		l.byWorkspace[e.WorkspaceID] = w
	}
	w.Sessions++
	w.SizeBytes += e.Usage.Size
	w.MeteredBytes += e.Usage.Metered
	w.Files += e.Usage.Files
	w.RegenerableBytes += e.Anatomy.Regenerable.Size
	w.KeyFiles += e.Anatomy.KeyFiles()
}

// byWorkspaceSize orders workspaces largest first, ties by id.
func byWorkspaceSize(a, b WorkspaceUsage) int {
	return cmp.Or(cmp.Compare(b.SizeBytes, a.SizeBytes), cmp.Compare(a.WorkspaceID, b.WorkspaceID))
}

// result returns the LargestCount largest sessions and workspaces by size
// (ties by path and id), and how many workspaces had a session measured.
func (l *largestTally) result() ([]SessionUsage, []WorkspaceUsage, int) {
	workspaces := make([]WorkspaceUsage, 0, len(l.byWorkspace))
	for _, w := range l.byWorkspace {
		workspaces = append(workspaces, *w)
	}
	slices.SortFunc(workspaces, byWorkspaceSize)
	sessions := l.sessions
	if sessions == nil {
		sessions = []SessionUsage{}
	}
	return sessions, workspaces[:min(len(workspaces), LargestCount)], len(l.byWorkspace)
}
