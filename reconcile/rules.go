package reconcile

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"sessaudit/db"
	"sessaudit/scanner"
)

// Observation is what was seen of one session path: what is there and the
// rows that refer to it. The batch audit makes one for every path the walk
// or a row names; watch mode makes one for the session an event touched.
type Observation struct {
	// Path is the session path, "workspace_<id>/session_<id>", relative to
	// the root; Workspace is its workspace id.
	Path      string
	Workspace uint64
	// Entry is what the scanner found at Path; nil when nothing is there
	// (ENOENT). The rules read it as at, which the caller fills in from it.
	Entry *scanner.Entry
	// WorkspaceErr is set when the workspace directory could not be
	// listed: whether anything is at Path is unknown.
	WorkspaceErr error
	// Rows refer to Path: by their stored path, or by their workspace and
	// session id when their path is NULL.
	Rows []db.Row
	// at is what was found at Path, as the audit keeps it: the batch
	// audit keeps one for every session of the share, and no Entry.
	at seen
}

// Verdict is one outcome given to the directory of an observation, to some
// of its rows, or to both.
type Verdict struct {
	Finding
	// Rows are the rows the outcome is about.
	Rows []db.Row
	// measured is the directory's size and identity when the verdict
	// carries its measurement (each measured directory is carried by one
	// verdict). A pointer into the observation, not copies: a verdict is
	// held for every session of the audit.
	measured *measurement
	// there is true when a session directory is at the path, or what is
	// there could not be looked at: its rows that go unverified for long
	// are Unverified findings (see appendUnverified).
	there bool
}

// appendJudged appends to dst the verdicts that give the directory of o and
// every row of o exactly one outcome: the audit's rules as a function of
// what was observed (o.at, not o.Entry, which the caller reads into o.at).
// cutoff is the end of the grace period (now minus --min-age); a directory
// changed after it (by the modification or change time of it or anything
// in it), or a row changed after it, is recent.
//
// A Verified verdict says the size may be written; whether it is depends on
// what is there just before the write (see Reconciler). Its Finding is left
// bare (see complete): the batch audit judges a million observations into
// one slice, and lists none of its verified ones.
func appendJudged(dst []Verdict, o *Observation, cutoff time.Time) []Verdict {
	live, dead := splitLive(o.Rows)
	one := func(kind Outcome, rows []db.Row, detail string) Verdict {
		return verdict(o, kind, rows, detail)
	}

	if detail := conflictDetail(o, live); detail != "" {
		return append(dst, one(Conflict, o.Rows, detail))
	}
	e := &o.at
	switch {
	case o.WorkspaceErr != nil:
		return append(dst, one(Unreadable, o.Rows, "workspace directory could not be listed: "+o.WorkspaceErr.Error()))
	case e.kind == scanner.KindUnrecognized:
		if len(o.Rows) == 0 {
			return append(dst, unrecognized(o.Path, e.reason()))
		}
		return append(dst, one(UnsafePath, o.Rows, "stored path does not lead to a real directory: "+e.reason()))
	case e.kind != 0 && e.err() != nil:
		return append(dst, one(Unreadable, o.Rows, e.err().Error()))
	case e.kind != 0:
		return append(dst, present(o, live, dead, cutoff))
	}
	return absent(dst, o, live, dead, cutoff)
}

// splitLive returns the live and the soft-deleted rows of rows. When all
// are one or the other, that part is rows itself: most paths have one row.
func splitLive(rows []db.Row) (live, dead []db.Row) {
	n := 0
	for _, r := range rows {
		if r.Live() {
			n++
		}
	}
	switch n {
	case len(rows):
		return rows, nil
	case 0:
		return nil, rows
	}
	for _, r := range rows {
		if r.Live() {
			live = append(live, r)
		} else {
			dead = append(dead, r)
		}
	}
	return live, dead
}

// present judges a session directory that was measured.
func present(o *Observation, live, dead []db.Row, cutoff time.Time) Verdict {
	// Its grace goes by the latest change, modification or change time
	// (ctime), of it or anything in it (scanner.Entry.Newest): a tree
	// copied in keeps its modification times, never its change times. A
	// directory listed but not sized (the time budget ran out) has the
	// outcome a sized one has, but is not verified, and its grace is
	// judged on its own times: what is inside was not looked at.
	young := o.at.newest.After(cutoff)
	unsized := ""
	if o.at.listedOnly {
		unsized = "; not sized in this run (time budget), grace judged on the directory's own change time"
	}
	switch {
	case len(live) == 1 && live[0].StoragePath != nil && o.at.listedOnly:
		return verdict(o, Deferred, o.Rows, "not sized in this run (time budget); its row is left as it is")
	case len(live) == 1 && live[0].StoragePath != nil:
		return verifiedVerdict(o)
	case len(live) == 1:
		return verdict(o, Unlinked, o.Rows, "row has no session_storage_path; its conventional directory exists")
	case young:
		return verdict(o, Recent, o.Rows, "changed within the grace period"+unsized)
	case len(dead) > 0:
		return verdict(o, SoftDeleted, o.Rows, "only soft-deleted rows refer to it"+unsized)
	}
	return verdict(o, Orphan, nil, "no row refers to it"+unsized)
}

