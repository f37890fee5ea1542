package reconcile_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spf13/afero"

	"sessaudit/db"
	"sessaudit/reconcile"
	"sessaudit/scanner"
	"sessaudit/scanner/scantest/writers"
)

// writeChromiumProfile has a headless Chromium store IndexedDB and
// localStorage data in the profile dir, as WhatsApp Web does, and stops
// it once both are on disk.
func writeChromiumProfile(t *testing.T, chromium, dir string) {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.Write([]byte(`<!doctype html><script>
localStorage.setItem("last-wid-md", "4915112345678:12@c.us");
const r = indexedDB.open("wawc", 1);
r.onupgradeneeded = () => r.result.createObjectStore("user");
r.onsuccess = () => { const t = r.result.transaction("user", "readwrite"); t.objectStore("user").put("y".repeat(4000), "me"); };
</script>`))
	}))
	defer srv.Close()
	w := writers.StartChromium(t, chromium, dir, srv.URL)
	written := func() bool {
		ldb, _ := filepath.Glob(filepath.Join(dir, "Default/IndexedDB/http_127.0.0.1_*.indexeddb.leveldb"))
		_, err := os.Stat(filepath.Join(dir, "Default/Local Storage/leveldb"))
		return len(ldb) == 1 && err == nil
	}
	for start := time.Now(); !written(); time.Sleep(200 * time.Millisecond) {
		if err := w.Running(); err != nil {
			t.Fatalf("Chromium stopped before it wrote IndexedDB and localStorage: %v", err)
		}
		if time.Since(start) > time.Minute {
			t.Fatalf("Chromium wrote no IndexedDB and localStorage in %s within a minute", dir)
		}
	}
	time.Sleep(time.Second) // let the page's transaction reach the disk
	if err := w.Stop(syscall.SIGINT); err != nil {
		t.Logf("Chromium: %v", err)
	}
}

// copyTree copies the regular files and directories of src to dst.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.Walk(src, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		switch {
		case fi.IsDir():
			return os.MkdirAll(target, 0o755)
		case fi.Mode().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			return os.WriteFile(target, b, 0o644)
		}
		return nil // Chromium's Singleton* links and sockets
	})
	if err != nil {
		t.Fatal(err)
	}
}

// Sessions made by the real programs, a Chromium profile and a Baileys
// multi-file auth state, are recognized and judged sound; copies of them
// broken by hand as crashes and operators break them (IndexedDB removed;
// creds.json empty, truncated, missing) are incomplete, each with what is
// missing, and only those.
func TestAuditAnatomyOfRealSessions(t *testing.T) {
	chromium, cerr := exec.LookPath("chromium")
	node, nerr := exec.LookPath("node")
	modules := os.Getenv("SESSAUDIT_TEST_NODE_MODULES")
	if _, err := os.Stat(filepath.Join(modules, "@whiskeysockets/baileys/package.json")); err != nil {
		modules = ""
	}
	if cerr != nil || nerr != nil || modules == "" {
		t.Skip("chromium, node or @whiskeysockets/baileys is missing (.ci/run installs them and sets SESSAUDIT_TEST_NODE_MODULES): no real sessions to judge")
	}
	root := t.TempDir()
	ws := filepath.Join(root, "workspace_1")
	web := filepath.Join(ws, "session_web")
	writeChromiumProfile(t, chromium, web)
	bai := filepath.Join(ws, "session_bai")
	cmd := exec.Command(node, "../scanner/anatomy/testdata/baileys.js", bai, "30")
	cmd.Env = append(os.Environ(), "NODE_PATH="+modules)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("baileys.js: %v: %s", err, out)
	}
	creds, err := os.ReadFile(filepath.Join(bai, "creds.json"))
	if err != nil {
		t.Fatal(err)
	}

	broken := map[string]func(dir string) error{
		"session_web_noidb": func(dir string) error { return os.RemoveAll(filepath.Join(dir, "Default/IndexedDB")) },
		"session_bai_empty": func(dir string) error { return os.WriteFile(filepath.Join(dir, "creds.json"), nil, 0o644) },
		"session_bai_truncated": func(dir string) error {
			return os.WriteFile(filepath.Join(dir, "creds.json"), creds[:len(creds)/2], 0o644)
		},
		"session_bai_nocreds": func(dir string) error { return os.Remove(filepath.Join(dir, "creds.json")) },
	}
	for name, breakIt := range broken {
		src := bai
		if strings.HasPrefix(name, "session_web") {
			src = web
		}
		dir := filepath.Join(ws, name)
		copyTree(t, src, dir)
		if err := breakIt(dir); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(scanner.Quiet) // the copies stand, as a share not being copied does

	var rows []db.Row
	entries, _ := os.ReadDir(ws)
	for i, e := range entries {
		id := strings.TrimPrefix(e.Name(), "session_")
		rows = append(rows, live(uint64(i+1), 1, id, str("/mnt/efs/workspace_1/"+e.Name())))
	}
	rep, err := reconcile.Audit(context.Background(), afero.NewOsFs(), &fakeStore{rows: rows}, reconcile.Config{
		Root: root, PathPrefix: "/mnt/efs", MinAge: time.Hour, MaxMissingRatio: 1,
		Now:   func() time.Time { return time.Now().Add(48 * time.Hour) },
		Bloat: reconcile.Bloat{KeyFiles: 5000, CacheBytes: 512 << 20},
	})
	if err != nil {
		t.Fatalf("Audit: %v", err)
	}
	got := anatomyFindings(rep)
	want := map[string]string{
		"incomplete workspace_1/session_web_noidb":     "webjs profile without Default/IndexedDB",
		"incomplete workspace_1/session_bai_empty":     "creds.json is empty",
		"incomplete workspace_1/session_bai_truncated": "creds.json is not a JSON object",
		"incomplete workspace_1/session_bai_nocreds":   "baileys session without creds.json",
	}
	for k, sub := range want {
		if !strings.Contains(got[k], sub) {
			t.Errorf("%s: detail %q, want it to say %q", k, got[k], sub)
		}
	}
	for k, detail := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("unexpected finding %s: %s", k, detail)
		}
	}
	kinds := map[string]reconcile.KindUsage{}
	for _, k := range rep.Summary.Anatomy.Kinds {
		kinds[string(k.Kind)] = k
	}
	if w := kinds["webjs"]; w.Sessions != 2 || w.RegenerableBytes <= 0 || w.RegenerableBytes >= w.SizeBytes {
		t.Errorf("webjs: %+v; want 2 profiles, part of their bytes regenerable", w)
	}
	if b := kinds["baileys"]; b.Sessions != 4 || b.KeyFiles != 4*35 || b.RegenerableBytes != 0 {
		t.Errorf("baileys: %+v; want 4 sessions of 35 key files each (30 pre-keys and one of each other type), nothing regenerable", b)
	}
	if n := rep.Summary.Outcomes[reconcile.Verified]; n != len(rows) {
		t.Errorf("%d of %d rows verified", n, len(rows))
	}
}
