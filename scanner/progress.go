package scanner

import "sync/atomic"

// Progress counts a walk while it runs, for a display of how far it got.
// Walk only adds to it; any goroutine may read it at any time. Totals grow
// as directories are listed: Workspaces is final once the root is listed,
// Sessions once every workspace is.
type Progress struct {
	// Workspaces is the number of workspace directories to list;
	// WorkspacesListed how many have been listed, or found unreadable.
	Workspaces, WorkspacesListed atomic.Int64
	// Sessions is the number of session directories found so far in the
	// workspaces listed; SessionsDone how many have been measured, or
	// failed. List only adds to Sessions, MeasureEach only to SessionsDone:
	// a List and a MeasureEach of what it found count each session once.
	// A caller that measures a session again (Measure) passes another
	// Progress and adds only its Calls here.
	Sessions, SessionsDone atomic.Int64
	// Entries counts the files and directories of the sessions measured,
	// Bytes their size (Usage.Size).
	Entries, Bytes atomic.Int64
	// Calls counts the filesystem calls made (opening a directory, reading
	// a batch of its entries, one lstat), each bounded by IOTimeout and
	// paced by Limiter: those of a walk are added when it ends, those made
	// outside one with this Progress in their Config (CheckRoot,
	// WorkspaceIDs) as they are made.
	Calls atomic.Int64
}

// sessionDone counts one session directory done with, and its usage when
// it was measured.
func (p *Progress) sessionDone(e Entry, measured bool) {
	p.SessionsDone.Add(1)
	if measured && e.Kind == KindSession && e.Err == nil {
		p.Entries.Add(e.Usage.Files + e.Usage.Dirs)
		p.Bytes.Add(e.Usage.Size)
	}
}
