package anatomy

import (
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"sessaudit/scanner/scantest/writers"
)

// names lists dir's entries by name.
func names(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var ns []string
	for _, e := range entries {
		ns = append(ns, e.Name())
	}
	return ns
}

// Every file that Baileys' own useMultiFileAuthState writes, a key of each
// type of its SignalDataTypeMap included, is recognized: the session is
// baileys, creds.json is not a key file, every other file is one of the
// type it was written as.
func TestBaileysWrittenByBaileys(t *testing.T) {
	node, err := exec.LookPath("node")
	modules := os.Getenv("SESSAUDIT_TEST_NODE_MODULES")
	if err == nil && modules != "" {
		_, err = os.Stat(filepath.Join(modules, "@whiskeysockets/baileys/package.json"))
	}
	if err != nil || modules == "" {
		t.Skip("node or @whiskeysockets/baileys is missing (.ci/run installs it and sets SESSAUDIT_TEST_NODE_MODULES): no real Baileys to write a session")
	}
	session := t.TempDir()
	cmd := exec.Command(node, "testdata/baileys.js", session, "3")
	cmd.Env = append(os.Environ(), "NODE_PATH="+modules)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("baileys.js: %v: %s", err, out)
	}
	top := names(t, session)
	if got := Of(top); got != Baileys {
		t.Errorf("Of(%q) = %q, want baileys", top, got)
	}
	count := map[string]int{}
	for _, name := range top {
		typ, ok := KeyType(name)
		if name == Creds {
			if ok {
				t.Errorf("KeyType(creds.json) = %q, true", typ)
			}
			continue
		}
		if !ok {
			t.Errorf("KeyType(%q): not recognized", name)
		}
		count[typ]++
		if Regenerable(Baileys, name) {
			t.Errorf("Regenerable(baileys, %q)", name)
		}
	}
	want := map[string]int{"pre-key": 3, "session": 1, "sender-key": 1, "sender-key-memory": 1, "app-state-sync-key": 1, "app-state-sync-version": 1}
	for typ, n := range want {
		if count[typ] != n {
			t.Errorf("%d files of type %s, want %d (all: %v)", count[typ], typ, n, top)
		}
	}
}

// A profile that Debian's Chromium writes while a page stores IndexedDB
// and localStorage data is webjs; its cache roots are everything but the
// two directories RemoteAuth keeps and the lock files of the running
// browser.
func TestWebjsWrittenByChromium(t *testing.T) {
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("chromium is not installed (Debian's package chromium; .ci/run installs it): no real Chromium to write a profile")
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.Write([]byte(`<!doctype html><script>
localStorage.setItem("WAToken", "x".repeat(1000));
const r = indexedDB.open("wawc", 1);
r.onupgradeneeded = () => r.result.createObjectStore("user");
r.onsuccess = () => { const t = r.result.transaction("user", "readwrite"); t.objectStore("user").put("y".repeat(1000), "me"); };
</script>`))
	}))
	defer srv.Close()
	profile := t.TempDir()
	w := writers.StartChromium(t, chromium, profile, srv.URL)
	written := func() bool {
		ldb, _ := filepath.Glob(filepath.Join(profile, "Default/IndexedDB/http_127.0.0.1_*.indexeddb.leveldb"))
		_, err := os.Stat(filepath.Join(profile, "Default/Local Storage/leveldb"))
		return len(ldb) == 1 && err == nil
	}
	for start := time.Now(); !written(); time.Sleep(200 * time.Millisecond) {
		if err := w.Running(); err != nil {
			t.Fatalf("Chromium stopped before it wrote IndexedDB and localStorage: %v", err)
		}
		if time.Since(start) > 60*time.Second {
			t.Fatalf("Chromium wrote no IndexedDB and localStorage in %s within a minute", profile)
		}
	}
	top, dflt := names(t, profile), names(t, filepath.Join(profile, "Default"))
	t.Logf("top: %q\nDefault: %q", top, dflt)
	if got := Of(top); got != Webjs {
		t.Fatalf("Of(%q) = %q, want webjs", top, got)
	}
	if !slices.Contains(top, SingletonLock) {
		t.Errorf("a running Chromium left no %s in %q", SingletonLock, top)
	}
	roots := CacheRoots(Webjs, top, dflt)
	for _, name := range top {
		want := name != Profile && !strings.HasPrefix(name, "Singleton")
		if slices.Contains(roots, name) != want {
			t.Errorf("top-level %q: in cache roots %v, want %v", name, !want, want)
		}
	}
	for _, name := range dflt {
		want := name != IndexedDB && name != LocalStorage
		if slices.Contains(roots, Profile+"/"+name) != want {
			t.Errorf("Default/%q: in cache roots %v, want %v", name, !want, want)
		}
	}
	for _, rel := range StateDirs {
		if slices.Contains(roots, rel) {
			t.Errorf("cache roots %q hold the state directory %s", roots, rel)
		}
	}
	if !slices.Contains(roots, LocalState) {
		t.Errorf("cache roots %q lack %s, which RemoteAuth does not keep", roots, LocalState)
	}
}
