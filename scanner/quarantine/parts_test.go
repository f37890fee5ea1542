package quarantine_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"sessaudit/scanner/quarantine"
)

// profileTree is a stopped Chromium profile as a session directory: state
// (Default/IndexedDB, Default/Local Storage), caches and files beside them.
var profileTree = tree{
	"workspace_1/session_a/Default/IndexedDB/https_web.whatsapp.com_0.indexeddb.leveldb/000003.log": strings.Repeat("idb", 300),
	"workspace_1/session_a/Default/Local Storage/leveldb/000003.log":                                strings.Repeat("ls", 200),
	"workspace_1/session_a/Default/Cache/Cache_Data/data_1":                                         strings.Repeat("c", 5000),
	"workspace_1/session_a/Default/Cache/Cache_Data/index":                                          "index",
	"workspace_1/session_a/Default/Code Cache/js/index-dir/the-real-index":                          strings.Repeat("j", 700),
	"workspace_1/session_a/Default/Preferences":                                                     `{"profile":{}}`,
	"workspace_1/session_a/GrShaderCache/data_0":                                                    strings.Repeat("g", 900),
	"workspace_1/session_a/Local State":                                                             `{"os_crypt":{}}`,
	"workspace_1/session_a/SingletonCookie":                                                         "->1234",
	"workspace_2/session_c/creds.json":                                                              "c",
}

// parts are the parts of session_a moved in the tests below.
var parts = []string{
	"workspace_1/session_a/Default/Cache",
	"workspace_1/session_a/Default/Code Cache",
	"workspace_1/session_a/Default/Preferences",
	"workspace_1/session_a/GrShaderCache",
	"workspace_1/session_a/Local State",
}

// movePart moves rel, a part of the session directory session.
func movePart(t *testing.T, q *quarantine.Quarantine, run *quarantine.Run, session, rel string) {
	t.Helper()
	sid, err := q.Look(session)
	must(t, err)
	id, err := q.Look(rel)
	if err != nil {
		t.Fatalf("Look %s: %v", rel, err)
	}
	if err := run.Move(rel, id, quarantine.Item{Kind: "cache", SizeBytes: 100, Files: 1, Session: &sid}); err != nil {
		t.Fatalf("Move %s: %v", rel, err)
	}
}

// contents is snapshot without the modification times of the directories
// parts are renamed out of and into, which a rename changes.
func contents(t *testing.T, root string) map[string]string {
	t.Helper()
	s := snapshot(t, root)
	for _, d := range []string{"workspace_1/session_a", "workspace_1/session_a/Default"} {
		if _, ok := s[d]; ok {
			s[d] = "parent directory"
		}
	}
	return s
}

func TestMovePartsRestoreAndPurge(t *testing.T) {
	root, qdir := share(t, profileTree)
	before := contents(t, root)
	q := open(t, root, qdir)
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	run, err := q.Begin(quarantine.RunInfo{Started: t0, Parts: true, Now: func() time.Time { return t0 }})
	must(t, err)
	for _, rel := range parts {
		movePart(t, q, run, "workspace_1/session_a", rel)
	}
	must(t, run.Close())
	for _, rel := range parts {
		if exists(filepath.Join(root, rel)) || !exists(filepath.Join(run.Dir(), rel)) {
			t.Errorf("%q was not moved", rel)
		}
	}
	for _, rel := range []string{"Default/IndexedDB", "Default/Local Storage", "SingletonCookie"} {
		if !exists(filepath.Join(root, "workspace_1/session_a", rel)) {
			t.Errorf("%s was moved", rel)
		}
	}
	m := readManifest(t, run.ManifestPath())
	if m.Header.Version != 2 {
		t.Errorf("a run of parts wrote manifest version %d, want 2", m.Header.Version)
	}
	want := map[string]string{}
	for _, rel := range parts {
		want[rel] = quarantine.EventMoved
	}
	if got := states(m); !reflect.DeepEqual(got, want) {
		t.Errorf("manifest states %q, want %q", got, want)
	}
	if s := m.Entries[0].Moving.Session; s == nil || s.Ino == 0 {
		t.Errorf("the moving line records no session identity: %+v", m.Entries[0].Moving)
	}

	res, err := quarantine.Restore(run.ManifestPath(), quarantine.RestoreConfig{Now: func() time.Time { return t0 }})
	if err != nil || res.Done != len(parts) || res.Problems != 0 {
		t.Fatalf("Restore = %+v, %v; want %d restored", res, err, len(parts))
	}
	diffSnapshots(t, contents(t, root), before)

	// Moved again, then purged: the parts go, the run with its emptied
	// directories, and nothing else.
	clock := t0.Add(time.Hour)
	run2, err := q.Begin(quarantine.RunInfo{Started: clock, Parts: true, Now: func() time.Time { return clock }})
	must(t, err)
	for _, rel := range parts {
		movePart(t, q, run2, "workspace_1/session_a", rel)
	}
	must(t, run2.Close())
	res, err = quarantine.Purge(qdir, quarantine.PurgeConfig{OlderThan: 24 * time.Hour, Now: clock.Add(48 * time.Hour), Yes: true})
	if err != nil || res.Done != len(parts) || res.RunsRemoved != 2 || res.Problems != 0 {
		t.Fatalf("Purge = %+v, %v; want %d deleted, both runs removed", res, err, len(parts))
	}
	if exists(run2.Dir()) {
		t.Errorf("the run %s is still there", run2.Dir())
	}
	after := contents(t, root)
	for p := range before {
		moved := false
		for _, rel := range parts {
			moved = moved || p == rel || strings.HasPrefix(p, rel+"/")
		}
		if _, ok := after[p]; ok == moved {
			t.Errorf("%s: there %v after the purge, want %v", p, ok, !moved)
		}
	}
}

