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
	// (ENOENT).
	Entry *scanner.Entry
	// WorkspaceErr is set when the workspace directory could not be
	// listed: whether anything is at Path is unknown.
	WorkspaceErr error
	// Rows refer to Path: by their stored path, or by their workspace and
	// session id when their path is NULL.
	Rows []db.Row
}

// Verdict is one outcome given to the directory of an observation, to some
// of its rows, or to both.
type Verdict struct {
	Finding
	// Rows are the rows the outcome is about.
	Rows []db.Row
	// measured is the usage of the directory when the verdict carries its
	// measurement (each measured directory is carried by one verdict), and
	// identity the directory's.
	measured *scanner.Usage
	identity scanner.Identity
}

// Judge gives the directory of o and every row of o exactly one outcome. It
// is the audit's rules as a pure function of what was observed: cutoff is the
// end of the grace period (now minus --min-age); a directory changed, or a
// row changed, after it is recent.
//
// A Verified verdict says the size may be written; whether it is depends on
// what is there just before the write (see Reconciler).
func Judge(o Observation, cutoff time.Time) []Verdict {
	var live, dead []db.Row
	for _, r := range o.Rows {
		if r.Live() {
			live = append(live, r)
		} else {
			dead = append(dead, r)
		}
	}
	one := func(kind Outcome, rows []db.Row, detail string) Verdict {
		return verdict(o, kind, rows, detail)
	}

	if detail := conflictDetail(o, live); detail != "" {
		return []Verdict{one(Conflict, o.Rows, detail)}
	}
	e := o.Entry
	switch {
	case o.WorkspaceErr != nil:
		return []Verdict{one(Unreadable, o.Rows, "workspace directory could not be listed: "+o.WorkspaceErr.Error())}
	case e != nil && e.Kind == scanner.KindUnrecognized:
		if len(o.Rows) == 0 {
			return []Verdict{unrecognized(*e)}
		}
		return []Verdict{one(UnsafePath, o.Rows, "stored path does not lead to a real directory: "+e.Reason)}
	case e != nil && e.Err != nil:
		return []Verdict{one(Unreadable, o.Rows, e.Err.Error())}
	case e != nil:
		return []Verdict{present(o, live, dead, cutoff)}
	}
	return absent(o, live, dead, cutoff)
}

// present judges a session directory that was measured.
func present(o Observation, live, dead []db.Row, cutoff time.Time) Verdict {
	young := o.Entry.Newest.After(cutoff)
	switch {
	case len(live) == 1 && live[0].StoragePath != nil:
		return verdict(o, Verified, o.Rows, "")
	case len(live) == 1:
		return verdict(o, Unlinked, o.Rows, "row has no session_storage_path; its conventional directory exists")
	case young:
		return verdict(o, Recent, o.Rows, "changed within the grace period")
	case len(dead) > 0:
		return verdict(o, SoftDeleted, o.Rows, "only soft-deleted rows refer to it")
	}
	return verdict(o, Orphan, nil, "no row refers to it")
}

// absent judges the rows of a path where nothing is.
func absent(o Observation, live, dead []db.Row, cutoff time.Time) []Verdict {
	var out []Verdict
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

func conflictDetail(o Observation, live []db.Row) string {
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
// about a measured directory carries its size.
func verdict(o Observation, kind Outcome, rows []db.Row, detail string) Verdict {
	ws := o.Workspace
	v := Verdict{Finding: Finding{Kind: kind, Path: o.Path, WorkspaceID: &ws, RowIDs: rowIDs(rows), Detail: detail}, Rows: rows}
	if e := o.Entry; e != nil && e.Kind == scanner.KindSession && e.Err == nil {
		u := e.Usage
		v.SizeBytes, v.MeteredBytes, v.Files = &u.Size, &u.Metered, &u.Files
		v.measured = &u
		v.identity = e.Identity
	}
	return v
}

func unrecognized(e scanner.Entry) Verdict {
	return Verdict{Finding: Finding{Kind: Unrecognized, Path: e.Path, RowIDs: []uint64{}, Detail: e.Reason}}
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
	if _, ok := scanner.ParseSession("session_" + r.SessionID); ok {
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
