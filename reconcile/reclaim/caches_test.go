package reclaim_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"sessaudit/db"
	"sessaudit/db/dbtest"
	"sessaudit/reconcile/reclaim"
	"sessaudit/scanner/quarantine"
)

// profile is a stopped whatsapp-web.js session: a Chromium profile with its
// state (Default/IndexedDB, Default/Local Storage) and its caches.
func profile(extra map[string]string) map[string]string {
	p := map[string]string{
		"Default/IndexedDB/https_web.whatsapp.com_0.indexeddb.leveldb/000003.log": strings.Repeat("i", 3000),
		"Default/Local Storage/leveldb/000003.log":                                strings.Repeat("l", 2000),
		"Default/Cache/Cache_Data/data_1":                                         strings.Repeat("c", 50000),
		"Default/Code Cache/js/index":                                             strings.Repeat("j", 7000),
		"Default/Service Worker/CacheStorage/abc/index":                           strings.Repeat("s", 9000),
		"Default/Preferences":                                                     `{"profile":{}}`,
		"GrShaderCache/data_0":                                                    strings.Repeat("g", 900),
		"Local State":                                                             `{"os_crypt":{}}`,
	}
	for k, v := range extra {
		p[k] = v
	}
	return p
}

// cachesShare lays out sessions (session path → tree; content "->x" a
// symbolic link) with every time an hour and a half in the past, and a
// quarantine beside them.
func cachesShare(t *testing.T, sessions map[string]map[string]string) (root string, q *quarantine.Quarantine) {
	t.Helper()
	base := t.TempDir()
	root, qdir := filepath.Join(base, "share"), filepath.Join(base, "quarantine")
	for sess, tr := range sessions {
		for rel, content := range tr {
			p := filepath.Join(root, sess, rel)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if target, ok := strings.CutPrefix(content, "->"); ok {
				if err := os.Symlink(target, p); err != nil {
					t.Fatal(err)
				}
				continue
			}
			if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := os.MkdirAll(qdir, 0o755); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-90 * time.Minute)
	if err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.Type()&fs.ModeSymlink != 0 {
			return err
		}
		return os.Chtimes(p, old, old)
	}); err != nil {
		t.Fatal(err)
	}
	q, err := quarantine.Open(root, qdir, quarantine.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	return root, q
}

// accounts makes the accounts table with a row per session id given, of
// that status ("NULL" for none; a status ending in "-deleted" is a
// soft-deleted row of the status before it), each with its conventional
// stored path.
func accounts(t *testing.T, statuses map[string]string) (*db.Store, string) {
	t.Helper()
	dsn := dbtest.New(t)
	dbtest.LoadSchema(t, dsn)
	id := 0
	for ref, status := range statuses {
		id++
		ws, sess, _ := strings.Cut(ref, "/session_")
		deleted := "NULL"
		if s, ok := strings.CutSuffix(status, "-deleted"); ok {
			status, deleted = s, "'2026-01-01 00:00:00'"
		}
		if status != "NULL" {
			status = "'" + status + "'"
		}
		dbtest.Exec(t, dsn, fmt.Sprintf(`INSERT INTO whatsapp_accounts
		  (id, uuid, workspace_id, session_id, status, session_storage_path, created_by, created_at, updated_at, deleted_at) VALUES
		  (%d, 'u%d', %s, '%s', %s, '/mnt/efs/%s', 1, '2026-01-01 00:00:00', '2026-01-01 00:00:00', %s)`,
			id, id, strings.TrimPrefix(ws, "workspace_"), sess, status, ref, deleted))
	}
	store, err := db.Open(context.Background(), db.Config{DSN: dsn})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	return store, dsn
}

