package reconcile

import (
	"fmt"
	"time"

	"sessaudit/db"
)

// appendUnverified adds to vs an Unverified verdict for each live row with a
// stored path that a verdict of vs leaves unverified although its directory
// is there (or could not be looked at), and whose last verification, or
// creation when it was never verified, is older than Config.MaxUnverified
// at now. The verdict it is added to stays: it says why the row was not
// verified (recent: changing; deferred: the time budget; unreadable). A
// missing directory is Missing, not this: nothing is there to verify. A
// conflict's rows are never verified until a person settles who owns the
// directory: the conflict is their finding, not repeated as unverified. A verified row is not unverified, in a dry run too: the run could
// verify it, it chose not to write.
//
// Only listed verdicts can leave a row unverified: the verified ones are
// kept apart (see verdictSet).
func (r *Reconciler) appendUnverified(vs *verdictSet, now time.Time) {
	limit := r.cfg.MaxUnverified
	if limit <= 0 {
		return
	}
	for i, n := 0, len(vs.listed); i < n; i++ {
		v := vs.listed[i] // a copy: the appends below may move the slice
		if !v.there || v.Kind == Verified || v.Kind == Unverified || v.Kind == Conflict {
			continue
		}
		for j, row := range v.Rows {
			if !row.Live() || row.StoragePath == nil {
				continue
			}
			since, ok := unverifiedFor(row, now, limit)
			if !ok {
				continue
			}
			why := string(v.Kind)
			if v.Detail != "" {
				why += ": " + v.Detail
			}
			u := Verdict{Finding: Finding{Kind: Unverified, Path: v.Path, Detail: since + ": " + why}, Rows: v.Rows[j : j+1 : j+1], there: true}
			// The row where it is, not a copy: under a time budget most
			// deferred rows of a large share can be unverified.
			u.complete()
			vs.listed = append(vs.listed, u)
		}
	}
}

// unverifiedFor says how long row has gone unverified at now, and whether
// that is longer than limit. A row never verified counts from its
// creation; a table without created_at from its last update, which is no
// earlier; a table with neither records nothing to count from, and its
// never verified row counts as unverified: the audit cannot tell it is
// young.
func unverifiedFor(row db.Row, now time.Time, limit time.Duration) (string, bool) {
	var (
		from time.Time
		what string
	)
	switch {
	case row.VerifiedAt != nil:
		from = *row.VerifiedAt
		d := now.Sub(from)
		return fmt.Sprintf("not verified for %s (since %s)", span(d), stamp(from)), d > limit
	case row.CreatedAt != nil:
		from, what = *row.CreatedAt, "created"
	case row.UpdatedAt != nil:
		from, what = *row.UpdatedAt, "updated"
	default:
		return "never verified, and the table records no creation time", true
	}
	d := now.Sub(from)
	return fmt.Sprintf("never verified (%s %s, %s ago)", what, stamp(from), span(d)), d > limit
}

// span prints d to the hour ("3d 4h"), or to the minute under a day.
func span(d time.Duration) string {
	d = max(d, 0)
	switch {
	case d >= 24*time.Hour:
		return fmt.Sprintf("%dd %dh", d/(24*time.Hour), d%(24*time.Hour)/time.Hour)
	case d >= time.Hour:
		return fmt.Sprintf("%dh %dm", d/time.Hour, d%time.Hour/time.Minute)
	}
	return fmt.Sprintf("%dm", d/time.Minute)
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }
