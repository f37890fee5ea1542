package scanner_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spf13/afero"
	"golang.org/x/sys/unix"

	"sessaudit/scanner"
)

// These tests use a real filesystem: symbolic links, hard links, block
// counts, permissions and mounts do not exist on afero's MemMapFs.
//
// Size, Metered, Files and Dirs are worked out by hand. Allocated depends on
// the filesystem under t.TempDir (ext4, tmpfs, overlay…), so the expected
// value is the sum of st_blocks × 512 of the files the test names, read with
// lstat by the test itself.

// allocated returns the sum of st_blocks × 512 of the named files.
func allocated(t *testing.T, paths ...string) int64 {
	t.Helper()
	var n int64
	for _, p := range paths {
		var st syscall.Stat_t
		if err := syscall.Lstat(p, &st); err != nil {
			t.Fatal(err)
		}
		n += st.Blocks * 512
	}
	return n
}

func symlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}

func hardlink(t *testing.T, existing, link string) {
	t.Helper()
	if err := os.Link(existing, link); err != nil {
		t.Fatal(err)
	}
}

func TestOsSymlinks(t *testing.T) { forEachOS(t, testOsSymlinks) }

func testOsSymlinks(t *testing.T, impl osImpl) {
	root := osTree(t, tree{
		"workspace_1/session_a/f":     "0123456789",
		"workspace_1/session_a/sub/g": "1234567",
		"lost+found/":                 "",
	})
	outside := filepath.Join(filepath.Dir(root), "outside")
	writeTree(t, afero.NewOsFs(), outside, tree{
		"secret":                  strings.Repeat("s", 100000),
		"session_x/big":           strings.Repeat("b", 200000),
		"session_x/sub/more":      strings.Repeat("m", 300000),
		"workspace_9/session_y/f": "y",
	})
	sess := filepath.Join(root, "workspace_1", "session_a")
	// Seven links inside the session, none of which may be followed.
	symlink(t, "f", filepath.Join(sess, "link-file"))
	symlink(t, outside, filepath.Join(sess, "link-outside"))
	symlink(t, "/", filepath.Join(sess, "link-root"))
	symlink(t, "loop", filepath.Join(sess, "loop"))
	symlink(t, "loop-b", filepath.Join(sess, "loop-a"))
	symlink(t, "loop-a", filepath.Join(sess, "loop-b"))
	symlink(t, "..", filepath.Join(sess, "sub", "link-up"))
	// Sessions and workspaces that are themselves links.
	symlink(t, "session_a", filepath.Join(root, "workspace_1", "session_link"))
	symlink(t, filepath.Join(outside, "session_x"), filepath.Join(root, "workspace_1", "session_out"))
	symlink(t, "/", filepath.Join(root, "workspace_1", "session_slash"))
	symlink(t, "nowhere", filepath.Join(root, "workspace_1", "session_dangling"))
	symlink(t, outside, filepath.Join(root, "workspace_2"))
	symlink(t, "workspace_1", filepath.Join(root, "workspace_3"))
	symlink(t, "/", filepath.Join(root, "workspace_4"))
	symlink(t, filepath.Join(outside, "workspace_9"), filepath.Join(root, "workspace_9"))

	sessA := result{Kind: scanner.KindSession, WS: 1, SID: "a", Usage: scanner.Usage{
		Size:      17,
		Allocated: allocated(t, filepath.Join(sess, "f"), filepath.Join(sess, "sub", "g")),
		// 2 files × (4096 + 2048) + 2 dirs × 2048 + 7 links × 2048
		Metered: 30720,
		Files:   2,
		Dirs:    2,
	}}
	unrec := func(ws uint64, sid string) result {
		return result{Kind: scanner.KindUnrecognized, WS: ws, SID: sid}
	}
	want := map[string]result{
		"workspace_1/session_a":        sessA,
		"workspace_1/session_link":     unrec(1, "link"),
		"workspace_1/session_out":      unrec(1, "out"),
		"workspace_1/session_slash":    unrec(1, "slash"),
		"workspace_1/session_dangling": unrec(1, "dangling"),
		"workspace_2":                  unrec(2, ""),
		"workspace_3":                  unrec(3, ""),
		"workspace_4":                  unrec(4, ""),
		"workspace_9":                  unrec(9, ""),
		"lost+found":                   unrec(0, ""),
	}

	t.Run("walk", func(t *testing.T) {
		for _, workers := range []int{1, 64} {
			t.Run(fmt.Sprint("workers ", workers), func(t *testing.T) {
				fsys, cfg := impl.fs(t, faults{}, scanner.Config{Workers: workers})
				diff(t, summarize(walk(t, fsys, root, cfg)), want)
			})
		}
	})
	t.Run("walk with the root given as a link", func(t *testing.T) {
		alias := filepath.Join(t.TempDir(), "alias")
		symlink(t, root, alias)
		fsys, cfg := impl.fs(t, faults{}, scanner.Config{})
		diff(t, summarize(walk(t, fsys, alias, cfg)), want)
	})
	t.Run("walk limited to linked workspaces", func(t *testing.T) {
		fsys, cfg := impl.fs(t, faults{}, scanner.Config{Scope: scanner.OnlyWorkspaces(2, 3, 4, 9)})
		got := summarize(walk(t, fsys, root, cfg))
		diff(t, got, map[string]result{
			"workspace_2": unrec(2, ""), "workspace_3": unrec(3, ""),
			"workspace_4": unrec(4, ""), "workspace_9": unrec(9, ""),
		})
	})

	measures := []struct {
		name string
		rel  string
		want result
	}{
		{"real session", "workspace_1/session_a", sessA},
		{"session linked to a sibling", "workspace_1/session_link", unrec(1, "link")},
		{"session linked outside", "workspace_1/session_out", unrec(1, "out")},
		{"session linked to /", "workspace_1/session_slash", unrec(1, "slash")},
		{"dangling session link", "workspace_1/session_dangling", unrec(1, "dangling")},
		// The workspace is a link to a directory outside the root that holds
		// a real session_y: measuring it would leave the root.
		{"session under a linked workspace", "workspace_9/session_y", unrec(9, "y")},
		{"session under a workspace linked inside", "workspace_3/session_a", unrec(3, "a")},
	}
	for _, tc := range measures {
		t.Run("measure "+tc.name, func(t *testing.T) {
			fsys, cfg := impl.fs(t, faults{}, scanner.Config{})
			e, err := scanner.Measure(context.Background(), fsys, root, tc.rel, cfg)
			if err != nil {
				t.Fatalf("Measure: %v", err)
			}
			if e.Path != tc.rel {
				t.Errorf("Path = %q, want %q", e.Path, tc.rel)
			}
			if e.Kind == scanner.KindUnrecognized && e.Reason == "" {
				t.Error("unrecognized entry without a reason")
			}
			got := summarize(map[string]scanner.Entry{tc.rel: e})
			diff(t, got, map[string]result{tc.rel: tc.want})
		})
	}
}

