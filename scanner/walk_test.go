package scanner_test

import (
	"context"
	"errors"
	"io/fs"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/spf13/afero"

	"sessaudit/scanner"
)

// Numbers in the tables below are worked out by hand from the rules:
// size = sum of file sizes; allocated = size on MemMapFs (no block counts);
// metered = each file's size rounded up to 4096 + 2048 per file, link or
// other entry + 2048 per directory, the session directory included.

func TestWalkSizes(t *testing.T) {
	tests := []struct {
		name string
		tree tree
		want map[string]result
	}{
		{
			name: "empty root",
			tree: tree{},
			want: map[string]result{},
		},
		{
			name: "empty workspace",
			tree: tree{"workspace_1/": ""},
			want: map[string]result{},
		},
		{
			name: "empty session",
			tree: tree{"workspace_1/session_a/": ""},
			want: map[string]result{
				// the session directory only: 2048
				"workspace_1/session_a": {Kind: scanner.KindSession, WS: 1, SID: "a",
					Usage: scanner.Usage{Metered: 2048, Dirs: 1}},
			},
		},
		{
			name: "session with only empty directories",
			tree: tree{"workspace_1/session_a/Default/Cache/": "", "workspace_1/session_a/tmp/": ""},
			want: map[string]result{
				// 4 directories × 2048
				"workspace_1/session_a": {Kind: scanner.KindSession, WS: 1, SID: "a",
					Usage: scanner.Usage{Metered: 8192, Dirs: 4}},
			},
		},
		{
			name: "one small file",
			tree: tree{"workspace_1/session_a/creds.json": "{}"},
			want: map[string]result{
				// 2 → 4096 + 2048 file + 2048 dir
				"workspace_1/session_a": {Kind: scanner.KindSession, WS: 1, SID: "a",
					Usage: scanner.Usage{Size: 2, Allocated: 2, Metered: 8192, Files: 1, Dirs: 1}},
			},
		},
		{
			name: "empty file",
			tree: tree{"workspace_1/session_a/SingletonLock": ""},
			want: map[string]result{
				// 0 → 0 + 2048 file + 2048 dir
				"workspace_1/session_a": {Kind: scanner.KindSession, WS: 1, SID: "a",
					Usage: scanner.Usage{Metered: 4096, Files: 1, Dirs: 1}},
			},
		},
		{
			name: "file of exactly one block",
			tree: tree{"workspace_1/session_a/f": strings.Repeat("b", 4096)},
			want: map[string]result{
				// 4096 → 4096 + 2048 + 2048
				"workspace_1/session_a": {Kind: scanner.KindSession, WS: 1, SID: "a",
					Usage: scanner.Usage{Size: 4096, Allocated: 4096, Metered: 8192, Files: 1, Dirs: 1}},
			},
		},
		{
			name: "file one byte over a block",
			tree: tree{"workspace_1/session_a/f": strings.Repeat("b", 4097)},
			want: map[string]result{
				// 4097 → 8192 + 2048 + 2048
				"workspace_1/session_a": {Kind: scanner.KindSession, WS: 1, SID: "a",
					Usage: scanner.Usage{Size: 4097, Allocated: 4097, Metered: 12288, Files: 1, Dirs: 1}},
			},
		},
		{
			name: "flat auth folder",
			tree: tree{
				"workspace_3/session_baileys/creds.json":       "0123456789",
				"workspace_3/session_baileys/pre-key-1.json":   "abc",
				"workspace_3/session_baileys/pre-key-2.json":   "abc",
				"workspace_3/session_baileys/session-123.json": "abc",
			},
			want: map[string]result{
				// size 10+3+3+3 = 19; metered 4×(4096+2048) + 2048 = 26624
				"workspace_3/session_baileys": {Kind: scanner.KindSession, WS: 3, SID: "baileys",
					Usage: scanner.Usage{Size: 19, Allocated: 19, Metered: 26624, Files: 4, Dirs: 1}},
			},
		},
		{
			name: "nested chromium profile",
			tree: tree{
				"workspace_2/session_wa/creds.json":                      "{}",
				"workspace_2/session_wa/Default/Preferences":             strings.Repeat("p", 100),
				"workspace_2/session_wa/Default/IndexedDB/000003.log":    strings.Repeat("l", 5000),
				"workspace_2/session_wa/Default/Cache/Cache_Data/data_0": strings.Repeat("c", 4096),
			},
			want: map[string]result{
				// size 2+100+5000+4096 = 9198
				// data 4096+4096+8192+4096 = 20480, files 4×2048 = 8192,
				// dirs (session, Default, IndexedDB, Cache, Cache_Data) 5×2048 = 10240
				"workspace_2/session_wa": {Kind: scanner.KindSession, WS: 2, SID: "wa",
					Usage: scanner.Usage{Size: 9198, Allocated: 9198, Metered: 38912, Files: 4, Dirs: 5}},
			},
		},
		{
			name: "several workspaces and sessions",
			tree: tree{
				"workspace_1/session_a/f":                        "1",
				"workspace_1/session_b/f":                        "22",
				"workspace_1/session_b/g":                        "333",
				"workspace_0/session_zero/":                      "",
				"workspace_18446744073709551615/session_max/big": strings.Repeat("m", 10000),
			},
			want: map[string]result{
				"workspace_1/session_a": {Kind: scanner.KindSession, WS: 1, SID: "a",
					Usage: scanner.Usage{Size: 1, Allocated: 1, Metered: 8192, Files: 1, Dirs: 1}},
				// 2×(4096+2048) + 2048
				"workspace_1/session_b": {Kind: scanner.KindSession, WS: 1, SID: "b",
					Usage: scanner.Usage{Size: 5, Allocated: 5, Metered: 14336, Files: 2, Dirs: 1}},
				"workspace_0/session_zero": {Kind: scanner.KindSession, WS: 0, SID: "zero",
					Usage: scanner.Usage{Metered: 2048, Dirs: 1}},
				// 10000 → 12288 + 2048 + 2048
				"workspace_18446744073709551615/session_max": {Kind: scanner.KindSession, WS: 18446744073709551615, SID: "max",
					Usage: scanner.Usage{Size: 10000, Allocated: 10000, Metered: 16384, Files: 1, Dirs: 1}},
			},
		},
		{
			name: "odd names",
			tree: tree{
				"workspace_5/session_with space/my file.txt": "hello",
				"workspace_5/session_ünïcødé/日本語/データ":        "ab",
				"workspace_5/session_line\nbreak/a\nb":       "xyz",
				"workspace_5/session_-dash/.hidden":          "",
			},
			want: map[string]result{
				"workspace_5/session_with space": {Kind: scanner.KindSession, WS: 5, SID: "with space",
					Usage: scanner.Usage{Size: 5, Allocated: 5, Metered: 8192, Files: 1, Dirs: 1}},
				// 4096+2048 file + 2 dirs
				"workspace_5/session_ünïcødé": {Kind: scanner.KindSession, WS: 5, SID: "ünïcødé",
					Usage: scanner.Usage{Size: 2, Allocated: 2, Metered: 10240, Files: 1, Dirs: 2}},
				"workspace_5/session_line\nbreak": {Kind: scanner.KindSession, WS: 5, SID: "line\nbreak",
					Usage: scanner.Usage{Size: 3, Allocated: 3, Metered: 8192, Files: 1, Dirs: 1}},
				"workspace_5/session_-dash": {Kind: scanner.KindSession, WS: 5, SID: "-dash",
					Usage: scanner.Usage{Metered: 4096, Files: 1, Dirs: 1}},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fsys := memTree(t, tc.tree)
			diff(t, summarize(walk(t, fsys, memRoot, scanner.Config{})), tc.want)
		})
	}
}

