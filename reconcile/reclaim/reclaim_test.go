package reclaim_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"sessaudit/db"
	"sessaudit/db/dbtest"
	"sessaudit/reconcile"
	"sessaudit/reconcile/reclaim"
	"sessaudit/scanner/quarantine"
)

// rowAfterCheck is the accounts table, where the application inserts a
// live row for the session just after reclaim's check has read the rows
// (and before the rename): the first read sees none, every later one sees
// it.
type rowAfterCheck struct {
	t      *testing.T
	store  *db.Store
	dsn    string
	insert string
	reads  int
}

func (r *rowAfterCheck) SessionRows(ctx context.Context, workspace uint64, id string) ([]db.Row, error) {
	rows, err := r.store.SessionRows(ctx, workspace, id)
	r.reads++
	if r.reads == 1 {
		dbtest.Exec(r.t, r.dsn, r.insert)
	}
	return rows, err
}

// setup makes an empty accounts table, a share holding
// workspace_1/session_late, and a quarantine beside it.
func setup(t *testing.T) (store *db.Store, dsn, root string, q *quarantine.Quarantine) {
	t.Helper()
	dsn = dbtest.New(t)
	dbtest.LoadSchema(t, dsn)
	store, err := db.Open(context.Background(), db.Config{DSN: dsn})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	base := t.TempDir()
	root, qdir := filepath.Join(base, "share"), filepath.Join(base, "quarantine")
	sess := filepath.Join(root, "workspace_1", "session_late")
	for _, dir := range []string{filepath.Join(sess, "Default"), qdir} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"creds.json", "Default/LOG"} {
		if err := os.WriteFile(filepath.Join(sess, f), []byte("{}"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	q, err = quarantine.Open(root, qdir, quarantine.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	return store, dsn, root, q
}

// TestReclaimMovesBackWhenARowAppears: a live row inserted after the rows
// were checked and before the rename does not leave the session in
// quarantine: the rows are read again after the rename, and the directory
// is moved back and reported skipped.
func TestReclaimMovesBackWhenARowAppears(t *testing.T) {
	ctx := context.Background()
	store, dsn, root, q := setup(t)
	sess := filepath.Join(root, "workspace_1", "session_late")

	rows := &rowAfterCheck{t: t, store: store, dsn: dsn, insert: `INSERT INTO whatsapp_accounts
	  (id, uuid, workspace_id, session_id, session_storage_path, created_by, created_at, updated_at, deleted_at) VALUES
	  (1, 'u1', 1, 'late', '/mnt/efs/workspace_1/session_late', 1, '2026-01-05 10:00:00', '2026-01-05 10:00:00', NULL)`}
	var steps []reclaim.Step
	started := time.Date(2026, 1, 6, 0, 0, 0, 0, time.UTC)
	res, err := reclaim.Reclaim(ctx, q, rows, []reclaim.Candidate{{Path: "workspace_1/session_late", WorkspaceID: 1, SessionID: "late", Kind: reconcile.Orphan}},
		reclaim.Config{PathPrefix: "/mnt/efs", MaxMoves: 10, Yes: true, Run: quarantine.RunInfo{Started: started},
			OnStep: func(s reclaim.Step) { steps = append(steps, s) }})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(sess, "creds.json")); err != nil {
		t.Fatalf("the session is not at its place (Reclaim = %+v, steps %+v): %v", res, steps, err)
	}
	if res.Moved != 0 || res.Skipped != 1 || len(steps) != 1 || steps[0].Cause != reclaim.CauseRow {
		t.Errorf("Reclaim = %+v, steps %+v; want it skipped for its row", res, steps)
	}
	if rows.reads < 2 {
		t.Errorf("the rows were read %d times", rows.reads)
	}
	if res.Manifest != "" {
		f, err := os.Open(res.Manifest)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		m, err := quarantine.ParseManifest(f)
		if err != nil {
			t.Fatal(err)
		}
		if len(m.Entries) != 1 || m.Entries[0].State != quarantine.EventReturned {
			t.Errorf("manifest entries %+v, want the session returned", m.Entries)
		}
	}
}

// TestReclaimGraceCountsChangeTimes: a session copied in keeping its
// modification times (cp -a: every one two days old, every change time
// now) is within the grace period, and is not moved.
func TestReclaimGraceCountsChangeTimes(t *testing.T) {
	store, _, root, q := setup(t)
	sess := filepath.Join(root, "workspace_1", "session_late")
	old := time.Now().Add(-48 * time.Hour)
	for _, p := range []string{filepath.Join(sess, "Default", "LOG"), filepath.Join(sess, "creds.json"), filepath.Join(sess, "Default"), sess} {
		if err := os.Chtimes(p, old, old); err != nil {
			t.Fatal(err)
		}
	}
	var steps []reclaim.Step
	res, err := reclaim.Reclaim(context.Background(), q, store, []reclaim.Candidate{{Path: "workspace_1/session_late", WorkspaceID: 1, SessionID: "late", Kind: reconcile.Orphan}},
		reclaim.Config{PathPrefix: "/mnt/efs", MinAge: time.Hour, MaxMoves: 10, Yes: true, Run: quarantine.RunInfo{Started: time.Now()},
			OnStep: func(s reclaim.Step) { steps = append(steps, s) }})
	if err != nil {
		t.Fatal(err)
	}
	if res.Moved != 0 || len(steps) != 1 || steps[0].Cause != reclaim.CauseRecent {
		t.Fatalf("Reclaim = %+v, steps %+v; want it skipped as recent", res, steps)
	}
	if _, err := os.Stat(filepath.Join(sess, "creds.json")); err != nil {
		t.Fatal(err)
	}
}
