package cli_test

import (
	"crypto/sha256"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spf13/afero"

	"sessaudit/cmd/internal/cli"
	"sessaudit/db/dbtest"
	"sessaudit/scanner/quarantine"
	"sessaudit/scanner/scantest/writers"
)

// statePage writes a token into IndexedDB and localStorage (and a
// megabyte into Cache Storage, which is regenerable) with ?write=TOKEN, or
// reads both back with ?check, and posts what it did to /report.
const statePage = `<!doctype html>
<meta charset="utf-8">
<title>sessaudit state page</title>
<script>
"use strict";
function openDB() {
  return new Promise((ok, fail) => {
    const r = indexedDB.open("sessaudit", 1);
    r.onupgradeneeded = () => r.result.createObjectStore("kv");
    r.onsuccess = () => ok(r.result);
    r.onerror = () => fail(r.error);
  });
}
function req(r) { return new Promise((ok, fail) => { r.onsuccess = () => ok(r.result); r.onerror = () => fail(r.error); }); }
(async () => {
  const q = new URLSearchParams(location.search);
  const db = await openDB();
  let out;
  if (q.has("write")) {
    const token = q.get("write");
    const t = db.transaction("kv", "readwrite");
    t.objectStore("kv").put(token, "token");
    await new Promise((ok, fail) => { t.oncomplete = ok; t.onerror = () => fail(t.error); });
    localStorage.setItem("token", token);
    const cache = await caches.open("media");
    await cache.put("/media/1", new Response(new Blob([new Uint8Array(1 << 20).fill(7)])));
    out = "wrote " + token;
  } else {
    const idb = await req(db.transaction("kv").objectStore("kv").get("token"));
    out = "idb=" + idb + " ls=" + localStorage.getItem("token");
  }
  await fetch("/report", {method: "POST", body: out});
})().catch(e => fetch("/report", {method: "POST", body: "error: " + e}));
</script>`

// pageServer serves statePage and hears its reports. One serves every
// Chromium run on a profile: the page's origin, whose data the profile
// keeps, includes the port.
type pageServer struct {
	*httptest.Server
	reports chan string
}

func newPageServer(t *testing.T) *pageServer {
	s := &pageServer{reports: make(chan string, 1)}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/report" {
			b, _ := io.ReadAll(r.Body)
			select {
			case s.reports <- string(b):
			default:
			}
			return
		}
		w.Header().Set("Content-Type", "text/html")
		io.WriteString(w, statePage)
	}))
	t.Cleanup(s.Close)
	return s
}

// runPage runs a headless Chromium with profile as its user data directory
// on the state page with query, returns what the page reports and stops
// Chromium with SIGINT, waiting for it to exit. (Headless Chromium leaves
// its SingletonLock behind on SIGTERM, and reclaim --caches would then
// take the profile for a running one; on SIGINT it closes the profile as
// puppeteer's browser.close() does.)
func runPage(t *testing.T, chromium, profile string, srv *pageServer, query string) string {
	t.Helper()
	w := writers.StartChromium(t, chromium, profile, srv.URL+"/?"+query)
	var got string
	select {
	case got = <-srv.reports:
	case <-w.Exited():
		t.Fatalf("chromium exited before the page reported: %v", w.Running())
	case <-time.After(60 * time.Second):
		w.Stop(syscall.SIGKILL)
		t.Fatalf("the page did not report within a minute\n%s", w.Output())
	}
	// localStorage is written to disk a moment after setItem.
	time.Sleep(3 * time.Second)
	if err := w.Stop(syscall.SIGINT); err != nil {
		t.Fatalf("chromium did not stop on SIGINT: %v\n%s", err, w.Output())
	}
	if _, err := os.Lstat(filepath.Join(profile, "SingletonLock")); err == nil {
		t.Fatalf("chromium left its SingletonLock behind\n%s", w.Output())
	}
	return got
}

// files describes every file and link under dir (path → mode, size,
// modification time, hash), and every directory by its mode.
func files(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	mustDo(t, filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
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
	}))
	return out
}