func TestWalkLayout(t *testing.T) {
	fsys := memTree(t, tree{
		"lost+found/x": "lost",
		".snapshot/hourly.0/workspace_1/session_a/f": "x",
		"workspace_abc/session_a/f":                  "x",
		"workspace_07/session_a/f":                   "x",
		"workspace_/session_a/f":                     "x",
		"workspace_-1/session_a/f":                   "x",
		"Workspace_1/":                               "",
		"stray.txt":                                  "hello",
		"workspace_8":                                "a file named like a workspace",
		"workspace_7/tmp/session_a/f":                "x",
		"workspace_7/notes.txt":                      "n",
		"workspace_7/session_/f":                     "x",
		"workspace_7/Session_b/f":                    "x",
		"workspace_7/session_file":                   "a file named like a session",
		"workspace_7/session_ok/f":                   "12345",
	})
	unrec := func(ws uint64, sid string) result {
		return result{Kind: scanner.KindUnrecognized, WS: ws, SID: sid}
	}
	want := map[string]result{
		"lost+found":               unrec(0, ""),
		".snapshot":                unrec(0, ""),
		"workspace_abc":            unrec(0, ""),
		"workspace_07":             unrec(0, ""),
		"workspace_":               unrec(0, ""),
		"workspace_-1":             unrec(0, ""),
		"Workspace_1":              unrec(0, ""),
		"stray.txt":                unrec(0, ""),
		"workspace_8":              unrec(8, ""),
		"workspace_7/tmp":          unrec(7, ""),
		"workspace_7/notes.txt":    unrec(7, ""),
		"workspace_7/session_":     unrec(7, ""),
		"workspace_7/Session_b":    unrec(7, ""),
		"workspace_7/session_file": unrec(7, "file"),
		"workspace_7/session_ok": {Kind: scanner.KindSession, WS: 7, SID: "ok",
			Usage: scanner.Usage{Size: 5, Allocated: 5, Metered: 8192, Files: 1, Dirs: 1}},
	}
	diff(t, summarize(walk(t, fsys, memRoot, scanner.Config{})), want)
}