// TestMovePartRefuses: a part is moved only from the session directory it
// was looked at in, only as a directory or regular file, and only by a run
// of parts.
func TestMovePartRefuses(t *testing.T) {
	root, qdir := share(t, profileTree)
	q := open(t, root, qdir)
	sid, err := q.Look("workspace_1/session_a")
	must(t, err)
	other, err := q.Look("workspace_2/session_c")
	must(t, err)
	cache := "workspace_1/session_a/Default/Cache"
	id, err := q.Look(cache)
	must(t, err)
	if _, err := q.Look("workspace_1/session_a/SingletonCookie"); !errors.Is(err, quarantine.ErrNotDir) {
		t.Errorf("Look of a link = %v, want ErrNotDir", err)
	}
	for _, rel := range []string{"workspace_1/session_a/../session_a/x", "workspace_1/session_a//x", "workspace_1/session_a/Default/.purging.Cache"} {
		if _, err := q.Look(rel); !errors.Is(err, quarantine.ErrNotSessionPath) {
			t.Errorf("Look %q = %v, want ErrNotSessionPath", rel, err)
		}
	}

	wholeRun := begin(t, q, time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC))
	if err := wholeRun.Move(cache, id, quarantine.Item{Kind: "cache", Session: &sid}); err == nil {
		t.Error("a run not begun with Parts moved a part")
	}
	run, err := q.Begin(quarantine.RunInfo{Started: time.Date(2026, 1, 3, 0, 0, 0, 0, time.UTC), Parts: true})
	must(t, err)
	t.Cleanup(func() { run.Close() })
	if err := run.Move(cache, id, quarantine.Item{Kind: "cache"}); err == nil {
		t.Error("a part was moved without its session directory's identity")
	}
	if err := run.Move(cache, id, quarantine.Item{Kind: "cache", Session: &other}); !errors.Is(err, quarantine.ErrChanged) {
		t.Errorf("Move through another session directory = %v, want ErrChanged", err)
	}
	// The session directory swapped for another after the look.
	a := filepath.Join(root, "workspace_1/session_a")
	must(t, os.Rename(a, a+".old"))
	write(t, root, tree{"workspace_1/session_a/Default/Cache/x": "new"})
	if err := run.Move(cache, id, quarantine.Item{Kind: "cache", Session: &sid}); !errors.Is(err, quarantine.ErrChanged) {
		t.Errorf("Move from a swapped session directory = %v, want ErrChanged", err)
	}
	if !exists(a+".old/Default/Cache/Cache_Data/data_1") || !exists(a+"/Default/Cache/x") {
		t.Error("something moved")
	}
}

// TestReturnPart: a part moved back because its session started; one whose
// place was taken meanwhile stays in quarantine, recorded as moved.
func TestReturnPart(t *testing.T) {
	root, qdir := share(t, profileTree)
	q := open(t, root, qdir)
	run, err := q.Begin(quarantine.RunInfo{Started: time.Date(2026, 1, 3, 0, 0, 0, 0, time.UTC), Parts: true})
	must(t, err)
	t.Cleanup(func() { run.Close() })
	ids := map[string]quarantine.Identity{}
	for _, rel := range parts[:2] {
		id, err := q.Look(rel)
		must(t, err)
		ids[rel] = id
		movePart(t, q, run, "workspace_1/session_a", rel)
	}
	// Chromium started and made a Code Cache of its own.
	write(t, root, tree{"workspace_1/session_a/Default/Code Cache/new": "n"})
	if err := run.Return(parts[0], ids[parts[0]], errors.New("the session started")); err != nil {
		t.Errorf("Return %s: %v", parts[0], err)
	}
	if err := run.Return(parts[1], ids[parts[1]], errors.New("the session started")); !errors.Is(err, quarantine.ErrExists) {
		t.Errorf("Return over a new directory = %v, want ErrExists", err)
	}
	must(t, run.Close())
	if !exists(filepath.Join(root, parts[0], "Cache_Data/data_1")) || !exists(filepath.Join(run.Dir(), parts[1], "js")) {
		t.Error("not where they should be")
	}
	got := states(readManifest(t, run.ManifestPath()))
	if got[parts[0]] != quarantine.EventReturned || got[parts[1]] != quarantine.EventMoved {
		t.Errorf("manifest states %q", got)
	}
}

