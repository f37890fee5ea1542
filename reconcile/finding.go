package reconcile

import (
	"cmp"
	"slices"

	"sessaudit/scanner/anatomy"
)

// Outcome is what the audit concluded about one session directory or row.
type Outcome string

// The outcomes. Every session directory and every row gets exactly one.
// Verified, Deferred, Recent, NoPath and Cleaned are counted but are not
// findings.
const (
	// Verified: a live row whose path maps to an existing session directory
	// that no other live row claims. Its size and verification time are
	// written.
	Verified Outcome = "verified"
	// Missing: a live row whose directory does not exist (ENOENT only).
	Missing Outcome = "missing"
	// Orphan: a session directory no row, live or soft-deleted, refers to.
	Orphan Outcome = "orphan"
	// SoftDeleted: a session directory only soft-deleted rows refer to.
	SoftDeleted Outcome = "soft_deleted"
	// Unlinked: a live row with no stored path whose conventional directory
	// workspace_<workspace_id>/session_<session_id> exists.
	Unlinked Outcome = "unlinked"
	// Conflict: a directory claimed by more than one live row, or a row whose
	// path names a workspace other than its own.
	Conflict Outcome = "conflict"
	// UnsafePath: a stored path that is not prefix/workspace_<id>/session_<id>
	// or names something other than a real directory. Never opened.
	UnsafePath Outcome = "unsafe_path"
	// Unreadable: the directory could not be measured; its size is unknown.
	Unreadable Outcome = "unreadable"
	// Unrecognized: an entry under the root outside the layout.
	Unrecognized Outcome = "unrecognized"
	// Misrouted: a live row whose assigned_instance_index disagrees with
	// workspace_id % the instance count. It is about routing, not storage,
	// so it is reported in addition to the row's storage outcome, and only
	// when the audit is given the instance count.
	Misrouted Outcome = "misrouted"
	// Unverified: a live row with a stored path whose directory is there
	// (or could not be looked at), that this run did not verify either,
	// and that was last verified longer ago than Config.MaxUnverified (or,
	// never verified, created longer ago). It is about how long the row
	// has gone without a true size, so, like Misrouted, it is reported in
	// addition to the row's storage outcome (recent, deferred,
	// unreadable), which says why. A conflict's rows are not unverified:
	// the conflict says it.
	Unverified Outcome = "unverified"
	// Incomplete: a session directory of a recognized kind missing what
	// restores it: a webjs profile without Default/IndexedDB or
	// Default/Local Storage (what whatsapp-web.js's RemoteAuth keeps), a
	// baileys session without creds.json or with one that is empty, not
	// JSON or lacks its keys. It is about the directory's contents, so it
	// is reported in addition to the directory's outcome, and only for a
	// directory that stood: measured without change, nothing in it changed
	// within the grace period.
	Incomplete Outcome = "incomplete"
	// Bloated: a session directory over a threshold of Config.Bloat: a
	// baileys session with too many key files, a webjs profile with too
	// many regenerable bytes (ReclaimableBytes). Like Incomplete, in
	// addition to the directory's outcome, only for a directory that stood.
	Bloated Outcome = "bloated"

	// Deferred: a session directory the audit had no time to size (Config.
	// MaxDuration), which a full audit would have verified. Its row is left
	// as it is; a later run sizes it.
	Deferred Outcome = "deferred"
	// Recent: within the grace period (--min-age); judged on a later run.
	Recent Outcome = "recent"
	// NoPath: a live row with no stored path and no conventional directory
	// (for example a Cloud API account that keeps no session files).
	NoPath Outcome = "no_path"
	// Cleaned: a soft-deleted row whose directory is gone, as it should be.
	Cleaned Outcome = "cleaned"
)

// outcomeOrder lists every outcome in report order.
var outcomeOrder = []Outcome{
	Missing, Orphan, SoftDeleted, Unlinked, Conflict, UnsafePath, Unreadable, Unrecognized, Misrouted, Unverified,
	Incomplete, Bloated,
	Verified, Deferred, Recent, NoPath, Cleaned,
}

// Outcomes returns every outcome in report order: the findings first.
func Outcomes() []Outcome {
	return slices.Clone(outcomeOrder)
}

// IsFinding reports whether o needs an operator's attention.
func (o Outcome) IsFinding() bool {
	switch o {
	case Verified, Deferred, Recent, NoPath, Cleaned:
		return false
	}
	return true
}

// Reclaimable reports whether o is about a session directory that no live
// row refers to, which sessaudit reclaim may move to its quarantine:
// orphan and soft_deleted.
func (o Outcome) Reclaimable() bool {
	switch o {
	case Orphan, SoftDeleted:
		return true
	}
	return false
}

func (o Outcome) rank() int {
	if i := slices.Index(outcomeOrder, o); i >= 0 {
		return i
	}
	return len(outcomeOrder)
}

// Finding is one thing that does not add up: a session directory, the rows
// involved, or both.
type Finding struct {
	Kind Outcome `json:"kind"`
	// Path is relative to the root; empty for an unsafe stored path.
	Path        string   `json:"path,omitempty"`
	WorkspaceID *uint64  `json:"workspace_id,omitempty"`
	RowIDs      []uint64 `json:"row_ids"`
	// Instance is the assigned_instance_index of the rows involved, when
	// the table has the column and one is set.
	Instance *int `json:"instance,omitempty"`
	// SizeBytes is the measured size of the directory, when it was measured.
	SizeBytes    *int64 `json:"size_bytes,omitempty"`
	MeteredBytes *int64 `json:"metered_bytes,omitempty"`
	Files        *int64 `json:"files,omitempty"`
	// SessionKind, on an incomplete or bloated finding, is what wrote the
	// session (webjs, baileys).
	SessionKind anatomy.Kind `json:"session_kind,omitempty"`
	// ReclaimableBytes, on a bloated webjs session, is its regenerable
	// bytes: cache Chromium rebuilds, reclaimable once it is stopped.
	ReclaimableBytes *int64 `json:"reclaimable_bytes,omitempty"`
	Detail           string `json:"detail,omitempty"`
}

func sortFindings(fs []Finding) {
	slices.SortFunc(fs, func(a, b Finding) int {
		if c := cmp.Compare(a.Kind.rank(), b.Kind.rank()); c != 0 {
			return c
		}
		if c := cmp.Compare(a.Path, b.Path); c != 0 {
			return c
		}
		return slices.Compare(a.RowIDs, b.RowIDs)
	})
}
