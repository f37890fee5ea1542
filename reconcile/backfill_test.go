package reconcile_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/spf13/afero"

	"sessaudit/db"
	"sessaudit/reconcile"
)

// WritePaths applies the real store's guard: a row gets a path only while
// it is live and its path is NULL.
func (s *fakeStore) WritePaths(_ context.Context, batch []db.PathUpdate, _ time.Time) (int, error) {
	if s.linked == nil {
		s.linked = map[uint64]string{}
	}
	n := 0
	for _, u := range batch {
		for i, r := range s.rows {
			if r.ID == u.ID && r.Live() && r.StoragePath == nil {
				s.rows[i].StoragePath = &u.StoragePath
				s.linked[u.ID] = u.StoragePath
				s.written[u.ID] = u.SizeBytes
				n++
			}
		}
	}
	return n, nil
}

// TestBackfillPaths: with BackfillPaths the unlinked rows, and only they,
// get the path of their directory and its size; not without it, not in a
// dry run, and a second audit finds them verified.
func TestBackfillPaths(t *testing.T) {
	files := map[string]string{
		"workspace_1/session_a/creds.json": "12345",
		"workspace_1/session_b/creds.json": "1",
		"workspace_2/session_c/creds.json": "123",
		"workspace_2/session_d/f":          "1234567",
	}
	rows := func() []db.Row {
		return []db.Row{
			live(1, 1, "a", nil), // unlinked
			live(2, 1, "b", str("/mnt/efs/workspace_1/session_b")), // verified
			deleted(live(3, 2, "c", nil)),                          // soft-deleted, no path
			live(4, 2, "d", nil),                                   // unlinked
			live(5, 3, "none", nil),                                // no_path: no directory
		}
	}
	tests := []struct {
		name   string
		mutate func(*reconcile.Config)
		linked map[uint64]string
	}{
		{"off", nil, nil},
		{"on", func(c *reconcile.Config) { c.BackfillPaths = true }, map[uint64]string{
			1: "/mnt/efs/workspace_1/session_a", 4: "/mnt/efs/workspace_2/session_d"}},
		{"on, prefix written as the application might", func(c *reconcile.Config) { c.BackfillPaths = true; c.PathPrefix = "/mnt/efs/" },
			map[uint64]string{1: "/mnt/efs/workspace_1/session_a", 4: "/mnt/efs/workspace_2/session_d"}},
		{"dry run", func(c *reconcile.Config) { c.BackfillPaths = true; c.DryRun = true }, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fsys := afero.NewMemMapFs()
			writeTree(t, fsys, files)
			store := &fakeStore{rows: rows(), written: map[uint64]int64{}}
			rep := audit(t, fsys, store, tc.mutate)
			if !reflect.DeepEqual(store.linked, tc.linked) {
				t.Fatalf("linked %v, want %v", store.linked, tc.linked)
			}
			if rep.Summary.PathsWritten != len(tc.linked) {
				t.Errorf("paths_written %d, want %d", rep.Summary.PathsWritten, len(tc.linked))
			}
			if tc.linked == nil {
				return
			}
			if store.written[1] != 5 || store.written[4] != 7 {
				t.Errorf("sizes %v", store.written)
			}
			again := audit(t, fsys, store, tc.mutate)
			if again.Summary.Outcomes[reconcile.Unlinked] != 0 || again.Summary.Outcomes[reconcile.Verified] != 3 {
				t.Errorf("second audit: %v", again.Summary.Outcomes)
			}
		})
	}
}

// TestBackfillNotThroughASwap: an unlinked directory replaced by a link
// after it was measured is not linked.
func TestBackfillNotThroughASwap(t *testing.T) {
	dir, fsys := swapShare(t)
	store := &fakeStore{rows: []db.Row{live(1, 1, "a", nil)}, written: map[uint64]int64{}}
	audit(t, fsys, store, func(c *reconcile.Config) { c.Root = dir; c.BackfillPaths = true })
	if fsys.err != nil {
		t.Fatalf("swap: %v", fsys.err)
	}
	if len(store.linked) != 0 {
		t.Fatalf("linked %v through a directory swapped for a link", store.linked)
	}
}