func TestWalkWorkspacesFilter(t *testing.T) {
	tr := tree{
		"workspace_1/session_a/f": "1",
		"workspace_2/session_b/f": "22",
		"workspace_3/session_c/f": "333",
		"workspace_4":             "a file",
		"stray":                   "x",
	}
	sessA := result{Kind: scanner.KindSession, WS: 1, SID: "a",
		Usage: scanner.Usage{Size: 1, Allocated: 1, Metered: 8192, Files: 1, Dirs: 1}}
	sessB := result{Kind: scanner.KindSession, WS: 2, SID: "b",
		Usage: scanner.Usage{Size: 2, Allocated: 2, Metered: 8192, Files: 1, Dirs: 1}}
	sessC := result{Kind: scanner.KindSession, WS: 3, SID: "c",
		Usage: scanner.Usage{Size: 3, Allocated: 3, Metered: 8192, Files: 1, Dirs: 1}}
	ws4 := result{Kind: scanner.KindUnrecognized, WS: 4}
	stray := result{Kind: scanner.KindUnrecognized}
	tests := []struct {
		name  string
		scope scanner.Scope
		want  map[string]result
	}{
		{"zero scope walks everything", scanner.Scope{}, map[string]result{
			"workspace_1/session_a": sessA, "workspace_2/session_b": sessB, "workspace_3/session_c": sessC,
			"workspace_4": ws4, "stray": stray,
		}},
		{"one workspace", scanner.OnlyWorkspaces(2), map[string]result{"workspace_2/session_b": sessB}},
		{"missing workspace is no error", scanner.OnlyWorkspaces(99, 3), map[string]result{"workspace_3/session_c": sessC}},
		{"workspace that is a file", scanner.OnlyWorkspaces(4), map[string]result{"workspace_4": ws4}},
		{"duplicates walk once", scanner.OnlyWorkspaces(2, 1, 2, 2), map[string]result{
			"workspace_1/session_a": sessA, "workspace_2/session_b": sessB,
		}},
		{"empty list walks nothing", scanner.OnlyWorkspaces(), map[string]result{}},
		// Entries of the root outside the layout belong to shard 0 only.
		{"shard 0 of 2", scanner.AllWorkspaces().InShard(scanner.Shard{Index: 0, Count: 2}), map[string]result{
			"workspace_2/session_b": sessB, "workspace_4": ws4, "stray": stray,
		}},
		{"shard 1 of 2", scanner.AllWorkspaces().InShard(scanner.Shard{Index: 1, Count: 2}), map[string]result{
			"workspace_1/session_a": sessA, "workspace_3/session_c": sessC,
		}},
		{"list in a shard", scanner.OnlyWorkspaces(1, 2, 3).InShard(scanner.Shard{Index: 1, Count: 2}), map[string]result{
			"workspace_1/session_a": sessA, "workspace_3/session_c": sessC,
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fsys := memTree(t, tr)
			diff(t, summarize(walk(t, fsys, memRoot, scanner.Config{Scope: tc.scope})), tc.want)
		})
	}
}