// tree describes every entry under dir: its type, mode, size, modification
// time and a hash of the content; directories by their type and mode
// alone (a rename in or out of one changes its modification time).
func tree(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		fi, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			out[rel] = fmt.Sprintf("dir %v", fi.Mode())
		case d.Type()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			out[rel] = "link -> " + target
		default:
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			out[rel] = fmt.Sprintf("%v %d %d %x", fi.Mode(), fi.Size(), fi.ModTime().UnixNano(), sha256.Sum256(b))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// cachesConfig runs two hours from now, with a grace period of an hour:
// the change times of the files just written are old enough then.
func cachesConfig(yes bool, steps *[]reclaim.Step) reclaim.Config {
	later := time.Now().Add(2 * time.Hour)
	return reclaim.Config{PathPrefix: "/mnt/efs", MinAge: time.Hour, MaxMoves: 10, Yes: yes, Now: func() time.Time { return later },
		Run:    quarantine.RunInfo{Started: time.Date(2026, 1, 6, 0, 0, 0, 0, time.UTC)},
		OnStep: func(s reclaim.Step) { *steps = append(*steps, s) }}
}

// TestReclaimCaches: of a share's sessions only the stopped whatsapp-web.js
// profile with a live row has its caches moved, its state left; restore
// puts them back byte for byte and purge deletes them.
func TestReclaimCaches(t *testing.T) {
	ctx := context.Background()
	sessions := map[string]map[string]string{
		"workspace_1/session_stopped": profile(nil),
		"workspace_1/session_running": profile(nil),
		"workspace_1/session_locked":  profile(map[string]string{"SingletonLock": "->host-1234", "SingletonCookie": "->5678"}),
		"workspace_1/session_norow":   profile(nil),
		"workspace_1/session_nostat":  profile(nil),
		"workspace_1/session_baileys": {"creds.json": `{"me":{}}`, "pre-key-1.json": "{}", "session-1.0.json": "{}"},
		"workspace_2/session_soft":    profile(nil),
		"workspace_2/session_recent":  profile(nil),
		"workspace_2/session_failed":  profile(map[string]string{"SingletonSocket": "->/tmp/gone"}),
	}
	root, q := cachesShare(t, sessions)
	recent := time.Now().Add(70 * time.Minute) // within the grace period at the run's time
	if err := os.Chtimes(filepath.Join(root, "workspace_2/session_recent/Default/Cache/Cache_Data/data_1"), recent, recent); err != nil {
		t.Fatal(err)
	}
	store, _ := accounts(t, map[string]string{
		"workspace_1/session_stopped": "disconnected",
		"workspace_1/session_running": "connected",
		"workspace_1/session_locked":  "failed",
		"workspace_1/session_nostat":  "NULL",
		"workspace_1/session_baileys": "disconnected",
		"workspace_2/session_soft":    "disconnected-deleted",
		"workspace_2/session_recent":  "disconnected",
		"workspace_2/session_failed":  "failed",
	})
	before := tree(t, root)

	var steps []reclaim.Step
	res, err := reclaim.ReclaimCaches(ctx, q, store, cachesConfig(false, &steps))
	if err != nil {
		t.Fatal(err)
	}
	wantPassed := map[string]int{reclaim.PassRunning: 2, reclaim.PassNoRow: 2, reclaim.PassStatusUnknown: 1,
		reclaim.PassNothing: 1, reclaim.PassRecent: 1}
	if !reflect.DeepEqual(res.PassedOver, wantPassed) || res.Moved != 2 || res.Skipped != 0 {
		t.Fatalf("plan = %+v, want 2 planned and passed over %v; steps %+v", res, wantPassed, steps)
	}
	var cacheBytes int64
	for rel, content := range profile(nil) {
		if !strings.HasPrefix(rel, "Default/IndexedDB/") && !strings.HasPrefix(rel, "Default/Local Storage/") {
			cacheBytes += int64(len(content))
		}
	}
	for i, want := range []string{"workspace_1/session_stopped", "workspace_2/session_failed"} {
		if s := steps[i]; s.Path != want || s.Action != reclaim.Planned || s.Parts != 6 || s.Kind != reclaim.Caches ||
			s.SizeBytes != cacheBytes || s.Files != 6 {
			t.Errorf("step %d = %+v, want %s planned with its 6 parts, %d bytes in 6 files", i, s, want, cacheBytes)
		}
	}
	if got := tree(t, root); !reflect.DeepEqual(got, before) {
		t.Fatal("the plan changed the share")
	}

	steps = nil
	res, err = reclaim.ReclaimCaches(ctx, q, store, cachesConfig(true, &steps))
	if err != nil {
		t.Fatal(err)
	}
	if res.Moved != 2 || res.Skipped != 0 || res.Manifest == "" || res.Bytes != 2*cacheBytes || res.Files != 12 {
		t.Fatalf("run = %+v, steps %+v; want 2 sessions' caches moved", res, steps)
	}
	after := tree(t, root)
	for p, desc := range before {
		sess := strings.Join(strings.SplitN(p, "/", 3)[:min(2, strings.Count(p, "/")+1)], "/")
		in := strings.TrimPrefix(strings.TrimPrefix(p, sess), "/")
		cache := (sess == "workspace_1/session_stopped" || sess == "workspace_2/session_failed") && in != "" &&
			in != "Default" && !strings.HasPrefix(in, "Default/IndexedDB") && !strings.HasPrefix(in, "Default/Local Storage") &&
			!strings.HasPrefix(in, "Singleton")
		got, there := after[p]
		switch {
		case cache && there:
			t.Errorf("%s was not moved", p)
		case !cache && !there:
			t.Errorf("%s was moved", p)
		case !cache && got != desc:
			t.Errorf("%s changed: %s, was %s", p, got, desc)
		}
	}

	restored, err := quarantine.Restore(res.Manifest, quarantine.RestoreConfig{})
	if err != nil || restored.Problems != 0 || restored.Done != 12 {
		t.Fatalf("Restore = %+v, %v; want 12 parts back", restored, err)
	}
	if got := tree(t, root); !reflect.DeepEqual(got, before) {
		for p := range before {
			if got[p] != before[p] {
				t.Errorf("after restore %s: %q, was %q", p, got[p], before[p])
			}
		}
	}

	// Moved again, and purged.
	steps = nil
	cfg := cachesConfig(true, &steps)
	cfg.Run.Started = cfg.Run.Started.Add(time.Hour)
	if res, err = reclaim.ReclaimCaches(ctx, q, store, cfg); err != nil || res.Moved != 2 {
		t.Fatalf("second run = %+v, %v", res, err)
	}
	purged, err := quarantine.Purge(q.Dir(), quarantine.PurgeConfig{OlderThan: time.Hour, Now: time.Now().Add(2 * time.Hour), Yes: true})
	if err != nil || purged.Done != 12 || purged.Problems != 0 || purged.RunsRemoved != 2 {
		t.Fatalf("Purge = %+v, %v; want 12 parts deleted and both runs removed", purged, err)
	}
	if got := tree(t, root); !reflect.DeepEqual(got, after) {
		t.Error("purge changed the share")
	}
	if names, _ := os.ReadDir(q.Dir()); len(names) != 1 || names[0].Name() != quarantine.OwnerName {
		t.Errorf("the quarantine holds %v after the purge", names)
	}
}

// startsAfterCheck is the accounts table of a session that starts just
// after ReclaimCaches checked it (its rows were read) and before its
// caches move: start is run once, after the first read.
type startsAfterCheck struct {
	store *db.Store
	start func()
	reads int
}

func (s *startsAfterCheck) SessionRows(ctx context.Context, workspace uint64, id string) ([]db.Row, error) {
	rows, err := s.store.SessionRows(ctx, workspace, id)
	s.reads++
	if s.reads == 1 {
		s.start()
	}
	return rows, err
}

// TestReclaimCachesMovesBackWhenTheSessionStarts: a session that starts
// between the checks and the move (Chromium locks its profile, or the
// application sets its row connected) gets its caches back at once.
func TestReclaimCachesMovesBackWhenTheSessionStarts(t *testing.T) {
	for _, tc := range []struct {
		name  string
		start func(t *testing.T, root, dsn string)
	}{
		{"SingletonLock", func(t *testing.T, root, dsn string) {
			if err := os.Symlink("host-99", filepath.Join(root, "workspace_1/session_a/SingletonLock")); err != nil {
				t.Fatal(err)
			}
		}},
		{"status connected", func(t *testing.T, root, dsn string) {
			dbtest.Exec(t, dsn, "UPDATE whatsapp_accounts SET status = 'connected'")
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root, q := cachesShare(t, map[string]map[string]string{"workspace_1/session_a": profile(nil)})
			store, dsn := accounts(t, map[string]string{"workspace_1/session_a": "disconnected"})
			before := tree(t, root)
			rows := &startsAfterCheck{store: store, start: func() { tc.start(t, root, dsn) }}
			var steps []reclaim.Step
			res, err := reclaim.ReclaimCaches(context.Background(), q, rows, cachesConfig(true, &steps))
			if err != nil {
				t.Fatal(err)
			}
			if res.Moved != 0 || res.Skipped != 1 || len(steps) != 1 || steps[0].Cause != reclaim.CauseRunning {
				t.Fatalf("ReclaimCaches = %+v, steps %+v; want it skipped, running", res, steps)
			}
			after := tree(t, root)
			delete(after, "workspace_1/session_a/SingletonLock")
			if !reflect.DeepEqual(after, before) {
				t.Error("the caches are not back as they were")
			}
			f, err := os.Open(res.Manifest)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			m, err := quarantine.ParseManifest(f)
			if err != nil {
				t.Fatal(err)
			}
			if len(m.Entries) != 6 {
				t.Errorf("manifest has %d entries, want the 6 parts", len(m.Entries))
			}
			for _, e := range m.Entries {
				if e.State != quarantine.EventReturned {
					t.Errorf("%s: %s, want returned", e.Path, e.State)
				}
			}
		})
	}
}