// TestManifestVersion1HoldsNoParts: a version 1 manifest naming a part is
// not a manifest (a sessaudit that knows only session directories wrote
// version 1).
func TestManifestVersion1HoldsNoParts(t *testing.T) {
	text := `{"event":"run","format":"sessaudit-quarantine-manifest","version":1,"run":"20260102T030405Z","time":"2026-01-02T03:04:05Z"}
{"event":"moving","path":"workspace_1/session_a/Default/Cache","time":"2026-01-02T03:04:05Z"}
`
	if _, err := quarantine.ParseManifest(strings.NewReader(text)); !errors.Is(err, quarantine.ErrNotManifest) {
		t.Errorf("ParseManifest = %v, want ErrNotManifest", err)
	}
	if _, err := quarantine.ParseManifest(strings.NewReader(strings.Replace(text, `"version":1`, `"version":2`, 1))); err != nil {
		t.Errorf("ParseManifest of version 2: %v", err)
	}
}

// TestPartsAfterCrash: a run of parts killed around its renames leaves
// moving lines without moved ones; restore finds what moved by identity
// and records the rest not moved, and purge deletes only what is there.
func TestPartsAfterCrash(t *testing.T) {
	for _, then := range []string{"restore", "purge"} {
		t.Run(then, func(t *testing.T) {
			root, qdir := share(t, profileTree)
			before := contents(t, root)
			q := open(t, root, qdir)
			t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
			run, err := q.Begin(quarantine.RunInfo{Started: t0, Parts: true, Now: func() time.Time { return t0 }})
			must(t, err)
			movePart(t, q, run, "workspace_1/session_a", parts[0])
			must(t, run.Close())
			// Killed: the rename of parts[1] happened, that of parts[2] did not.
			sid, err := q.Look("workspace_1/session_a")
			must(t, err)
			ids := map[string]quarantine.Identity{}
			for _, rel := range parts[1:3] {
				id, err := q.Look(rel)
				must(t, err)
				ids[rel] = id
			}
			must(t, os.MkdirAll(filepath.Dir(filepath.Join(run.Dir(), parts[1])), 0o700))
			must(t, os.Rename(filepath.Join(root, parts[1]), filepath.Join(run.Dir(), parts[1])))
			f, err := os.OpenFile(run.ManifestPath(), os.O_WRONLY|os.O_APPEND, 0)
			must(t, err)
			for _, rel := range parts[1:3] {
				fmt.Fprintf(f, `{"event":"moving","time":"2026-01-02T03:04:05Z","path":%q,"kind":"caches","identity":{"dev":%d,"ino":%d},"session_identity":{"dev":%d,"ino":%d}}`+"\n",
					rel, ids[rel].Dev, ids[rel].Ino, sid.Dev, sid.Ino)
			}
			must(t, f.Close())

			if then == "restore" {
				res, err := quarantine.Restore(run.ManifestPath(), quarantine.RestoreConfig{Now: func() time.Time { return t0 }})
				if err != nil || res.Done != 2 || res.Problems != 0 {
					t.Fatalf("Restore = %+v, %v; want the two moved parts back", res, err)
				}
				diffSnapshots(t, contents(t, root), before)
				want := map[string]string{parts[0]: quarantine.EventRestored, parts[1]: quarantine.EventRestored, parts[2]: quarantine.EventNotMoved}
				if got := states(readManifest(t, run.ManifestPath())); !reflect.DeepEqual(got, want) {
					t.Errorf("after restore: %q, want %q", got, want)
				}
				return
			}
			res, err := quarantine.Purge(qdir, quarantine.PurgeConfig{OlderThan: time.Hour, Now: t0.Add(2 * time.Hour), Yes: true})
			if err != nil || res.Done != 2 || res.Problems != 0 || res.RunsRemoved != 1 {
				t.Fatalf("Purge = %+v, %v; want the two moved parts deleted and the run removed", res, err)
			}
			if !exists(filepath.Join(root, parts[2])) || exists(filepath.Join(root, parts[1])) {
				t.Error("purge touched the share")
			}
		})
	}
}