func TestWalkNewest(t *testing.T) {
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	tr := tree{
		"workspace_1/session_a/f":         "x",
		"workspace_1/session_a/d1/d2/g":   "y",
		"workspace_1/session_a/d1/empty/": "",
	}
	tests := []struct {
		name  string
		touch string // relative to the root; "" touches nothing
		want  time.Time
	}{
		{"all the same", "", base},
		{"session directory itself", "workspace_1/session_a", base.Add(time.Hour)},
		{"top-level file", "workspace_1/session_a/f", base.Add(time.Hour)},
		{"deep file", "workspace_1/session_a/d1/d2/g", base.Add(time.Hour)},
		{"empty subdirectory", "workspace_1/session_a/d1/empty", base.Add(time.Hour)},
		{"workspace does not count", "workspace_1", base},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fsys := memTree(t, tr)
			setTimes(t, fsys, memRoot, base)
			if tc.touch != "" {
				p := filepath.Join(memRoot, tc.touch)
				if err := fsys.Chtimes(p, base.Add(time.Hour), base.Add(time.Hour)); err != nil {
					t.Fatal(err)
				}
			}
			e := walk(t, fsys, memRoot, scanner.Config{})["workspace_1/session_a"]
			if !e.Newest.Equal(tc.want) {
				t.Errorf("Newest = %v, want %v", e.Newest, tc.want)
			}
		})
	}
}

func TestWalkRoot(t *testing.T) {
	fsys := memTree(t, tree{"file": "x", "dir/": ""})
	tests := []struct {
		name string
		root string
		want error
	}{
		{"missing root", "/nowhere", fs.ErrNotExist},
		{"root is a file", memRoot + "/file", scanner.ErrRootNotDir},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			called := false
			err := scanner.Walk(context.Background(), fsys, tc.root, scanner.Config{}, func(scanner.Entry) error {
				called = true
				return nil
			})
			if !errors.Is(err, tc.want) {
				t.Errorf("Walk = %v, want %v", err, tc.want)
			}
			if called {
				t.Error("fn was called")
			}
		})
	}
}

