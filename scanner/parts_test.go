package scanner_test

import (
	"fmt"
	"io/fs"
	"reflect"
	"strings"
	"testing"

	"sessaudit/scanner"
	"sessaudit/scanner/anatomy"
)

// anatomyCase is a session laid out under workspace_1/session_a and the
// anatomy a walk must find in it, in apparent bytes and counts (which every
// filesystem reports alike).
type anatomyCase struct {
	name  string
	tree  tree // relative to the session directory
	kind  anatomy.Kind
	regen scanner.Usage // Size, Files, Dirs only
	keys  map[string][2]int64
	creds int64
	idb   bool
	ls    bool
}

func anatomyCases() []anatomyCase {
	baileys := tree{"creds.json": `{"me":1}`}
	for i := 1; i <= 300; i++ {
		baileys[fmt.Sprintf("pre-key-%d.json", i)] = "0123456789"
	}
	baileys["session-4915112345678-12@s.whatsapp.net.0.json"] = strings.Repeat("s", 100)
	baileys["sender-key-memory-120363041234567890@g.us.json"] = "{}"
	return []anatomyCase{
		{name: "empty", tree: tree{}, kind: anatomy.Empty, creds: -1},
		{
			name: "webjs",
			tree: tree{
				"Local State":         "12345",
				"SingletonLock":       "x",
				"Default/Preferences": "123",
				"Default/IndexedDB/wa.leveldb/000003.log":      "1234567",
				"Default/Local Storage/leveldb/CURRENT":        "12",
				"Default/Cache/Cache_Data/data_1":              "1234567890",
				"Default/Service Worker/CacheStorage/ab/index": "1",
				"GrShaderCache/":                               "",
			},
			kind: anatomy.Webjs,
			// Local State 5, Preferences 3, data_1 10, index 1; dirs Cache,
			// Cache_Data, Service Worker, CacheStorage, ab, GrShaderCache.
			regen: scanner.Usage{Size: 19, Files: 4, Dirs: 6},
			creds: -1, idb: true, ls: true,
		},
		{
			name:  "webjs without IndexedDB",
			tree:  tree{"Default/Local Storage/leveldb/CURRENT": "12", "Default/Cookies": "1234"},
			kind:  anatomy.Webjs,
			regen: scanner.Usage{Size: 4, Files: 1},
			creds: -1, ls: true,
		},
		{
			name:  "baileys",
			tree:  baileys,
			kind:  anatomy.Baileys,
			keys:  map[string][2]int64{"pre-key": {300, 3000}, "session": {1, 100}, "sender-key-memory": {1, 2}},
			creds: 8,
		},
		{name: "baileys without creds", tree: tree{"pre-key-1.json": "1"}, kind: anatomy.Baileys,
			keys: map[string][2]int64{"pre-key": {1, 1}}, creds: -1},
		{name: "empty creds.json", tree: tree{"creds.json": ""}, kind: anatomy.Baileys, creds: 0},
		{name: "unknown", tree: tree{"notes.txt": "x", "data/x": "1"}, kind: anatomy.Unknown, creds: -1},
		// Both programs' markers: nothing is taken for cache.
		{name: "both", tree: tree{"creds.json": "{}", "Default/Cache/x": "1"}, kind: anatomy.Unknown, creds: 2},
	}
}

// checkAnatomy compares the anatomy of the one session of entries with c.
func checkAnatomy(t *testing.T, entries map[string]scanner.Entry, c anatomyCase) {
	t.Helper()
	e, ok := entries["workspace_1/session_a"]
	if !ok || e.Err != nil {
		t.Fatalf("session not measured: %+v", e)
	}
	a := e.Anatomy
	if a.Kind != c.kind {
		t.Errorf("Kind = %q, want %q", a.Kind, c.kind)
	}
	got := scanner.Usage{Size: a.Regenerable.Size, Files: a.Regenerable.Files, Dirs: a.Regenerable.Dirs}
	if got != c.regen {
		t.Errorf("Regenerable = %+v, want %+v", got, c.regen)
	}
	if st := a.State(e.Usage); st.Size+a.Regenerable.Size != e.Usage.Size || st.Metered+a.Regenerable.Metered != e.Usage.Metered || st.Size < 0 || st.Dirs < 1 {
		t.Errorf("State %+v and Regenerable %+v do not split Usage %+v", st, a.Regenerable, e.Usage)
	}
	keys := map[string][2]int64{}
	for typ, u := range a.Keys {
		keys[typ] = [2]int64{u.Files, u.Size}
	}
	if len(keys) == 0 {
		keys = nil
	}
	if !reflect.DeepEqual(keys, c.keys) {
		t.Errorf("Keys = %v, want %v", keys, c.keys)
	}
	if a.Creds != c.creds || a.IndexedDB != c.idb || a.LocalStorage != c.ls {
		t.Errorf("Creds, IndexedDB, LocalStorage = %d, %v, %v, want %d, %v, %v", a.Creds, a.IndexedDB, a.LocalStorage, c.creds, c.idb, c.ls)
	}
}

func sessionTree(c anatomyCase) tree {
	tr := tree{"workspace_1/session_a/": ""}
	for rel, content := range c.tree {
		tr["workspace_1/session_a/"+rel] = content
	}
	return tr
}

func TestWalkAnatomyMem(t *testing.T) {
	for _, c := range anatomyCases() {
		t.Run(c.name, func(t *testing.T) {
			fsys := memTree(t, sessionTree(c))
			checkAnatomy(t, walk(t, fsys, memRoot, scanner.Config{}), c)
		})
	}
}

// A session whose walk failed has no anatomy, as it has no usage: what
// could not be read is unknown.
func TestWalkAnatomyUnknownOnError(t *testing.T) {
	fsys := memTree(t, tree{"workspace_1/session_a/Default/Cache/x": "1", "workspace_1/session_a/Local State": "1"})
	fsys = &faultFs{Fs: fsys, open: map[string]func() error{memRoot + "/workspace_1/session_a/Default/Cache": failWith("Cache", fs.ErrPermission)}}
	e := walk(t, fsys, memRoot, scanner.Config{})["workspace_1/session_a"]
	if e.Err == nil || e.Anatomy.Kind != "" || e.Anatomy.Regenerable != (scanner.Usage{}) {
		t.Errorf("failed session: Err %v, Anatomy %+v; want an error and no anatomy", e.Err, e.Anatomy)
	}
}