func TestOsHardLinks(t *testing.T) { forEachOS(t, testOsHardLinks) }

func testOsHardLinks(t *testing.T, impl osImpl) {
	root := osTree(t, tree{
		"workspace_1/session_a/f":    strings.Repeat("h", 5000),
		"workspace_1/session_a/sub/": "",
		"workspace_1/session_b/own":  "x",
		"workspace_2/session_c/g":    strings.Repeat("g", 3000),
	})
	p := func(rel string) string { return filepath.Join(root, filepath.FromSlash(rel)) }
	hardlink(t, p("workspace_1/session_a/f"), p("workspace_1/session_a/f2"))
	hardlink(t, p("workspace_1/session_a/f"), p("workspace_1/session_a/sub/f3"))
	hardlink(t, p("workspace_1/session_a/f"), p("workspace_1/session_b/f4"))
	// The other name of g is outside the root: g still counts once.
	hardlink(t, p("workspace_2/session_c/g"), filepath.Join(filepath.Dir(root), "g-elsewhere"))

	f := allocated(t, p("workspace_1/session_a/f"))
	want := map[string]result{
		// one inode of 5000 bytes under three names: 8192 + 2048, dirs 2 × 2048
		"workspace_1/session_a": {Kind: scanner.KindSession, WS: 1, SID: "a",
			Usage: scanner.Usage{Size: 5000, Allocated: f, Metered: 14336, Files: 1, Dirs: 2}},
		// the shared inode counts in this session too: (8192+2048) + (4096+2048) + 2048
		"workspace_1/session_b": {Kind: scanner.KindSession, WS: 1, SID: "b",
			Usage: scanner.Usage{Size: 5001, Allocated: f + allocated(t, p("workspace_1/session_b/own")), Metered: 18432, Files: 2, Dirs: 1}},
		"workspace_2/session_c": {Kind: scanner.KindSession, WS: 2, SID: "c",
			Usage: scanner.Usage{Size: 3000, Allocated: allocated(t, p("workspace_2/session_c/g")), Metered: 8192, Files: 1, Dirs: 1}},
	}
	for _, workers := range []int{1, 2, 64} {
		t.Run(fmt.Sprint("workers ", workers), func(t *testing.T) {
			fsys, cfg := impl.fs(t, faults{}, scanner.Config{Workers: workers})
			diff(t, summarize(walk(t, fsys, root, cfg)), want)
		})
	}
	t.Run("measure", func(t *testing.T) {
		fsys, cfg := impl.fs(t, faults{}, scanner.Config{})
		e, err := scanner.Measure(context.Background(), fsys, root, "workspace_1/session_b", cfg)
		if err != nil {
			t.Fatal(err)
		}
		if e.Usage != want["workspace_1/session_b"].Usage {
			t.Errorf("Usage = %+v, want %+v", e.Usage, want["workspace_1/session_b"].Usage)
		}
	})
}