// TestWalkErrors injects failures where a real share produces them (EACCES,
// EIO, a directory removed between listing and reading) and checks that each
// stays with the entry it belongs to.
func TestWalkErrors(t *testing.T) {
	tr := tree{
		"workspace_1/session_a/f":       "x",
		"workspace_1/session_a/sub/g":   "yy",
		"workspace_1/session_b/f":       "zzz",
		"workspace_2/session_c/f":       "4444",
		"workspace_2/session_c/sub/h":   "55555",
		"workspace_2/session_c/sub/i/j": "666666",
	}
	sessA := result{Kind: scanner.KindSession, WS: 1, SID: "a",
		// f, sub/g; dirs session and sub: 2×(4096+2048) + 2×2048
		Usage: scanner.Usage{Size: 3, Allocated: 3, Metered: 16384, Files: 2, Dirs: 2}}
	sessB := result{Kind: scanner.KindSession, WS: 1, SID: "b",
		Usage: scanner.Usage{Size: 3, Allocated: 3, Metered: 8192, Files: 1, Dirs: 1}}
	sessC := result{Kind: scanner.KindSession, WS: 2, SID: "c",
		// 3 files, 3 dirs: 3×(4096+2048) + 3×2048
		Usage: scanner.Usage{Size: 15, Allocated: 15, Metered: 24576, Files: 3, Dirs: 3}}
	abs := func(rel string) string { return filepath.Join(memRoot, rel) }
	failed := func(r result) result { r.Usage, r.Err = scanner.Usage{}, true; return r }

	tests := []struct {
		name    string
		open    map[string]func() error
		want    map[string]result
		wantErr error // what the failed entry's Err wraps
	}{
		{
			name:    "permission denied on a subdirectory",
			open:    map[string]func() error{abs("workspace_1/session_a/sub"): failWith(abs("workspace_1/session_a/sub"), syscall.EACCES)},
			want:    map[string]result{"workspace_1/session_a": failed(sessA), "workspace_1/session_b": sessB, "workspace_2/session_c": sessC},
			wantErr: fs.ErrPermission,
		},
		{
			name:    "permission denied on a deep subdirectory",
			open:    map[string]func() error{abs("workspace_2/session_c/sub/i"): failWith(abs("workspace_2/session_c/sub/i"), syscall.EACCES)},
			want:    map[string]result{"workspace_1/session_a": sessA, "workspace_1/session_b": sessB, "workspace_2/session_c": failed(sessC)},
			wantErr: fs.ErrPermission,
		},
		{
			name:    "permission denied on the session directory",
			open:    map[string]func() error{abs("workspace_1/session_b"): failWith(abs("workspace_1/session_b"), syscall.EACCES)},
			want:    map[string]result{"workspace_1/session_a": sessA, "workspace_1/session_b": failed(sessB), "workspace_2/session_c": sessC},
			wantErr: fs.ErrPermission,
		},
		{
			name:    "I/O error on a subdirectory",
			open:    map[string]func() error{abs("workspace_1/session_a/sub"): failWith(abs("workspace_1/session_a/sub"), syscall.EIO)},
			want:    map[string]result{"workspace_1/session_a": failed(sessA), "workspace_1/session_b": sessB, "workspace_2/session_c": sessC},
			wantErr: syscall.EIO,
		},
		{
			name: "workspace cannot be listed",
			open: map[string]func() error{abs("workspace_2"): failWith(abs("workspace_2"), syscall.EACCES)},
			want: map[string]result{"workspace_1/session_a": sessA, "workspace_1/session_b": sessB,
				"workspace_2": {Kind: scanner.KindWorkspaceError, WS: 2, Err: true}},
			wantErr: fs.ErrPermission,
		},
		{
			name: "subdirectory removed while walking",
			open: map[string]func() error{abs("workspace_2/session_c/sub"): failWith(abs("workspace_2/session_c/sub"), syscall.ENOENT)},
			want: map[string]result{"workspace_1/session_a": sessA, "workspace_1/session_b": sessB,
				// sub was listed (a directory, 2048) but nothing in it is left:
				// f + dirs session and sub: 4096+2048 + 2×2048
				"workspace_2/session_c": {Kind: scanner.KindSession, WS: 2, SID: "c",
					Usage: scanner.Usage{Size: 4, Allocated: 4, Metered: 10240, Files: 1, Dirs: 2}}},
		},
		{
			name: "session removed while walking",
			open: map[string]func() error{abs("workspace_1/session_a"): failWith(abs("workspace_1/session_a"), syscall.ENOENT)},
			want: map[string]result{"workspace_1/session_b": sessB, "workspace_2/session_c": sessC},
		},
		{
			name: "workspace removed while walking",
			open: map[string]func() error{abs("workspace_1"): failWith(abs("workspace_1"), syscall.ENOENT)},
			want: map[string]result{"workspace_2/session_c": sessC},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fsys := &faultFs{Fs: memTree(t, tr), open: tc.open}
			entries := walk(t, fsys, memRoot, scanner.Config{})
			diff(t, summarize(entries), tc.want)
			for p, e := range entries {
				if e.Err != nil && !errors.Is(e.Err, tc.wantErr) {
					t.Errorf("%q: Err = %v, want one wrapping %v", p, e.Err, tc.wantErr)
				}
			}
		})
	}
}

func TestWalkRootCannotBeListed(t *testing.T) {
	fsys := &faultFs{
		Fs:   memTree(t, tree{"workspace_1/session_a/f": "x"}),
		open: map[string]func() error{memRoot: failWith(memRoot, syscall.EACCES)},
	}
	_, err := walkErr(t, fsys, memRoot, scanner.Config{})
	if !errors.Is(err, fs.ErrPermission) {
		t.Errorf("Walk = %v, want an error wrapping %v", err, fs.ErrPermission)
	}
}

func TestWalkWorkspacesFilterLstatError(t *testing.T) {
	fsys := &faultFs{
		Fs: memTree(t, tree{"workspace_1/session_a/f": "x", "workspace_2/session_b/f": "y"}),
		lstat: map[string]error{
			filepath.Join(memRoot, "workspace_1"): &fs.PathError{Op: "lstat", Path: "workspace_1", Err: syscall.EIO},
		},
	}
	entries := walk(t, fsys, memRoot, scanner.Config{Scope: scanner.OnlyWorkspaces(1, 2)})
	want := map[string]result{
		"workspace_1": {Kind: scanner.KindWorkspaceError, WS: 1, Err: true},
		"workspace_2/session_b": {Kind: scanner.KindSession, WS: 2, SID: "b",
			Usage: scanner.Usage{Size: 1, Allocated: 1, Metered: 8192, Files: 1, Dirs: 1}},
	}
	diff(t, summarize(entries), want)
	if err := entries["workspace_1"].Err; !errors.Is(err, syscall.EIO) {
		t.Errorf("workspace_1: Err = %v, want one wrapping EIO", err)
	}
}