// absent appends to out the verdicts about the rows of a path where nothing
// is.
func absent(out []Verdict, o *Observation, live, dead []db.Row, cutoff time.Time) []Verdict {
	for _, r := range live {
		switch {
		case r.StoragePath == nil:
			out = append(out, verdict(o, NoPath, []db.Row{r}, ""))
		case r.LastChanged().After(cutoff):
			out = append(out, verdict(o, Recent, []db.Row{r}, "row changed within the grace period"))
		default:
			out = append(out, verdict(o, Missing, []db.Row{r}, "directory does not exist"))
		}
	}
	if len(dead) > 0 {
		out = append(out, verdict(o, Cleaned, dead, ""))
	}
	return out
}

func conflictDetail(o *Observation, live []db.Row) string {
	var wrong []string
	for _, r := range live {
		if r.WorkspaceID != o.Workspace {
			wrong = append(wrong, fmt.Sprintf("row %d belongs to workspace %d", r.ID, r.WorkspaceID))
		}
	}
	switch {
	case len(live) > 1 && len(wrong) > 0:
		return fmt.Sprintf("claimed by %d live rows; %s", len(live), strings.Join(wrong, "; "))
	case len(live) > 1:
		return fmt.Sprintf("claimed by %d live rows", len(live))
	case len(wrong) > 0:
		return strings.Join(wrong, "; ") + " but its path is in workspace " + fmt.Sprint(o.Workspace)
	}
	return ""
}

// verdict makes the verdict of kind about o and rows. The first verdict
// about a measured directory carries its size. The Finding of a Verified
// verdict is left bare until complete is called.
func verdict(o *Observation, kind Outcome, rows []db.Row, detail string) Verdict {
	v := Verdict{Finding: Finding{Kind: kind, Path: o.Path, Detail: detail}, Rows: rows,
		there: o.at.kind == scanner.KindSession || o.WorkspaceErr != nil}
	if o.at.measured() {
		// A new look at o replaces it, but only after the verdicts of
		// the earlier look are let go (see settle).
		v.measured = &o.at.m
	}
	if kind != Verified {
		v.complete()
	}
	return v
}

// complete fills in the workspace, row ids and sizes of v's Finding from
// its path, rows and measurement, unless they are there. They are what a
// listed verdict shows; the batch audit leaves them out of the verified
// verdicts, which are counted and written but not listed, and which would
// cost three small objects each.
func (v *Verdict) complete() {
	if v.WorkspaceID != nil || v.Path == "" {
		return
	}
	ws, _, _ := scanner.ParseSessionPath(v.Path)
	v.WorkspaceID = &ws
	v.RowIDs = rowIDs(v.Rows)
	if m := v.measured; m != nil {
		u := &m.usage
		v.SizeBytes, v.MeteredBytes, v.Files = &u.Size, &u.Metered, &u.Files
	}
}

// identity returns the identity of the directory v carries the measurement
// of, or the zero Identity.
func (v *Verdict) identity() scanner.Identity {
	if v.measured == nil {
		return scanner.Identity{}
	}
	return v.measured.id
}

func unrecognized(path, reason string) Verdict {
	return Verdict{Finding: Finding{Kind: Unrecognized, Path: path, RowIDs: []uint64{}, Detail: reason}}
}

func rowIDs(rows []db.Row) []uint64 {
	ids := make([]uint64, 0, len(rows))
	for _, r := range rows {
		ids = append(ids, r.ID)
	}
	slices.Sort(ids)
	return ids
}

// refOf returns the session path a row refers to, or the row's verdict when
// it refers to none.
func refOf(prefix string, r db.Row) (string, *Verdict) {
	ws := r.WorkspaceID
	if r.StoragePath != nil {
		p, err := MapPath(prefix, *r.StoragePath)
		if err != nil {
			return "", &Verdict{Rows: []db.Row{r}, Finding: Finding{Kind: UnsafePath, WorkspaceID: &ws, RowIDs: []uint64{r.ID},
				Detail: fmt.Sprintf("stored path %q: %v", *r.StoragePath, err)}}
		}
		return p, nil
	}
	// No stored path: the row refers to its conventional directory.
	if _, ok := scanner.ParseSession(scanner.SessionName(r.SessionID)); ok {
		return scanner.SessionPath(r.WorkspaceID, r.SessionID), nil
	}
	outcome := NoPath
	if !r.Live() {
		outcome = Cleaned
	}
	return "", &Verdict{Rows: []db.Row{r}, Finding: Finding{Kind: outcome, WorkspaceID: &ws, RowIDs: []uint64{r.ID}}}
}