func TestOsAllocated(t *testing.T) { forEachOS(t, testOsAllocated) }

func testOsAllocated(t *testing.T, impl osImpl) {
	root := osTree(t, tree{"workspace_1/session_a/dense": strings.Repeat("d", 10000)})
	sess := filepath.Join(root, "workspace_1", "session_a")
	sparse := filepath.Join(sess, "sparse")
	f, err := os.Create(sparse)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(1 << 20); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	sparseBlocks := allocated(t, sparse)
	if sparseBlocks >= 1<<20 {
		t.Fatalf("the filesystem under %s allocated %d bytes for a 1 MiB hole; cannot test sparse files here", root, sparseBlocks)
	}
	fsys, cfg := impl.fs(t, faults{}, scanner.Config{})
	e := walk(t, fsys, root, cfg)["workspace_1/session_a"]
	want := scanner.Usage{
		Size:      1<<20 + 10000,
		Allocated: sparseBlocks + allocated(t, filepath.Join(sess, "dense")),
		// sparse: 1048576 + 2048; dense: 12288 + 2048; dir 2048
		Metered: 1067008,
		Files:   2,
		Dirs:    1,
	}
	if e.Usage != want {
		t.Errorf("Usage = %+v, want %+v", e.Usage, want)
	}
	if e.Usage.Allocated >= e.Usage.Size {
		t.Errorf("Allocated %d not below Size %d for a session holding a 1 MiB hole", e.Usage.Allocated, e.Usage.Size)
	}
}