func TestWalkDeepTree(t *testing.T) {
	const depth = 200
	rel := "workspace_1/session_deep/" + strings.Repeat("d/", depth) + "leaf"
	fsys := memTree(t, tree{rel: "z"})
	want := map[string]result{
		// 200 subdirectories + the session = 201 dirs; one 1-byte file.
		// metered: 201×2048 + 4096 + 2048 = 417792
		"workspace_1/session_deep": {Kind: scanner.KindSession, WS: 1, SID: "deep",
			Usage: scanner.Usage{Size: 1, Allocated: 1, Metered: 417792, Files: 1, Dirs: 201}},
	}
	for _, workers := range []int{1, 2, 64} {
		diff(t, summarize(walk(t, fsys, memRoot, scanner.Config{Workers: workers})), want)
	}
}

// TestWalkSessionIDInPath checks that an entry's session id is the end of
// its path, not a string of its own: an audit holds an entry for each of a
// million sessions.
func TestWalkSessionIDInPath(t *testing.T) {
	tr := tree{"workspace_7/session_ok/f": "x", "workspace_7/session_file": "a file named like a session"}
	for name, fsys := range map[string]struct {
		fs   afero.Fs
		root string
	}{"afero": {memTree(t, tr), memRoot}, "native": {afero.NewOsFs(), osTree(t, tr)}} {
		t.Run(name, func(t *testing.T) {
			entries := walk(t, fsys.fs, fsys.root, scanner.Config{})
			if len(entries) != 2 {
				t.Fatalf("walk found %d entries, want 2", len(entries))
			}
			for _, e := range entries {
				end := unsafe.Add(unsafe.Pointer(unsafe.StringData(e.Path)), len(e.Path)-len(e.SessionID))
				if !strings.HasSuffix(e.Path, "/session_"+e.SessionID) || unsafe.Pointer(unsafe.StringData(e.SessionID)) != end {
					t.Errorf("%s: session id %q is not the end of its path", e.Path, e.SessionID)
				}
			}
		})
	}
}

// Issue 18, an operator's trial: lost+found and .snapshot under the root
// made every nightly run report unrecognized. Config.Ignore names entries
// of the root that are neither sized nor reported, by Walk and List alike;
// the same names deeper down, and everything else, still are.
func TestWalkIgnore(t *testing.T) {
	tr := tree{
		"lost+found/x":                     "lost",
		".snapshot/hourly.0/f":             "x",
		"workspace_7/lost+found/f":         "x",
		"workspace_7/session_ok/f":         "12345",
		"workspace_abc/session_a/f":        "x",
		"workspace_7/session_ok/.snapshot": "y",
	}
	cfg := scanner.Config{Ignore: []string{"lost+found", ".snapshot"}}
	want := map[string]result{
		"workspace_abc":          {Kind: scanner.KindUnrecognized},
		"workspace_7/lost+found": {Kind: scanner.KindUnrecognized, WS: 7},
		"workspace_7/session_ok": {Kind: scanner.KindSession, WS: 7, SID: "ok",
			Usage: scanner.Usage{Size: 6, Allocated: 6, Metered: 14336, Files: 2, Dirs: 1}},
	}
	fsys := memTree(t, tr)
	diff(t, summarize(walk(t, fsys, memRoot, cfg)), want)
	listed := collect(t, func(fn func(scanner.Entry) error) error {
		return scanner.List(context.Background(), fsys, memRoot, cfg, fn)
	})
	for _, name := range []string{"lost+found", ".snapshot"} {
		if _, ok := listed[name]; ok {
			t.Errorf("List reported the ignored %s", name)
		}
	}
	if _, ok := listed["workspace_abc"]; !ok {
		t.Error("List left out workspace_abc, which is not ignored")
	}
}