// misrouted reports live rows assigned to another instance than their
// workspace routes to among n instances.
func misrouted(prefix string, rows []db.Row, n int) []Verdict {
	if n <= 0 {
		return nil
	}
	var out []Verdict
	for _, r := range rows {
		if !r.Live() {
			continue
		}
		want := int(r.WorkspaceID % uint64(n))
		var detail string
		switch {
		case r.InstanceIndex == nil:
			detail = fmt.Sprintf("no instance assigned; workspace %d routes to instance %d of %d", r.WorkspaceID, want, n)
		case *r.InstanceIndex != want:
			detail = fmt.Sprintf("assigned to instance %d; workspace %d routes to instance %d of %d", *r.InstanceIndex, r.WorkspaceID, want, n)
		default:
			continue
		}
		ws := r.WorkspaceID
		f := Finding{Kind: Misrouted, WorkspaceID: &ws, RowIDs: []uint64{r.ID}, Detail: detail}
		if r.StoragePath != nil {
			f.Path, _ = MapPath(prefix, *r.StoragePath)
		}
		out = append(out, Verdict{Finding: f, Rows: []db.Row{r}})
	}
	return out
}

// LiveAge is how much older than its newest file a session's oldest entry
// must be, by their change times, for the session to be verified while it
// is being written. A change time cannot be set back: a tree copied or
// extracted in (whatsapp-web.js's RemoteAuth deletes the session directory
// and extracts it again at every client start) has nothing older than the
// copy, and while the copy runs it grows as a session being written does.
// Such a copy is taken to take less than LiveAge; a session is verified
// while written from LiveAge after it was created or extracted.
const LiveAge = 30 * time.Second

// sample is what the live rule needs of one measurement of a session
// directory.
type sample struct {
	usage   scanner.Usage
	id      scanner.Identity
	changed string
	// oldest and written are the entry's Oldest and Written.
	oldest, written time.Time
}

// sampleOf returns what o's latest measurement saw: its Entry when it has
// one (a measurement again, or watch mode's), or what the audit kept of it.
func sampleOf(o *Observation) sample {
	if e := o.Entry; e != nil {
		return sample{usage: e.Usage, id: e.Identity, changed: e.Changed, oldest: e.Oldest, written: e.Written}
	}
	s := sample{usage: o.at.m.usage, id: o.at.m.id}
	if n := o.at.note; n != nil {
		s.changed, s.oldest, s.written = n.changed, n.oldest, n.written
	}
	return s
}

// beingWritten decides whether second, a measurement of a session directory taken
// scanner.Quiet after first, is a size the session had while it stood,
// though the two differ or second saw the session change: it says why not,
// or "" when it is. It is the rule for sessions being written (Chromium's
// LevelDB and caches create and delete about 4 entries a second; Baileys
// rewrites its files several times a second), which change at every look
// and would otherwise never be verified, and it must never take a tree
// being deleted or replaced for one:
//
//   - the same directory (device, inode, birth time) both times, neither
//     measurement seeing it removed or replaced, a directory of it vanish,
//     or a file of it that kept being rewritten (scanner.ChangedByWriting);
//   - no fewer directories the second time: a deletion (rm -rf,
//     LocalAuth's logout, RemoteAuth's delete before it extracts) removes
//     directories, a writer adds and removes files in standing ones;
//   - a file written between the two (the second's newest file change is
//     later than the first's): a deletion, or a deletion that paused,
//     writes nothing;
//   - the oldest entry LiveAge older than the newest file: not a tree being
//     copied or extracted in.
//
// Each measurement counts every file at a size it stood at (scanner's
// FileSettle), so the size written is the session's as of the second
// measurement, give or take what was written while it ran.
func beingWritten(first, second sample) string {
	switch {
	case !second.id.Same(first.id):
		return fmt.Sprintf("replaced between two measurements (%s, then %s)", first.id, second.id)
	case first.changed != "" && !scanner.ChangedByWriting(first.changed):
		return first.changed
	case second.changed != "" && !scanner.ChangedByWriting(second.changed):
		return second.changed
	case second.usage.Dirs < first.usage.Dirs:
		return fmt.Sprintf("directories went from %d to %d: not a session being written", first.usage.Dirs, second.usage.Dirs)
	case second.written.IsZero() || !second.written.After(first.written):
		return "no file written between two measurements: not a session being written"
	case second.written.Sub(second.oldest) < LiveAge:
		return fmt.Sprintf("nothing in it is older than %v: a tree being copied or extracted in, or a session created moments ago", LiveAge)
	}
	return ""
}
