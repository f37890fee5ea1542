package scantest_test

import (
	"crypto/sha256"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/spf13/afero"

	"sessaudit/scanner/scantest"
)

// listing describes every entry under root, one line each, sorted: path,
// type, and size for files. With content, it adds a hash of each file.
func listing(t *testing.T, fsys afero.Fs, root string, content bool) string {
	t.Helper()
	var lines []string
	err := afero.Walk(fsys, root, func(p string, fi fs.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		switch {
		case fi.IsDir():
			lines = append(lines, rel+" dir")
		case fi.Mode()&fs.ModeSymlink != 0:
			lines = append(lines, rel+" link")
		default:
			line := fmt.Sprintf("%s %d", rel, fi.Size())
			if content {
				b, err := afero.ReadFile(fsys, p)
				if err != nil {
					return err
				}
				line += fmt.Sprintf(" %x", sha256.Sum256(b))
			}
			lines = append(lines, line)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

func TestDeterministic(t *testing.T) {
	spec := scantest.Spec{Workspaces: 3, SessionsPerWorkspace: 3, ChromiumFiles: 200, BaileysFiles: 50, BaileysRatio: 0.4, Seed: 7, SizeScale: 0.05}
	gen := func(spec scantest.Spec) string {
		fsys := afero.NewMemMapFs()
		if _, err := scantest.Generate(fsys, "/t", spec); err != nil {
			t.Fatal(err)
		}
		return listing(t, fsys, "/t", true)
	}
	a := gen(spec)
	spec.Workers = 1 // scheduling must not matter
	if b := gen(spec); a != b {
		t.Fatal("same spec and seed gave different trees")
	}
	spec.Seed = 8
	if c := gen(spec); a == c {
		t.Fatal("another seed gave the same tree")
	}
}

func TestStatsMatchTree(t *testing.T) {
	tests := []struct {
		name string
		spec scantest.Spec
	}{
		{"defaults", scantest.Spec{SizeScale: 0.01}},
		{"chromium only", scantest.Spec{Workspaces: 2, SessionsPerWorkspace: 2, ChromiumFiles: 3000, SizeScale: 0.01}},
		{"baileys only", scantest.Spec{Workspaces: 2, SessionsPerWorkspace: 3, BaileysFiles: 400, BaileysRatio: 1}},
		{"mixed", scantest.Spec{Workspaces: 5, SessionsPerWorkspace: 4, ChromiumFiles: 150, BaileysFiles: 80, BaileysRatio: 0.3, SizeScale: 0.1}},
		{"sessions fill workspaces", scantest.Spec{Sessions: 7, SessionsPerWorkspace: 3, ChromiumFiles: 100, BaileysFiles: 20, BaileysRatio: 0.5}},
		{"fewer files than the skeleton", scantest.Spec{Workspaces: 1, SessionsPerWorkspace: 2, ChromiumFiles: 3, BaileysFiles: 2, BaileysRatio: 0.5}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fsys := afero.NewMemMapFs()
			st, err := scantest.Generate(fsys, "/t", tc.spec)
			if err != nil {
				t.Fatal(err)
			}
			var got scantest.Stats
			err = afero.Walk(fsys, "/t", func(p string, fi fs.FileInfo, err error) error {
				switch {
				case err != nil:
					return err
				case p == "/t":
				case fi.IsDir():
					got.Dirs++
				default:
					got.Files++
					got.Bytes += fi.Size()
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if got.Files != st.Files || got.Dirs != st.Dirs || got.Bytes != st.Bytes {
				t.Errorf("tree has %d files, %d dirs, %d bytes; Stats say %+v", got.Files, got.Dirs, got.Bytes, st)
			}
			est := tc.spec.Estimate()
			est.Links, est.Bytes = 0, st.Bytes // MemMapFs has no links
			if est != st {
				t.Errorf("Estimate = %+v, Generate = %+v", est, st)
			}
			if st.Chromium+st.Baileys != st.Sessions {
				t.Errorf("%d chromium + %d baileys != %d sessions", st.Chromium, st.Baileys, st.Sessions)
			}
		})
	}
}

func TestFilesPerSession(t *testing.T) {
	spec := scantest.Spec{Workspaces: 2, SessionsPerWorkspace: 5, ChromiumFiles: 500, BaileysFiles: 120, BaileysRatio: 0.3, SizeScale: 0.01}
	fsys := afero.NewMemMapFs()
	st, err := scantest.Generate(fsys, "/t", spec)
	if err != nil {
		t.Fatal(err)
	}
	if st.Baileys != 3 || st.Chromium != 7 {
		t.Errorf("%d baileys, %d chromium sessions; want 3 and 7", st.Baileys, st.Chromium)
	}
	for w := 1; w <= 2; w++ {
		names, err := afero.ReadDir(fsys, fmt.Sprintf("/t/workspace_%d", w))
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range names {
			dir := fmt.Sprintf("/t/workspace_%d/%s", w, n.Name())
			files := 0
			baileys := false
			afero.Walk(fsys, dir, func(p string, fi fs.FileInfo, err error) error {
				if err == nil && !fi.IsDir() {
					files++
					baileys = baileys || fi.Name() == "creds.json"
				}
				return nil
			})
			want := spec.ChromiumFiles
			if baileys {
				want = spec.BaileysFiles
			}
			if files != want {
				t.Errorf("%s: %d files, want %d", dir, files, want)
			}
		}
	}
}

func TestLayout(t *testing.T) {
	dir := t.TempDir()
	spec := scantest.Spec{Workspaces: 1, SessionsPerWorkspace: 2, ChromiumFiles: 2000, BaileysFiles: 300, BaileysRatio: 0.5, SizeScale: 1}
	st, err := scantest.Generate(afero.NewOsFs(), dir, spec)
	if err != nil {
		t.Fatal(err)
	}
	if st != withBytes(spec.Estimate(), st.Bytes) {
		t.Errorf("Generate = %+v, Estimate = %+v", st, spec.Estimate())
	}
	chromium := filepath.Join(dir, "workspace_1", "session_1")
	baileys := filepath.Join(dir, "workspace_1", "session_2")
	for _, pattern := range []string{
		"Default/IndexedDB/https_web.whatsapp.com_0.indexeddb.leveldb/*.ldb",
		"Default/Service Worker/CacheStorage/*/*/*_0",
		"Default/Cache/Cache_Data/f_0000*",
		"Default/Local Storage/leveldb/*.ldb",
		"Default/Code Cache/js/*_0",
	} {
		if m, _ := filepath.Glob(filepath.Join(chromium, pattern)); len(m) == 0 {
			t.Errorf("chromium session has nothing matching %s", pattern)
		}
	}
	for _, pattern := range []string{"creds.json", "pre-key-*.json", "session-*.json", "app-state-sync-key-*.json", "sender-key-*.json"} {
		if m, _ := filepath.Glob(filepath.Join(baileys, pattern)); len(m) == 0 {
			t.Errorf("baileys session has nothing matching %s", pattern)
		}
	}
	if entries, _ := os.ReadDir(baileys); len(entries) != spec.BaileysFiles {
		t.Errorf("baileys session holds %d entries, want %d flat files", len(entries), spec.BaileysFiles)
	}
	lock := filepath.Join(chromium, "SingletonLock")
	fi, err := os.Lstat(lock)
	if err != nil || fi.Mode()&fs.ModeSymlink == 0 {
		t.Fatalf("SingletonLock: %v, %v; want a symbolic link", fi, err)
	}
	if _, err := os.Stat(lock); !os.IsNotExist(err) {
		t.Errorf("SingletonLock resolves (%v); want it dangling", err)
	}

	// Sizes: most files small, a few large, none above 1 MiB.
	var small, large, total int
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		fi, _ := d.Info()
		total++
		switch s := fi.Size(); {
		case s <= 16<<10:
			small++
		case s > 1<<20:
			t.Errorf("%s: %d bytes, more than 1 MiB", p, s)
		case s > 128<<10:
			large++
		}
		return nil
	})
	if small < total*85/100 || large == 0 || large > total/20 {
		t.Errorf("of %d files %d are ≤16 KiB and %d >128 KiB; want most small and a few large", total, small, large)
	}
	if _, err := scantest.Generate(afero.NewOsFs(), dir, spec); err == nil {
		t.Error("generating over an existing tree succeeded")
	}
}

func withBytes(s scantest.Stats, b int64) scantest.Stats { s.Bytes = b; return s }

func TestSessionsFillWorkspaces(t *testing.T) {
	fsys := afero.NewMemMapFs()
	st, err := scantest.Generate(fsys, "/t", scantest.Spec{Workspaces: 99, Sessions: 7, SessionsPerWorkspace: 3, ChromiumFiles: 10, BaileysFiles: 5})
	if err != nil {
		t.Fatal(err)
	}
	if st.Workspaces != 3 || st.Sessions != 7 {
		t.Fatalf("%d workspaces, %d sessions; want 3, 7", st.Workspaces, st.Sessions)
	}
	for ws, want := range map[string]int{"workspace_1": 3, "workspace_2": 3, "workspace_3": 1} {
		names, err := afero.ReadDir(fsys, "/t/"+ws)
		if err != nil || len(names) != want {
			t.Errorf("%s holds %d sessions (%v), want %d", ws, len(names), err, want)
		}
	}
	if _, err := fsys.Stat("/t/workspace_3/session_7"); err != nil {
		t.Errorf("last session: %v", err)
	}
}