func TestOsDeepAndWide(t *testing.T) {
	const depth, wide, sessions, subdirs, perSubdir = 200, 3000, 300, 50, 20

	deepRel := "workspace_1/session_deep/" + strings.Repeat("d/", depth) + "leaf"
	tr := tree{deepRel: "z"}
	var wideFiles, fanFiles []string
	for i := range wide {
		rel := fmt.Sprintf("workspace_1/session_wide/f%05d", i)
		tr[rel] = "w"
		wideFiles = append(wideFiles, rel)
	}
	for i := range sessions {
		tr[fmt.Sprintf("workspace_2/session_%d/f", i)] = "ab"
	}
	for i := range subdirs {
		for j := range perSubdir {
			rel := fmt.Sprintf("workspace_3/session_fan/d%02d/f%02d", i, j)
			tr[rel] = "abc"
			fanFiles = append(fanFiles, rel)
		}
	}
	root := osTree(t, tr)
	abs := func(rels []string) []string {
		var out []string
		for _, rel := range rels {
			out = append(out, filepath.Join(root, filepath.FromSlash(rel)))
		}
		return out
	}
	want := map[string]result{
		// 201 dirs × 2048 + 4096 + 2048
		"workspace_1/session_deep": {Kind: scanner.KindSession, WS: 1, SID: "deep", Usage: scanner.Usage{
			Size: 1, Allocated: allocated(t, abs([]string{deepRel})...), Metered: 417792, Files: 1, Dirs: 201}},
		// 3000 × (4096 + 2048) + 2048
		"workspace_1/session_wide": {Kind: scanner.KindSession, WS: 1, SID: "wide", Usage: scanner.Usage{
			Size: 3000, Allocated: allocated(t, abs(wideFiles)...), Metered: 18434048, Files: 3000, Dirs: 1}},
		// 1000 files × (4096 + 2048) + 51 dirs × 2048
		"workspace_3/session_fan": {Kind: scanner.KindSession, WS: 3, SID: "fan", Usage: scanner.Usage{
			Size: 3000, Allocated: allocated(t, abs(fanFiles)...), Metered: 6248448, Files: 1000, Dirs: 51}},
	}
	for i := range sessions {
		rel := fmt.Sprintf("workspace_2/session_%d", i)
		want[rel] = result{Kind: scanner.KindSession, WS: 2, SID: fmt.Sprint(i), Usage: scanner.Usage{
			Size: 2, Allocated: allocated(t, abs([]string{rel + "/f"})...), Metered: 8192, Files: 1, Dirs: 1}}
	}
	// One tree for every implementation: writing it is most of the test.
	forEachOS(t, func(t *testing.T, impl osImpl) {
		for _, workers := range []int{1, 3, 64} {
			t.Run(fmt.Sprint("workers ", workers), func(t *testing.T) {
				fsys, cfg := impl.fs(t, faults{}, scanner.Config{Workers: workers})
				diff(t, summarize(walk(t, fsys, root, cfg)), want)
			})
		}
	})
}

func TestOsOddNames(t *testing.T) { forEachOS(t, testOsOddNames) }