// bytesUnder is the sum of the sizes of the regular files under dir.
func bytesUnder(t *testing.T, dir string) int64 {
	t.Helper()
	var n int64
	mustDo(t, filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		fi, err := d.Info()
		if err == nil {
			n += fi.Size()
		}
		return err
	}))
	return n
}

func within(all map[string]string, prefix string) map[string]string {
	out := map[string]string{}
	for p, d := range all {
		if p == prefix || strings.HasPrefix(p, prefix+"/") {
			out[p] = d
		}
	}
	return out
}

func diffFiles(t *testing.T, what string, got, want map[string]string) {
	t.Helper()
	for p, w := range want {
		if g, ok := got[p]; !ok {
			t.Errorf("%s: %s is gone", what, p)
		} else if g != w && !strings.HasPrefix(w, "dir ") {
			t.Errorf("%s: %s is %s, was %s", what, p, g, w)
		}
	}
	for p := range got {
		if _, ok := want[p]; !ok {
			t.Errorf("%s: %s is new", what, p)
		}
	}
}

// TestReclaimCachesChromium: a real profile, written by a headless
// Chromium and stopped, has its caches moved; its state is untouched and
// the page finds its IndexedDB and localStorage data again in a restarted
// Chromium. Restore puts the caches back byte for byte, and purge deletes
// them from quarantine.
func TestReclaimCachesChromium(t *testing.T) {
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("chromium is not installed (Debian's package chromium; .ci/run installs it): no real profile to reclaim")
	}
	base := t.TempDir()
	root, qdir := filepath.Join(base, "share"), filepath.Join(base, "quarantine")
	rel := "workspace_1/session_web"
	profile := filepath.Join(root, rel)
	mustDo(t, os.MkdirAll(profile, 0o700))
	mustDo(t, os.MkdirAll(qdir, 0o700))
	srv := newPageServer(t)
	if got := runPage(t, chromium, profile, srv, "write=tok-4711"); got != "wrote tok-4711" {
		t.Fatalf("the page reported %q", got)
	}
	dsn := dbtest.New(t)
	dbtest.LoadSchema(t, dsn)
	dbtest.Exec(t, dsn, `INSERT INTO whatsapp_accounts (id, uuid, workspace_id, session_id, status, session_storage_path, created_by)
		VALUES (1, 'u1', 1, 'web', 'disconnected', '/mnt/efs/workspace_1/session_web', 1)`)
	time.Sleep(1100 * time.Millisecond) // the grace period below
	reclaimCaches := func(extra ...string) result {
		args := append([]string{"reclaim", "--caches", "--root", root, "--quarantine", qdir, "--dsn", dsn, "--min-age", "1s", "--log-level", "warn"}, extra...)
		return run(t, afero.NewOsFs(), args...)
	}

	before := files(t, profile)
	size := bytesUnder(t, profile)
	plan := reclaimCaches()
	if plan.code != cli.ExitClean || !strings.Contains(plan.stdout, "would move  caches") {
		t.Fatalf("plan: exit %d\n%s%s", plan.code, plan.stdout, plan.stderr)
	}
	diffFiles(t, "after the plan", files(t, profile), before)

	res := reclaimCaches("--yes")
	if res.code != cli.ExitClean {
		t.Fatalf("reclaim --caches --yes: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	left := bytesUnder(t, profile)
	freed := size - left
	t.Logf("profile %d bytes, %d after reclaim --caches: %d freed (%.0f%%)\n%s", size, left, freed, 100*float64(freed)/float64(size), res.stdout)
	moved := regexp.MustCompile(`moved the caches of 1 sessions, .* in \d+ files`).FindString(res.stdout)
	if moved == "" || freed <= 1<<20 {
		t.Errorf("freed %d bytes (the page cached 1 MiB); output:\n%s", freed, res.stdout)
	}
	after := files(t, profile)
	for _, state := range []string{"Default/IndexedDB", "Default/Local Storage"} {
		diffFiles(t, "reclaimed "+state, within(after, state), within(before, state))
		if len(within(before, state)) < 2 {
			t.Errorf("chromium wrote nothing in %s", state)
		}
	}
	manifest := regexp.MustCompile(`manifest: (\S+)`).FindStringSubmatch(res.stdout)
	if manifest == nil {
		t.Fatalf("no manifest in the output:\n%s", res.stdout)
	}
	if inRun := bytesUnder(t, filepath.Join(filepath.Dir(manifest[1]), rel)); inRun != freed {
		t.Errorf("the run holds %d bytes, %d were freed", inRun, freed)
	}

	// Restore: every cache back, byte for byte.
	back := run(t, afero.NewOsFs(), "restore", "--manifest", manifest[1], "--log-level", "warn")
	if back.code != cli.ExitClean {
		t.Fatalf("restore: exit %d\n%s%s", back.code, back.stdout, back.stderr)
	}
	diffFiles(t, "restored", files(t, profile), before)
	if !regexp.MustCompile(`restored (\d+) directories, 0 B \((\d+) of them parts of reclaim --caches runs, whose sizes are not recorded\); 0 not restored`).MatchString(back.stdout) {
		t.Errorf("restore's last line does not say its parts' sizes are not recorded:\n%s", back.stdout)
	}

	// Reclaimed again, then Chromium restarted on the profile: the page
	// finds what it wrote.
	time.Sleep(1100 * time.Millisecond)
	if res := reclaimCaches("--yes"); res.code != cli.ExitClean {
		t.Fatalf("second reclaim --caches --yes: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	if got := runPage(t, chromium, profile, srv, "check"); got != "idb=tok-4711 ls=tok-4711" {
		t.Errorf("after reclaim --caches the restarted page reads %q, want idb=tok-4711 ls=tok-4711", got)
	}

	// Purge deletes what is in quarantine, and nothing of the profile.
	kept := files(t, profile)
	purge := run(t, afero.NewOsFs(), "purge", "--quarantine", qdir, "--older-than", "1s", "--yes", "--log-level", "warn")
	if purge.code != cli.ExitClean {
		t.Fatalf("purge: exit %d\n%s%s", purge.code, purge.stdout, purge.stderr)
	}
	diffFiles(t, "after purge", files(t, profile), kept)
	if !strings.Contains(purge.stdout, "of them parts of reclaim --caches runs") || strings.Contains(purge.stdout, "Default/Cache\"  0 B") {
		t.Errorf("purge's output gives its parts sizes:\n%s", purge.stdout)
	}
	if names, _ := os.ReadDir(qdir); len(names) != 1 || names[0].Name() != quarantine.OwnerName {
		t.Errorf("the quarantine holds %v after purge", names)
	}
}

// TestReclaimCachesRefuses: --caches takes no report nor --kinds, needs
// --root, and a table whose status column says whether a session runs.
func TestReclaimCachesRefuses(t *testing.T) {
	base := t.TempDir()
	root, qdir := filepath.Join(base, "share"), filepath.Join(base, "quarantine")
	mustDo(t, os.MkdirAll(filepath.Join(root, "workspace_1/session_a/Default/Cache"), 0o700))
	mustDo(t, os.MkdirAll(qdir, 0o700))
	dsn := dbtest.New(t)
	dbtest.Exec(t, dsn, `CREATE TABLE whatsapp_accounts (id BIGINT UNSIGNED NOT NULL PRIMARY KEY, workspace_id BIGINT UNSIGNED NOT NULL,
		session_id VARCHAR(255) NOT NULL, session_storage_path VARCHAR(500) NULL, session_file_size_bytes BIGINT NULL,
		session_storage_verified_at TIMESTAMP NULL DEFAULT NULL)`)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"a report", []string{"--root", root, "--report", filepath.Join(base, "audit.json")}, "not --report"},
		{"kinds", []string{"--root", root, "--kinds", "orphan"}, "--kinds"},
		{"no root", nil, "--root is required"},
		{"no status column", []string{"--root", root}, "no status column"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"reclaim", "--caches", "--quarantine", qdir, "--dsn", dsn, "--log-level", "warn"}, tc.args...)
			res := run(t, afero.NewOsFs(), args...)
			if res.code != cli.ExitFailed || !strings.Contains(res.stderr, tc.want) {
				t.Errorf("exit %d, want 2 saying %q\n%s%s", res.code, tc.want, res.stdout, res.stderr)
			}
		})
	}
	if names, _ := os.ReadDir(qdir); len(names) != 0 {
		t.Errorf("the quarantine holds %v", names)
	}
}

