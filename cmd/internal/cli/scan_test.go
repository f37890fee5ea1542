package cli_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spf13/afero"

	"sessaudit/cmd/internal/cli"
	"sessaudit/scanner"
	"sessaudit/scanner/faultfs"
)

// memShare writes tree (slash paths relative to root; a path ending in /
// is an empty directory) on a fresh MemMapFs.
func memShare(t *testing.T, root string, tree map[string]string) afero.Fs {
	t.Helper()
	fsys := afero.NewMemMapFs()
	writeShare(t, fsys, root, tree)
	return fsys
}

func writeShare(t *testing.T, fsys afero.Fs, root string, tree map[string]string) {
	t.Helper()
	if err := fsys.MkdirAll(root, 0o755); err != nil {
		t.Fatal(err)
	}
	for rel, data := range tree {
		p := filepath.Join(root, filepath.FromSlash(rel))
		if strings.HasSuffix(rel, "/") {
			if err := fsys.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := fsys.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := afero.WriteFile(fsys, p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// scanShare is a share with two measurable sessions, one session that
// cannot be read (open fails with EACCES), two unrecognized entries and a
// lost+found, which --ignore passes over by default.
var scanShare = map[string]string{
	"workspace_1/session_a/creds.json": "{}",
	"workspace_1/session_a/sub/x":      "hello",
	"workspace_2/session_b/f":          "abc",
	"workspace_2/session_locked/f":     "secret",
	"workspace_2/notes.txt":            "not a session",
	"lost+found/":                      "",
	"stray.d/":                         "",
}

func lockedShare(t *testing.T, root string) afero.Fs {
	t.Helper()
	return faultfs.New(memShare(t, root, scanShare),
		faultfs.Rule{Ops: faultfs.OpOpen, Path: "workspace_2/session_locked", Err: syscall.EACCES})
}

func TestScanText(t *testing.T) {
	root := "/share"
	res := run(t, lockedShare(t, root), "scan", "--root", root, "--log-level", "error")
	if res.code != cli.ExitFindings {
		t.Fatalf("exit %d, want 1\nstderr: %s", res.code, res.stderr)
	}
	// Sizes on MemMapFs: allocated equals size; metered is every file
	// rounded up to 4 KiB plus 2 KiB per file and per directory (session_a:
	// 2 files, 2 directories = 2*6144 + 2*2048).
	want := `                          PATH  FILES  SIZE  ALLOCATED   METERED
       "workspace_1/session_a"      2   7 B        7 B  16.0 KiB
       "workspace_2/session_b"      1   3 B        3 B   8.0 KiB
  "workspace_2/session_locked"      -     -          -         -
             total: 3 sessions      3  10 B       10 B  24.0 KiB
unrecognized "stray.d": not a workspace_<id> name
unrecognized "workspace_2/notes.txt": not a session_<id> name
unreadable session "workspace_2/session_locked": read dir workspace_2/session_locked: open /share/workspace_2/session_locked: permission denied
`
	if res.stdout != want {
		t.Errorf("stdout:\n%s\nwant:\n%s", res.stdout, want)
	}
}

func TestScanJSONLines(t *testing.T) {
	root := "/share"
	res := run(t, lockedShare(t, root), "scan", "--root", root, "--format", "json", "--log-level", "warn")
	if res.code != cli.ExitFindings {
		t.Fatalf("exit %d, want 1\nstderr: %s", res.code, res.stderr)
	}
	type record struct {
		Path           string `json:"path"`
		WorkspaceID    uint64 `json:"workspace_id"`
		Session        string `json:"session"`
		SizeBytes      *int64 `json:"size_bytes"`
		AllocatedBytes *int64 `json:"allocated_bytes"`
		MeteredBytes   *int64 `json:"metered_bytes"`
		Files          *int64 `json:"files"`
		Error          string `json:"error"`
		// The anatomy (docs/anatomy.md): present for every session sized.
		Kind             string                    `json:"kind"`
		RegenerableBytes *int64                    `json:"regenerable_bytes"`
		KeyFiles         map[string]map[string]int `json:"key_files"`
	}
	got := map[string]record{}
	for _, line := range strings.Split(strings.TrimSuffix(res.stdout, "\n"), "\n") {
		var r record
		dec := json.NewDecoder(strings.NewReader(line))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&r); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		got[r.Path] = r
	}
	if keys := slices.Sorted(func(yield func(string) bool) {
		for k := range got {
			if !yield(k) {
				return
			}
		}
	}); !slices.Equal(keys, []string{"workspace_1/session_a", "workspace_2/session_b", "workspace_2/session_locked"}) {
		t.Fatalf("one line per session, no line for an unrecognized entry; got %q", keys)
	}
	sizes := func(r record) []int64 {
		if r.SizeBytes == nil || r.AllocatedBytes == nil || r.MeteredBytes == nil || r.Files == nil {
			return nil
		}
		return []int64{*r.SizeBytes, *r.AllocatedBytes, *r.MeteredBytes, *r.Files}
	}
	for path, want := range map[string][]int64{
		"workspace_1/session_a": {7, 7, 16384, 2},
		"workspace_2/session_b": {3, 3, 8192, 1},
	} {
		r := got[path]
		if !slices.Equal(sizes(r), want) || r.Error != "" {
			t.Errorf("%s: sizes %v, error %q; want %v and no error", path, sizes(r), r.Error, want)
		}
	}
	if r := got["workspace_1/session_a"]; r.WorkspaceID != 1 || r.Session != "a" {
		t.Errorf("session_a: workspace %d, session %q", r.WorkspaceID, r.Session)
	}
	// A session that could not be read has an error and no sizes at all,
	// never zeros that read as "empty".
	locked := got["workspace_2/session_locked"]
	if !strings.Contains(locked.Error, "permission denied") || sizes(locked) != nil ||
		locked.SizeBytes != nil || locked.Files != nil {
		t.Errorf("session_locked: %+v; want an error and no sizes", locked)
	}
	// The unrecognized entries and the unreadable session are on stderr;
	// the ignored lost+found is not.
	for _, path := range []string{"stray.d", "workspace_2/notes.txt", "workspace_2/session_locked"} {
		if !strings.Contains(res.stderr, path) {
			t.Errorf("stderr does not name %s:\n%s", path, res.stderr)
		}
	}
	if strings.Contains(res.stderr, "lost+found") {
		t.Errorf("stderr names the ignored lost+found:\n%s", res.stderr)
	}
}

// TestScanExitStatus: 0 when every session was measured and nothing was
// unrecognized, 1 when an entry was unreadable or unrecognized, 2 when the
// scan could not run; 2 prints one line on stderr and nothing on stdout.
func TestScanExitStatus(t *testing.T) {
	clean := map[string]string{
		"workspace_1/session_a/creds.json": "{}",
		"workspace_2/session_b/":           "",
	}
	with := func(extra map[string]string) map[string]string {
		tree := map[string]string{}
		for k, v := range clean {
			tree[k] = v
		}
		for k, v := range extra {
			tree[k] = v
		}
		return tree
	}
	const root = "/share"
	tests := []struct {
		name   string
		fsys   func(t *testing.T) afero.Fs
		args   []string
		code   int
		stderr string // for exit 2, the one line
	}{
		{name: "clean", fsys: func(t *testing.T) afero.Fs { return memShare(t, root, clean) },
			code: cli.ExitClean},
		{name: "empty root", fsys: func(t *testing.T) afero.Fs { return memShare(t, root, nil) },
			code: cli.ExitClean},
		{name: "unrecognized entry", fsys: func(t *testing.T) afero.Fs {
			return memShare(t, root, with(map[string]string{"workspace_1/tmp/": ""}))
		}, code: cli.ExitFindings},
		{name: "unrecognized workspace name", fsys: func(t *testing.T) afero.Fs {
			return memShare(t, root, with(map[string]string{"workspace_abc/README": "x"}))
		}, code: cli.ExitFindings},
		{name: "unreadable session", fsys: func(t *testing.T) afero.Fs {
			return faultfs.New(memShare(t, root, clean),
				faultfs.Rule{Ops: faultfs.OpOpen, Path: "workspace_2/session_b", Err: syscall.EIO})
		}, code: cli.ExitFindings},
		{name: "unreadable workspace", fsys: func(t *testing.T) afero.Fs {
			return faultfs.New(memShare(t, root, clean),
				faultfs.Rule{Ops: faultfs.OpOpen, Match: func(p string) bool { return p == "/share/workspace_1" }, Err: syscall.EACCES})
		}, code: cli.ExitFindings},
		{name: "root missing", fsys: func(t *testing.T) afero.Fs { return afero.NewMemMapFs() },
			args: []string{"scan", "--root", root}, code: cli.ExitFailed, stderr: "sessaudit scan: root: open /share: file does not exist (--root must be the directory where the share is mounted on this host)"},
		{name: "root is a file", fsys: func(t *testing.T) afero.Fs {
			fsys := afero.NewMemMapFs()
			if err := afero.WriteFile(fsys, root, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			return fsys
		}, args: []string{"scan", "--root", root}, code: cli.ExitFailed, stderr: "sessaudit scan: scanner: root is not a directory: /share (--root must be the directory where the share is mounted on this host)"},
		{name: "no root", fsys: func(t *testing.T) afero.Fs { return memShare(t, root, clean) },
			args: []string{"scan"}, code: cli.ExitFailed,
			stderr: "sessaudit scan: --root is required; see 'sessaudit scan -h'"},
		{name: "negative workers", fsys: func(t *testing.T) afero.Fs { return memShare(t, root, clean) },
			args: []string{"scan", "--root", root, "--workers", "-1"}, code: cli.ExitFailed,
			stderr: "sessaudit scan: --workers -1 must not be negative (0 chooses for the filesystem); see 'sessaudit scan -h'"},
		{name: "zero io-timeout", fsys: func(t *testing.T) afero.Fs { return memShare(t, root, clean) },
			args: []string{"scan", "--root", root, "--io-timeout", "0s"}, code: cli.ExitFailed,
			stderr: "sessaudit scan: --io-timeout 0s must be positive; see 'sessaudit scan -h'"},
		{name: "negative io-timeout", fsys: func(t *testing.T) afero.Fs { return memShare(t, root, clean) },
			args: []string{"scan", "--root", root, "--io-timeout", "-5s"}, code: cli.ExitFailed,
			stderr: "sessaudit scan: --io-timeout -5s must be positive; see 'sessaudit scan -h'"},
		{name: "negative max-ops-per-second", fsys: func(t *testing.T) afero.Fs { return memShare(t, root, clean) },
			args: []string{"scan", "--root", root, "--max-ops-per-second", "-1"}, code: cli.ExitFailed,
			stderr: "sessaudit scan: --max-ops-per-second -1 must be a number of operations a second, 0 or more (0 means no limit); see 'sessaudit scan -h'"},
		{name: "NaN max-ops-per-second", fsys: func(t *testing.T) afero.Fs { return memShare(t, root, clean) },
			args: []string{"scan", "--root", root, "--max-ops-per-second", "NaN"}, code: cli.ExitFailed,
			stderr: "sessaudit scan: --max-ops-per-second NaN must be a number of operations a second, 0 or more (0 means no limit); see 'sessaudit scan -h'"},
		{name: "bad format", fsys: func(t *testing.T) afero.Fs { return memShare(t, root, clean) },
			args: []string{"scan", "--root", root, "--format", "csv"}, code: cli.ExitFailed,
			stderr: `sessaudit scan: --format "csv": want text or json; see 'sessaudit scan -h'`},
		{name: "bad shard", fsys: func(t *testing.T) afero.Fs { return memShare(t, root, clean) },
			args: []string{"scan", "--root", root, "--shard", "4/4"}, code: cli.ExitFailed,
			stderr: `sessaudit scan: --shard "4/4": want I/N with 0 <= I < N, such as 0/4; see 'sessaudit scan -h'`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			runs := [][]string{tc.args}
			if tc.args == nil {
				base := []string{"scan", "--root", root, "--log-level", "error", "--format"}
				runs = [][]string{append(slices.Clone(base), "text"), append(slices.Clone(base), "json")}
			}
			for _, args := range runs {
				res := run(t, tc.fsys(t), args...)
				if res.code != tc.code {
					t.Fatalf("%q: exit %d, want %d\nstdout: %s\nstderr: %s", args, res.code, tc.code, res.stdout, res.stderr)
				}
				if tc.code == cli.ExitFailed {
					if res.stderr != tc.stderr+"\n" || res.stdout != "" {
						t.Errorf("%q: stderr %q, stdout %q; want one line %q and no output", args, res.stderr, res.stdout, tc.stderr)
					}
					continue
				}
				if res.stderr != "" {
					t.Errorf("%q: stderr %q at --log-level error", args, res.stderr)
				}
			}
		})
	}
}

// TestScanRealDirectory scans a real directory, read by the native walker
// on Linux: exact apparent sizes, exit 0; and exit 2 for a root that is
// not there.
func TestScanRealDirectory(t *testing.T) {
	root := filepath.Join(t.TempDir(), "share")
	writeShare(t, afero.NewOsFs(), root, map[string]string{
		"workspace_7/session_x/creds.json":   "{\"me\":1}",
		"workspace_7/session_x/Default/blob": strings.Repeat("z", 5000),
	})
	// At warn, a clean scan logs nothing (at info it logs "scan finished").
	res := run(t, nil, "scan", "--root", root, "--format", "json", "--log-level", "warn")
	if res.code != cli.ExitClean || res.stderr != "" {
		t.Fatalf("exit %d, want 0\nstderr: %s", res.code, res.stderr)
	}
	var r struct {
		Path      string `json:"path"`
		SizeBytes int64  `json:"size_bytes"`
		Files     int64  `json:"files"`
	}
	if err := json.Unmarshal([]byte(res.stdout), &r); err != nil {
		t.Fatalf("%v: %s", err, res.stdout)
	}
	if r.Path != "workspace_7/session_x" || r.SizeBytes != 5008 || r.Files != 2 {
		t.Errorf("got %+v, want workspace_7/session_x, 5008 bytes, 2 files", r)
	}

	missing := filepath.Join(t.TempDir(), "not-mounted")
	res = run(t, nil, "scan", "--root", missing)
	if res.code != cli.ExitFailed || res.stdout != "" || strings.Count(res.stderr, "\n") != 1 ||
		!strings.Contains(res.stderr, missing) {
		t.Errorf("missing root: exit %d, stdout %q, stderr %q; want 2, one line naming it", res.code, res.stdout, res.stderr)
	}
	if _, err := os.Stat(missing); !os.IsNotExist(err) {
		t.Errorf("scan created the missing root: %v", err)
	}
}

// Issue 17: scan printed a live session's size as any other, though it was
// measured while the session changed (13 of 128 sizes of live Baileys
// sessions fell outside walks taken right before and after). A session
// whose directories had entries added moments before the scan is marked
// in both outputs, with how it changed; one that stood is not, and neither
// is a problem (exit 0).
func TestScanMarksASessionThatChanged(t *testing.T) {
	root := filepath.Join(t.TempDir(), "share")
	writeShare(t, afero.NewOsFs(), root, map[string]string{"workspace_1/session_still/creds.json": "{}"})
	time.Sleep(scanner.Quiet + 100*time.Millisecond)
	writeShare(t, afero.NewOsFs(), root, map[string]string{"workspace_1/session_busy/Default/new.log": "x"})

	res := run(t, nil, "scan", "--root", root, "--format", "json", "--log-level", "warn")
	if res.code != cli.ExitClean {
		t.Fatalf("exit %d, want 0\nstderr: %s", res.code, res.stderr)
	}
	changed := map[string]string{}
	for _, line := range strings.Split(strings.TrimSuffix(res.stdout, "\n"), "\n") {
		var r struct {
			Path    string `json:"path"`
			Changed string `json:"changed"`
		}
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("%v: %s", err, line)
		}
		changed[r.Path] = r.Changed
	}
	if why := changed["workspace_1/session_busy"]; !strings.Contains(why, "entries added or removed") {
		t.Errorf("session_busy: changed %q, want how it changed (entries added)", why)
	}
	if why, ok := changed["workspace_1/session_still"]; !ok || why != "" {
		t.Errorf("session_still: changed %q (listed %v), want listed and not changed", why, ok)
	}

	res = run(t, nil, "scan", "--root", root, "--log-level", "warn")
	if res.code != cli.ExitClean {
		t.Fatalf("text: exit %d, want 0\nstderr: %s", res.code, res.stderr)
	}
	if !strings.Contains(res.stdout, `changed while measured "workspace_1/session_busy": a directory in it had entries added or removed`) ||
		strings.Contains(res.stdout, `changed while measured "workspace_1/session_still"`) {
		t.Errorf("text output does not mark session_busy alone:\n%s", res.stdout)
	}
}

// Issue 18, an operator's trial: lost+found and .snapshot under the root
// made every nightly run report unrecognized. --ignore passes over the
// names it lists (default lost+found,.snapshot); --ignore ” reports them.
func TestScanIgnore(t *testing.T) {
	root := "/share"
	tree := map[string]string{"workspace_1/session_a/f": "x", "lost+found/": "", ".snapshot/hourly.0/f": "x", "scratch/": ""}
	for _, tc := range []struct {
		args     []string
		code     int
		reported []string
	}{
		{nil, cli.ExitFindings, []string{"scratch"}},
		{[]string{"--ignore", "lost+found,.snapshot,scratch"}, cli.ExitClean, nil},
		{[]string{"--ignore", ""}, cli.ExitFindings, []string{".snapshot", "lost+found", "scratch"}},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			res := run(t, memShare(t, root, tree), append([]string{"scan", "--root", root, "--log-level", "error"}, tc.args...)...)
			if res.code != tc.code {
				t.Errorf("exit %d, want %d\n%s%s", res.code, tc.code, res.stdout, res.stderr)
			}
			var reported []string
			for _, line := range strings.Split(res.stdout, "\n") {
				if name, ok := strings.CutPrefix(line, "unrecognized "); ok {
					reported = append(reported, strings.Trim(strings.SplitN(name, ":", 2)[0], `"`))
				}
			}
			slices.Sort(reported)
			if !slices.Equal(reported, tc.reported) {
				t.Errorf("unrecognized %q, want %q", reported, tc.reported)
			}
		})
	}
	res := run(t, memShare(t, root, tree), "scan", "--root", root, "--ignore", "workspace_1")
	if res.code != cli.ExitFailed || !strings.Contains(res.stderr, "a workspace is never ignored") {
		t.Errorf("--ignore workspace_1: exit %d, stderr %q", res.code, res.stderr)
	}
}