func testOsOddNames(t *testing.T, impl osImpl) {
	tr := tree{
		"workspace_5/session_with space/my file.txt": "hello",
		"workspace_5/session_ünïcødé/日本語/データ":        "ab",
		"workspace_5/session_line\nbreak/a\nb":       "xyz",
		"workspace_5/session_tab\there/-":            "",
		"workspace_5/session_back\\slash/x":          "1",
	}
	root := osTree(t, tr)
	file := func(rel string) int64 { return allocated(t, filepath.Join(root, rel)) }
	want := map[string]result{
		"workspace_5/session_with space": {Kind: scanner.KindSession, WS: 5, SID: "with space",
			Usage: scanner.Usage{Size: 5, Allocated: file("workspace_5/session_with space/my file.txt"), Metered: 8192, Files: 1, Dirs: 1}},
		"workspace_5/session_ünïcødé": {Kind: scanner.KindSession, WS: 5, SID: "ünïcødé",
			Usage: scanner.Usage{Size: 2, Allocated: file("workspace_5/session_ünïcødé/日本語/データ"), Metered: 10240, Files: 1, Dirs: 2}},
		"workspace_5/session_line\nbreak": {Kind: scanner.KindSession, WS: 5, SID: "line\nbreak",
			Usage: scanner.Usage{Size: 3, Allocated: file("workspace_5/session_line\nbreak/a\nb"), Metered: 8192, Files: 1, Dirs: 1}},
		"workspace_5/session_tab\there": {Kind: scanner.KindSession, WS: 5, SID: "tab\there",
			Usage: scanner.Usage{Metered: 4096, Files: 1, Dirs: 1}},
		"workspace_5/session_back\\slash": {Kind: scanner.KindSession, WS: 5, SID: "back\\slash",
			Usage: scanner.Usage{Size: 1, Allocated: file("workspace_5/session_back\\slash/x"), Metered: 8192, Files: 1, Dirs: 1}},
	}
	fsys, cfg := impl.fs(t, faults{}, scanner.Config{})
	diff(t, summarize(walk(t, fsys, root, cfg)), want)
	for rel, w := range want {
		e, err := scanner.Measure(context.Background(), fsys, root, rel, cfg)
		if err != nil {
			t.Errorf("Measure(%q): %v", rel, err)
			continue
		}
		if e.Usage != w.Usage || e.SessionID != w.SID {
			t.Errorf("Measure(%q) = %q %+v, want %q %+v", rel, e.SessionID, e.Usage, w.SID, w.Usage)
		}
	}
}

func TestOsNewest(t *testing.T) { forEachOS(t, testOsNewest) }

func testOsNewest(t *testing.T, impl osImpl) {
	root := osTree(t, tree{
		"workspace_1/session_a/f":       "x",
		"workspace_1/session_a/d1/d2/g": "y",
	})
	// Every entry dated long ago: a tree copied in with cp -a. Its change
	// times, which cannot be set back, are of now, and Newest is the latest
	// of them.
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	before := time.Now()
	setTimes(t, afero.NewOsFs(), root, base)
	fsys, cfg := impl.fs(t, faults{}, scanner.Config{})
	e := walk(t, fsys, root, cfg)["workspace_1/session_a"]
	if after := time.Now(); e.Newest.Before(before) || e.Newest.After(after) {
		t.Errorf("with every modification time of %v: Newest = %v, want the latest change time, between %v and %v", base, e.Newest, before, after)
	}
	// A modification time later than every change time is the newest.
	later := time.Now().Add(90 * time.Minute)
	deep := filepath.Join(root, "workspace_1", "session_a", "d1", "d2", "g")
	if err := os.Chtimes(deep, later, later); err != nil {
		t.Fatal(err)
	}
	// A link's own time is newer still, but its target is outside the
	// session and must not count; the link itself is set to base below.
	symlink(t, "/", filepath.Join(root, "workspace_1", "session_a", "link"))
	ts := []unix.Timespec{unix.NsecToTimespec(base.UnixNano()), unix.NsecToTimespec(base.UnixNano())}
	if err := unix.UtimesNanoAt(unix.AT_FDCWD, filepath.Join(root, "workspace_1", "session_a", "link"), ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(filepath.Join(root, "workspace_1", "session_a"), base, base); err != nil {
		t.Fatal(err)
	}
	e = walk(t, fsys, root, cfg)["workspace_1/session_a"]
	if !e.Newest.Equal(later) {
		t.Errorf("Newest = %v, want %v", e.Newest, later)
	}
}

// TestOsPermissionDenied checks that a subdirectory or a workspace that
// cannot be read fails only its own entry. Permission bits are not enforced
// for root, which is how the tests run in CI, so each case runs twice: with
// chmod 000 (real EACCES from the kernel, non-root only) and with EACCES
// injected by faultFs over the same real tree (always).
func TestOsPermissionDenied(t *testing.T) { forEachOS(t, testOsPermissionDenied) }

func testOsPermissionDenied(t *testing.T, impl osImpl) {
	tr := tree{
		"workspace_1/session_a/f":         "x",
		"workspace_1/session_a/private/g": "secret",
		"workspace_1/session_b/f":         "yy",
		"workspace_2/session_c/f":         "zzz",
	}
	tests := []struct {
		name string
		deny string // relative to the root
		want func(root string) map[string]result
	}{
		{
			name: "subdirectory",
			deny: "workspace_1/session_a/private",
			want: func(root string) map[string]result {
				return map[string]result{
					"workspace_1/session_a": {Kind: scanner.KindSession, WS: 1, SID: "a", Err: true},
					"workspace_1/session_b": {Kind: scanner.KindSession, WS: 1, SID: "b", Usage: scanner.Usage{
						Size: 2, Allocated: allocated(t, filepath.Join(root, "workspace_1/session_b/f")), Metered: 8192, Files: 1, Dirs: 1}},
					"workspace_2/session_c": {Kind: scanner.KindSession, WS: 2, SID: "c", Usage: scanner.Usage{
						Size: 3, Allocated: allocated(t, filepath.Join(root, "workspace_2/session_c/f")), Metered: 8192, Files: 1, Dirs: 1}},
				}
			},
		},
		{
			name: "workspace",
			deny: "workspace_1",
			want: func(root string) map[string]result {
				return map[string]result{
					"workspace_1": {Kind: scanner.KindWorkspaceError, WS: 1, Err: true},
					"workspace_2/session_c": {Kind: scanner.KindSession, WS: 2, SID: "c", Usage: scanner.Usage{
						Size: 3, Allocated: allocated(t, filepath.Join(root, "workspace_2/session_c/f")), Metered: 8192, Files: 1, Dirs: 1}},
				}
			},
		},
	}
	check := func(t *testing.T, fsys afero.Fs, cfg scanner.Config, root, deny string, want map[string]result) {
		t.Helper()
		entries := walk(t, fsys, root, cfg)
		diff(t, summarize(entries), want)
		for p, e := range entries {
			if e.Err != nil && !errors.Is(e.Err, fs.ErrPermission) {
				t.Errorf("%q: Err = %v, want one wrapping fs.ErrPermission", p, e.Err)
			}
		}
		if strings.HasPrefix(deny, "workspace_1/session_a/") {
			e, err := scanner.Measure(context.Background(), fsys, root, "workspace_1/session_a", cfg)
			if err != nil {
				t.Fatalf("Measure: %v", err)
			}
			if !errors.Is(e.Err, fs.ErrPermission) || e.Usage != (scanner.Usage{}) {
				t.Errorf("Measure = Err %v, Usage %+v; want EACCES and zero usage", e.Err, e.Usage)
			}
		}
	}
	for _, tc := range tests {
		t.Run(tc.name+"/injected", func(t *testing.T) {
			root := osTree(t, tr)
			denied := filepath.Join(root, filepath.FromSlash(tc.deny))
			fsys, cfg := impl.fs(t, faults{open: map[string]func() error{
				denied: failWith(denied, syscall.EACCES),
			}}, scanner.Config{})
			check(t, fsys, cfg, root, tc.deny, tc.want(root))
		})
		t.Run(tc.name+"/chmod", func(t *testing.T) {
			if os.Geteuid() == 0 {
				t.Skip("root ignores permission bits; the injected subtest covers this case")
			}
			root := osTree(t, tr)
			denied := filepath.Join(root, filepath.FromSlash(tc.deny))
			want := tc.want(root)
			if err := os.Chmod(denied, 0); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.Chmod(denied, 0o755) })
			fsys, cfg := impl.fs(t, faults{}, scanner.Config{})
			check(t, fsys, cfg, root, tc.deny, want)
		})
	}
}

// TestOsRaces changes a real tree between the walker's listing of a
// directory and its opening of one of the subdirectories it listed.
func TestOsRaces(t *testing.T) { forEachOS(t, testOsRaces) }

func testOsRaces(t *testing.T, impl osImpl) {
	tr := tree{
		"workspace_1/session_a/f":     "x",
		"workspace_1/session_a/sub/g": "yy",
		"workspace_1/session_b/h":     "zzz",
	}
	// swap returns an open hook that replaces sub by what make creates.
	swap := func(t *testing.T, sub string, make func(string) error) func() error {
		return func() error {
			if err := os.Rename(sub, sub+".old"); err != nil {
				t.Error(err)
			}
			if err := make(sub); err != nil {
				t.Error(err)
			}
			return nil
		}
	}
	tests := []struct {
		name string
		make func(sub string) error // what replaces sub; nil removes it
		fifo bool                   // whether sub becomes or leads to a FIFO
	}{
		{name: "subdirectory removed"},
		{name: "subdirectory swapped for another", make: func(sub string) error { return os.Mkdir(sub, 0o755) }},
		{name: "subdirectory swapped for a link", make: func(sub string) error { return os.Symlink("/", sub) }},
		{name: "subdirectory swapped for a file", make: func(sub string) error { return os.WriteFile(sub, []byte("f"), 0o644) }},
		// Opening a FIFO for reading blocks until a writer comes: a walker
		// that opened it would hang.
		{name: "subdirectory swapped for a FIFO", fifo: true,
			make: func(sub string) error { return syscall.Mkfifo(sub, 0o644) }},
		{name: "subdirectory swapped for a link to a FIFO", fifo: true, make: func(sub string) error {
			if err := syscall.Mkfifo(sub+".fifo", 0o644); err != nil {
				return err
			}
			return os.Symlink(filepath.Base(sub)+".fifo", sub)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := osTree(t, tr)
			sub := filepath.Join(root, "workspace_1", "session_a", "sub")
			hook := func() error { return os.RemoveAll(sub) }
			if tc.make != nil {
				hook = swap(t, sub, tc.make)
			}
			fsys, cfg := impl.fs(t, faults{open: map[string]func() error{sub: hook}}, scanner.Config{})

			done := make(chan map[string]scanner.Entry, 1)
			go func() { done <- walk(t, fsys, root, cfg) }()
			var entries map[string]scanner.Entry
			select {
			case entries = <-done:
			case <-time.After(10 * time.Second):
				if tc.fifo {
					// Unblock the walker so that the test can end.
					fifo := sub
					if _, err := os.Readlink(sub); err == nil {
						fifo = sub + ".fifo"
					}
					if w, err := os.OpenFile(fifo, os.O_WRONLY, 0); err == nil {
						w.Close()
					}
				}
				<-done
				t.Fatal("Walk hung opening what replaced a listed directory")
			}

			e := entries["workspace_1/session_a"]
			if tc.make == nil {
				// What was listed counts, nothing under it is left:
				// f + dirs session and sub: 4096+2048 + 2×2048
				want := scanner.Usage{Size: 1, Allocated: allocated(t, filepath.Join(root, "workspace_1/session_a/f")), Metered: 10240, Files: 1, Dirs: 2}
				if e.Err != nil || e.Usage != want {
					t.Errorf("session_a = Err %v, Usage %+v; want no error, %+v", e.Err, e.Usage, want)
				}
				return
			}
			// The directory that was listed is not the one that would be
			// read: the size of the session is unknown.
			if e.Err == nil || e.Usage != (scanner.Usage{}) {
				t.Errorf("session_a = Err %v, Usage %+v; want an error and zero usage", e.Err, e.Usage)
			}
			if b := entries["workspace_1/session_b"]; b.Err != nil {
				t.Errorf("session_b = Err %v, want none", b.Err)
			}
		})
	}
}

func TestOsQuarantine(t *testing.T) { forEachOS(t, testOsQuarantine) }

// testOsQuarantine: reclaim's quarantine directory at the root is neither
// sized nor reported; the same name anywhere else, or on something other
// than a directory, is unrecognized as before.
func testOsQuarantine(t *testing.T, impl osImpl) {
	sessA := result{Kind: scanner.KindSession, WS: 1, SID: "a", Usage: scanner.Usage{Size: 1, Metered: 8192, Files: 1, Dirs: 1}}
	unrec := func(ws uint64) result { return result{Kind: scanner.KindUnrecognized, WS: ws} }
	noAlloc := func(m map[string]result) map[string]result {
		for p, r := range m {
			r.Usage.Allocated = 0
			m[p] = r
		}
		return m
	}
	q := scanner.QuarantineName
	t.Run("directory at the root", func(t *testing.T) {
		root := osTree(t, tree{
			"workspace_1/session_a/f":                         "1",
			q + "/20240101T000000Z/workspace_1/session_b/big": strings.Repeat("b", 1000),
			q + "/20240101T000000Z/manifest.json":             "{}",
			"workspace_1/" + q + "/f":                         "x",
		})
		fsys, cfg := impl.fs(t, faults{}, scanner.Config{})
		diff(t, noAlloc(summarize(walk(t, fsys, root, cfg))), map[string]result{
			"workspace_1/session_a": sessA,
			"workspace_1/" + q:      unrec(1),
		})
	})
	t.Run("a file of that name", func(t *testing.T) {
		root := osTree(t, tree{"workspace_1/session_a/f": "1", q: "not a directory"})
		fsys, cfg := impl.fs(t, faults{}, scanner.Config{})
		diff(t, noAlloc(summarize(walk(t, fsys, root, cfg))), map[string]result{
			"workspace_1/session_a": sessA, q: unrec(0),
		})
	})
	t.Run("a link of that name", func(t *testing.T) {
		root := osTree(t, tree{"workspace_1/session_a/f": "1", "elsewhere/": ""})
		symlink(t, "elsewhere", filepath.Join(root, q))
		fsys, cfg := impl.fs(t, faults{}, scanner.Config{})
		diff(t, noAlloc(summarize(walk(t, fsys, root, cfg))), map[string]result{
			"workspace_1/session_a": sessA, q: unrec(0), "elsewhere": unrec(0),
		})
	})
}

// TestOsVanishedWhileRead removes a subdirectory of a session after the
// walker opened it and before it listed it, as a live session does: what
// was listed counts, and the session is measured, not unreadable.
func TestOsVanishedWhileRead(t *testing.T) { forEachOS(t, testOsVanishedWhileRead) }

func testOsVanishedWhileRead(t *testing.T, impl osImpl) {
	root := osTree(t, tree{
		"workspace_1/session_a/f":            "x",
		"workspace_1/session_a/sub/g":        "yy",
		"workspace_1/session_a/sub/deeper/h": "zzz",
		"workspace_1/session_b/h":            "zzz",
	})
	settle(t)
	sub := filepath.Join(root, "workspace_1", "session_a", "sub")
	f := faults{list: map[string]func() error{sub: func() error { return os.RemoveAll(sub) }}}
	fsys, cfg := impl.fs(t, f, scanner.Config{})
	entries := walk(t, fsys, root, cfg)

	// f + the session and sub, listed before sub went: 4096+2048 + 2×2048.
	want := scanner.Usage{Size: 1, Allocated: allocated(t, filepath.Join(root, "workspace_1/session_a/f")), Metered: 10240, Files: 1, Dirs: 2}
	if e := entries["workspace_1/session_a"]; e.Err != nil || e.Usage != want || e.Changed == "" {
		t.Errorf("session_a = Err %v, Usage %+v, Changed %q; want no error, %+v, a change", e.Err, e.Usage, e.Changed, want)
	}
	if e := entries["workspace_1/session_b"]; e.Err != nil || e.Usage.Files != 1 || e.Changed != "" {
		t.Errorf("session_b = Err %v, Usage %+v; want no error, 1 file", e.Err, e.Usage)
	}
}