// TestReclaimCachesPlanMetrics: a plan over a share prints what it would
// move and writes reclaim --caches' own series.
func TestReclaimCachesPlanMetrics(t *testing.T) {
	base := t.TempDir()
	root, qdir := filepath.Join(base, "share"), filepath.Join(base, "quarantine")
	prom := filepath.Join(base, "sessaudit-reclaim-caches.prom")
	for rel, content := range map[string]string{
		"workspace_1/session_a/Default/Cache/data_1":              strings.Repeat("c", 4096),
		"workspace_1/session_a/Default/IndexedDB/x.leveldb/LOG":   "state",
		"workspace_1/session_a/Local State":                       "{}",
		"workspace_1/session_b/Default/Cache/data_1":              "running",
		"workspace_1/session_c/creds.json":                        "{}",
		"workspace_1/session_c/pre-key-1.json":                    "{}",
		"workspace_1/session_d/Default/Local Storage/leveldb/LOG": "no row",
		"workspace_1/session_d/Default/GPUCache/data_0":           "no row",
	} {
		mustDo(t, os.MkdirAll(filepath.Dir(filepath.Join(root, rel)), 0o700))
		write(t, filepath.Join(root, rel), content)
	}
	mustDo(t, os.MkdirAll(qdir, 0o700))
	age(t, root, 2*time.Hour)
	dsn := dbtest.New(t)
	dbtest.LoadSchema(t, dsn)
	dbtest.Exec(t, dsn, `INSERT INTO whatsapp_accounts (id, uuid, workspace_id, session_id, status, created_by) VALUES
		(1, 'u1', 1, 'a', 'failed', 1), (2, 'u2', 1, 'b', 'connected', 1), (3, 'u3', 1, 'c', 'disconnected', 1)`)
	time.Sleep(1100 * time.Millisecond)
	res := run(t, afero.NewOsFs(), "reclaim", "--caches", "--root", root, "--quarantine", qdir, "--dsn", dsn,
		"--min-age", "1s", "--metrics-file", prom, "--log-level", "warn")
	if res.code != cli.ExitClean {
		t.Fatalf("exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	for _, want := range []string{
		`would move  caches        "workspace_1/session_a"  4.0 KiB in 2 files, 2 parts`,
		"would move the caches of 1 sessions, 4.0 KiB in 2 files; skipped 0",
		"passed over 3 sessions: 1 no_row, 1 running, 1 nothing_regenerable",
		"nothing was moved; run again with --yes to move them",
	} {
		if !strings.Contains(res.stdout, want) {
			t.Errorf("no %q in\n%s", want, res.stdout)
		}
	}
	b, err := os.ReadFile(prom)
	mustDo(t, err)
	for _, want := range []string{
		"sessaudit_reclaim_caches_last_run_plan 1",
		`sessaudit_reclaim_caches_directories{result="planned"} 1`,
		`sessaudit_reclaim_caches_bytes{result="planned"} 4098`,
		`sessaudit_reclaim_caches_passed_over_sessions{reason="running"} 1`,
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("no %q in the metrics file:\n%s", want, b)
		}
	}
	if names, _ := os.ReadDir(qdir); len(names) != 0 {
		t.Errorf("the plan wrote into the quarantine: %v", names)
	}
}
