package reconcile

import (
	"cmp"
	"context"
	"fmt"
	"path"
	"slices"

	"sessaudit/db"
)

// Backfilling paths (Config.BackfillPaths): an unlinked row is a live row
// with no session_storage_path whose conventional directory exists. Its
// directory is measured and looked at again just before the write like a
// verified one (same device and inode, not changed while measured), and the
// row gets the directory's path as the application would store it, its size
// and the verification time, in a second batch after the verified sizes. The
// write is guarded in db.WritePaths: only while the path is still NULL and
// the row still live.

// backfilled reports whether v is an unlinked verdict whose row the audit
// links to its directory.
func (r *Reconciler) backfilled(v Verdict) bool {
	return r.cfg.BackfillPaths && v.Kind == Unlinked
}

// backfill writes the paths of the unlinked verdicts, when asked to and not
// DryRun, and returns how many rows were written and how many were not.
func (r *Reconciler) backfill(ctx context.Context, verdicts *verdictSet) (written, changed int, err error) {
	if !r.cfg.BackfillPaths || r.cfg.DryRun {
		return 0, 0, nil
	}
	batch := r.pathUpdates(verdicts)
	if len(batch) == 0 {
		return 0, 0, nil
	}
	written, err = r.store.WritePaths(ctx, batch, r.now())
	if err != nil {
		return written, 0, fmt.Errorf("write paths: %w", err)
	}
	return written, len(batch) - written, nil
}

// pathUpdates returns the row of each unlinked verdict that carries its
// measurement, with the path that maps back onto the verdict's directory.
func (r *Reconciler) pathUpdates(verdicts *verdictSet) []db.PathUpdate {
	prefix := path.Clean("/" + r.cfg.PathPrefix)
	if prefix == "/" {
		prefix = ""
	}
	var batch []db.PathUpdate
	for _, v := range verdicts.listed { // an unlinked verdict is listed
		if !r.backfilled(v) || v.measured == nil {
			continue
		}
		stored := prefix + "/" + v.Path
		if rel, err := MapPath(r.cfg.PathPrefix, stored); err != nil || rel != v.Path {
			continue // a name the audit would not accept back: leave it to a person
		}
		for _, row := range v.Rows {
			if row.Live() && row.StoragePath == nil {
				batch = append(batch, db.PathUpdate{ID: row.ID, StoragePath: stored, SizeBytes: v.measured.usage.Size})
			}
		}
	}
	slices.SortFunc(batch, func(x, y db.PathUpdate) int { return cmp.Compare(x.ID, y.ID) })
	return batch
}
