package quarantine_test

import (
	"bufio"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"sessaudit/scanner"
	"sessaudit/scanner/quarantine"
)

// tree is a filesystem written as a literal: path → content; a path ending
// in "/" is an empty directory, content "->target" a symbolic link.
type tree map[string]string

func write(t *testing.T, root string, tr tree) {
	t.Helper()
	for rel, content := range tr {
		p := filepath.Join(root, filepath.FromSlash(rel))
		if strings.HasSuffix(rel, "/") {
			must(t, os.MkdirAll(p, 0o755))
			continue
		}
		must(t, os.MkdirAll(filepath.Dir(p), 0o755))
		if target, ok := strings.CutPrefix(content, "->"); ok {
			must(t, os.Symlink(target, p))
			continue
		}
		must(t, os.WriteFile(p, []byte(content), 0o640))
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// snapshot describes every entry under root: type, mode, owner, size,
// modification time, inode, link target and a hash of the content.
func snapshot(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		var st syscall.Stat_t
		if err := syscall.Lstat(p, &st); err != nil {
			return err
		}
		desc := fmt.Sprintf("mode %o uid %d gid %d ino %d nlink %d mtime %d.%d", st.Mode, st.Uid, st.Gid, st.Ino, st.Nlink, st.Mtim.Sec, st.Mtim.Nsec)
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			desc += " -> " + target
		case d.Type().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			desc += fmt.Sprintf(" size %d sha256 %x", len(b), sha256.Sum256(b))
		}
		if rel != "." && d.IsDir() {
			// A directory's own mtime changes when an entry is renamed
			// in or out of it: the workspace directories do, by design.
			if _, _, ok := scanner.ParseSessionPath(filepath.ToSlash(rel)); !ok && !strings.Contains(filepath.ToSlash(rel), "/session_") {
				desc = fmt.Sprintf("dir mode %o", st.Mode)
			}
		}
		if rel == "." {
			desc = "root"
		}
		out[filepath.ToSlash(rel)] = desc
		return nil
	})
	must(t, err)
	return out
}

func diffSnapshots(t *testing.T, got, want map[string]string) {
	t.Helper()
	for p, w := range want {
		if g, ok := got[p]; !ok {
			t.Errorf("%s: gone (was %s)", p, w)
		} else if g != w {
			t.Errorf("%s: %s\n  want %s", p, g, w)
		}
	}
	for p, g := range got {
		if _, ok := want[p]; !ok {
			t.Errorf("%s: new (%s)", p, g)
		}
	}
}

// share lays out a share and a quarantine beside it and returns both.
func share(t *testing.T, tr tree) (root, qdir string) {
	t.Helper()
	base := t.TempDir()
	root = filepath.Join(base, "share")
	qdir = filepath.Join(base, "quarantine")
	must(t, os.MkdirAll(root, 0o755))
	must(t, os.MkdirAll(qdir, 0o755))
	write(t, root, tr)
	return root, qdir
}

func open(t *testing.T, root, qdir string) *quarantine.Quarantine {
	t.Helper()
	q, err := quarantine.Open(root, qdir, quarantine.Config{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { q.Close() })
	return q
}

func begin(t *testing.T, q *quarantine.Quarantine, started time.Time) *quarantine.Run {
	t.Helper()
	run, err := q.Begin(quarantine.RunInfo{Started: started, Report: "/r.json", ReportFinishedAt: started.Add(-time.Minute)})
	if err != nil {
		t.Fatalf("Begin: %v", err)
	}
	t.Cleanup(func() { run.Close() })
	return run
}

func move(t *testing.T, q *quarantine.Quarantine, run *quarantine.Run, rel string) {
	t.Helper()
	id, err := q.Look(rel)
	if err != nil {
		t.Fatalf("Look %s: %v", rel, err)
	}
	if err := run.Move(rel, id, quarantine.Item{Kind: "orphan", SizeBytes: 1, Files: 1}); err != nil {
		t.Fatalf("Move %s: %v", rel, err)
	}
}

func readManifest(t *testing.T, path string) *quarantine.Manifest {
	t.Helper()
	f, err := os.Open(path)
	must(t, err)
	defer f.Close()
	m, err := quarantine.ParseManifest(bufio.NewReader(f))
	if err != nil {
		t.Fatalf("ParseManifest: %v", err)
	}
	return m
}

func states(m *quarantine.Manifest) map[string]string {
	out := map[string]string{}
	for _, e := range m.Entries {
		out[e.Path] = e.State
	}
	return out
}

func exists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

var sessionTree = tree{
	"workspace_1/session_a/creds.json":                      `{"a":1}`,
	"workspace_1/session_a/Default/IndexedDB/x.leveldb/LOG": strings.Repeat("log", 100),
	"workspace_1/session_a/SingletonLock":                   "->host-1234",
	"workspace_1/session_a/empty/":                          "",
	"workspace_1/session_b/pre-key-1.json":                  "k1",
	"workspace_2/session_c/creds.json":                      "c",
	"workspace_2/session_keep/creds.json":                   "keep",
	"workspace_2/session_\xff\xfe/creds.json":               "invalid utf-8 name",
}

func TestOpenPlaces(t *testing.T) {
	base := t.TempDir()
	root := filepath.Join(base, "share")
	write(t, base, tree{
		"share/workspace_1/session_a/f":               "x",
		"share/" + scanner.QuarantineName + "/":       "",
		"share/elsewhere/":                            "",
		"outside/":                                    "",
		"workspace_3/":                                "",
		"session_x/":                                  "",
		"link-to-session":                             "->share/workspace_1/session_a",
		"link-to-quarantine":                          "->share/" + scanner.QuarantineName,
		"share/workspace_1/" + scanner.QuarantineName: "->../" + scanner.QuarantineName,
	})
	tests := []struct {
		name string
		dir  string
		want error
	}{
		{"outside the root", filepath.Join(base, "outside"), nil},
		{"inside the root under its name", filepath.Join(root, scanner.QuarantineName), nil},
		{"a link to it", filepath.Join(base, "link-to-quarantine"), nil},
		{"the root", root, quarantine.ErrBadPlace},
		{"the root's parent", base, quarantine.ErrBadPlace},
		{"inside the root under another name", filepath.Join(root, "elsewhere"), quarantine.ErrBadPlace},
		{"a workspace", filepath.Join(root, "workspace_1"), quarantine.ErrBadPlace},
		{"a session", filepath.Join(root, "workspace_1", "session_a"), quarantine.ErrBadPlace},
		{"a link to a session", filepath.Join(base, "link-to-session"), quarantine.ErrBadPlace},
		{"named like a workspace", filepath.Join(base, "workspace_3"), quarantine.ErrBadPlace},
		{"named like a session", filepath.Join(base, "session_x"), quarantine.ErrBadPlace},
		{"missing", filepath.Join(base, "nowhere"), fs.ErrNotExist},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q, err := quarantine.Open(root, tc.dir, quarantine.Config{})
			if q != nil {
				q.Close()
			}
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Errorf("Open = %v, want %v", err, tc.want)
			}
		})
	}
}

// TestOpenOtherFilesystem: a quarantine on a tmpfs mounted beside the share
// is refused, since a rename there would fail or become a copy.
func TestOpenOtherFilesystem(t *testing.T) {
	root, _ := share(t, tree{"workspace_1/session_a/f": "x"})
	mnt := filepath.Join(t.TempDir(), "tmpfs")
	must(t, os.Mkdir(mnt, 0o755))
	if err := unix.Mount("tmpfs", mnt, "tmpfs", 0, "size=1m"); err != nil {
		t.Fatalf("mount tmpfs (the test needs root): %v", err)
	}
	t.Cleanup(func() { must(t, unix.Unmount(mnt, 0)) })
	q, err := quarantine.Open(root, mnt, quarantine.Config{})
	if q != nil {
		q.Close()
	}
	if !errors.Is(err, quarantine.ErrOtherFilesystem) {
		t.Fatalf("Open = %v, want ErrOtherFilesystem", err)
	}
}

// TestMoveAndRestore: moved directories sit in the run at their relative
// paths, the manifest lists exactly them, and Restore brings the share back
// exactly as it was: same inodes, contents, times, links.
func TestMoveAndRestore(t *testing.T) {
	root, qdir := share(t, sessionTree)
	// Times in the past, as an orphan's are.
	old := time.Now().Add(-48 * time.Hour)
	must(t, filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.Type()&fs.ModeSymlink != 0 {
			return err
		}
		return os.Chtimes(p, old, old)
	}))
	before := snapshot(t, root)
	q := open(t, root, qdir)
	run := begin(t, q, time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	moved := []string{"workspace_1/session_a", "workspace_2/session_c", "workspace_2/session_\xff\xfe"}
	for _, rel := range moved {
		move(t, q, run, rel)
	}
	must(t, run.Close())
	if run.Dir() != filepath.Join(q.Dir(), "20260102T030405Z") {
		t.Errorf("run directory %s", run.Dir())
	}
	for _, rel := range moved {
		if exists(filepath.Join(root, rel)) || !exists(filepath.Join(run.Dir(), rel)) {
			t.Errorf("%q was not moved", rel)
		}
	}
	m := readManifest(t, run.ManifestPath())
	want := map[string]string{}
	for _, rel := range moved {
		want[rel] = quarantine.EventMoved
	}
	if got := states(m); !reflect.DeepEqual(got, want) {
		t.Errorf("manifest states %q, want %q", got, want)
	}
	if m.Header.Root != q.Root() || m.Header.Run != "20260102T030405Z" {
		t.Errorf("manifest header %+v", m.Header)
	}

	res, err := quarantine.Restore(run.ManifestPath(), quarantine.RestoreConfig{})
	if err != nil || res.Done != 3 || res.Problems != 0 {
		t.Fatalf("Restore = %+v, %v; want 3 restored", res, err)
	}
	diffSnapshots(t, snapshot(t, root), before)
	if got := states(readManifest(t, run.ManifestPath())); got["workspace_1/session_a"] != quarantine.EventRestored {
		t.Errorf("after restore: %q", got)
	}
	// Again: nothing to do, nothing wrong.
	res, err = quarantine.Restore(run.ManifestPath(), quarantine.RestoreConfig{})
	if err != nil || res.Done != 0 || res.Problems != 0 {
		t.Errorf("second Restore = %+v, %v", res, err)
	}
}

// TestMoveRefusesWhatChanged: a session directory that is not the one
// looked at, a link in its place or in its workspace's place is never moved
// nor followed.
func TestMoveRefusesWhatChanged(t *testing.T) {
	tests := []struct {
		name   string
		change func(t *testing.T, root, outside string)
		want   error
	}{
		{"replaced by another directory", func(t *testing.T, root, _ string) {
			must(t, os.Rename(filepath.Join(root, "workspace_1/session_a"), filepath.Join(root, "workspace_1/old")))
			must(t, os.Mkdir(filepath.Join(root, "workspace_1/session_a"), 0o755))
		}, quarantine.ErrChanged},
		{"replaced by a link", func(t *testing.T, root, outside string) {
			must(t, os.RemoveAll(filepath.Join(root, "workspace_1/session_a")))
			must(t, os.Symlink(filepath.Join(outside, "workspace_1/session_a"), filepath.Join(root, "workspace_1/session_a")))
		}, quarantine.ErrNotDir},
		{"workspace replaced by a link", func(t *testing.T, root, outside string) {
			must(t, os.Rename(filepath.Join(root, "workspace_1"), filepath.Join(root, "old")))
			must(t, os.Symlink(filepath.Join(outside, "workspace_1"), filepath.Join(root, "workspace_1")))
		}, quarantine.ErrNotDir},
		{"gone", func(t *testing.T, root, _ string) {
			must(t, os.RemoveAll(filepath.Join(root, "workspace_1/session_a")))
		}, fs.ErrNotExist},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root, qdir := share(t, tree{"workspace_1/session_a/f": "x"})
			outside := filepath.Join(filepath.Dir(root), "outside")
			write(t, outside, tree{"workspace_1/session_a/secret": "not the share's"})
			q := open(t, root, qdir)
			id, err := q.Look("workspace_1/session_a")
			must(t, err)
			tc.change(t, root, outside)
			outsideBefore := snapshot(t, outside)
			run := begin(t, q, time.Now())
			err = run.Move("workspace_1/session_a", id, quarantine.Item{Kind: "orphan"})
			if !errors.Is(err, tc.want) {
				t.Fatalf("Move = %v, want %v", err, tc.want)
			}
			diffSnapshots(t, snapshot(t, outside), outsideBefore)
			if exists(filepath.Join(run.Dir(), "workspace_1/session_a")) {
				t.Error("something was moved")
			}
			if got := states(readManifest(t, run.ManifestPath())); len(got) != 0 {
				t.Errorf("manifest lists %q", got)
			}
		})
	}
}

// TestRestoreNeverOverwrites: a directory recreated at a moved directory's
// place stays, the moved one stays in quarantine, the rest comes back.
func TestRestoreNeverOverwrites(t *testing.T) {
	for _, recreated := range []tree{
		{"workspace_1/session_a/": ""},                   // empty: rename(2) would replace it
		{"workspace_1/session_a/new.json": "new"},        // not empty
		{"workspace_1/session_a": "a file in its place"}, // not a directory
	} {
		t.Run(fmt.Sprint(recreated), func(t *testing.T) {
			root, qdir := share(t, sessionTree)
			q := open(t, root, qdir)
			run := begin(t, q, time.Now())
			move(t, q, run, "workspace_1/session_a")
			move(t, q, run, "workspace_1/session_b")
			must(t, run.Close()) // a run in progress is not restored
			write(t, root, recreated)
			before := snapshot(t, filepath.Join(root, "workspace_1", "session_a"))
			var steps []quarantine.Step
			res, err := quarantine.Restore(run.ManifestPath(), quarantine.RestoreConfig{OnStep: func(s quarantine.Step) { steps = append(steps, s) }})
			if err != nil {
				t.Fatal(err)
			}
			if res.Done != 1 || res.Problems != 1 {
				t.Fatalf("Restore = %+v, want 1 restored and 1 problem; steps %+v", res, steps)
			}
			if !errors.Is(steps[0].Err, quarantine.ErrExists) {
				t.Errorf("step %+v, want ErrExists", steps[0])
			}
			diffSnapshots(t, snapshot(t, filepath.Join(root, "workspace_1", "session_a")), before)
			if !exists(filepath.Join(run.Dir(), "workspace_1/session_a/creds.json")) {
				t.Error("the moved directory left quarantine")
			}
			if !exists(filepath.Join(root, "workspace_1/session_b/pre-key-1.json")) {
				t.Error("session_b was not restored")
			}
		})
	}
}

// TestManifestAfterCrash: a manifest cut off after "moving" (a crash around
// the rename) or in the middle of a line is read, and Restore and Purge
// tell from the directory's identity whether it moved.
func TestManifestAfterCrash(t *testing.T) {
	root, qdir := share(t, sessionTree)
	q := open(t, root, qdir)
	run := begin(t, q, time.Now())
	move(t, q, run, "workspace_1/session_a")
	must(t, run.Close())
	// What a crash leaves: a "moving" line for session_b, whose rename
	// happened, one for session_c, whose rename did not, and half a line.
	idB, err := q.Look("workspace_1/session_b")
	must(t, err)
	idC, err := q.Look("workspace_2/session_c")
	must(t, err)
	must(t, os.Rename(filepath.Join(root, "workspace_1/session_b"), filepath.Join(run.Dir(), "workspace_1/session_b")))
	f, err := os.OpenFile(run.ManifestPath(), os.O_WRONLY|os.O_APPEND, 0)
	must(t, err)
	fmt.Fprintf(f, `{"event":"moving","time":"2026-01-01T00:00:00Z","path":"workspace_1/session_b","identity":{"dev":%d,"ino":%d}}`+"\n", idB.Dev, idB.Ino)
	fmt.Fprintf(f, `{"event":"moving","time":"2026-01-01T00:00:00Z","path":"workspace_2/session_c","identity":{"dev":%d,"ino":%d}}`+"\n", idC.Dev, idC.Ino)
	fmt.Fprint(f, `{"event":"moved","time":"2026-01-01T00:00:00Z","pa`)
	must(t, f.Close())

	m := readManifest(t, run.ManifestPath())
	if !m.Torn {
		t.Error("torn last line not noticed")
	}
	want := map[string]string{"workspace_1/session_a": quarantine.EventMoved, "workspace_1/session_b": quarantine.EventMoving, "workspace_2/session_c": quarantine.EventMoving}
	if got := states(m); !reflect.DeepEqual(got, want) {
		t.Errorf("states %q, want %q", got, want)
	}
	res, err := quarantine.Restore(run.ManifestPath(), quarantine.RestoreConfig{})
	if err != nil || res.Done != 2 || res.Problems != 0 {
		t.Fatalf("Restore = %+v, %v; want a and b restored", res, err)
	}
	for _, rel := range []string{"workspace_1/session_a", "workspace_1/session_b", "workspace_2/session_c"} {
		if !exists(filepath.Join(root, rel)) {
			t.Errorf("%s not back", rel)
		}
	}
	want = map[string]string{"workspace_1/session_a": quarantine.EventRestored, "workspace_1/session_b": quarantine.EventRestored, "workspace_2/session_c": quarantine.EventNotMoved}
	if got := states(readManifest(t, run.ManifestPath())); !reflect.DeepEqual(got, want) {
		t.Errorf("after restore: %q, want %q", got, want)
	}
}

// TestPurge: only runs older than the age, only the directories their
// manifests list with the identity they recorded; nothing without Yes;
// unlisted things and non-runs stay.
func TestPurge(t *testing.T) {
	root, qdir := share(t, sessionTree)
	q := open(t, root, qdir)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := t0
	now := func() time.Time { return clock }

	oldRun, err := q.Begin(quarantine.RunInfo{Started: t0, Now: now})
	must(t, err)
	for _, rel := range []string{"workspace_1/session_a", "workspace_1/session_b"} {
		id, err := q.Look(rel)
		must(t, err)
		must(t, oldRun.Move(rel, id, quarantine.Item{Kind: "orphan", SizeBytes: 10}))
	}
	must(t, oldRun.Close())
	// A run whose directory was swapped for another after the move, and
	// that holds something the manifest does not list.
	swapRun, err := q.Begin(quarantine.RunInfo{Started: t0.Add(time.Second), Now: now})
	must(t, err)
	id, err := q.Look("workspace_2/session_c")
	must(t, err)
	must(t, swapRun.Move("workspace_2/session_c", id, quarantine.Item{Kind: "orphan"}))
	must(t, swapRun.Close())
	swapped := filepath.Join(swapRun.Dir(), "workspace_2/session_c")
	must(t, os.Rename(swapped, swapped+".moved"))
	write(t, swapRun.Dir(), tree{"workspace_2/session_c/other": "someone else's", "notes.txt": "unlisted"})

	clock = t0.Add(20 * 24 * time.Hour)
	youngRun, err := q.Begin(quarantine.RunInfo{Started: clock, Now: now})
	must(t, err)
	id, err = q.Look("workspace_2/session_keep")
	must(t, err)
	must(t, youngRun.Move("workspace_2/session_keep", id, quarantine.Item{Kind: "orphan"}))
	must(t, youngRun.Close())
	write(t, qdir, tree{"not-a-run/x": "x", "stray.txt": "x", "link": "->" + root})

	purgeNow := t0.Add(31 * 24 * time.Hour)
	before := snapshot(t, qdir)
	res, err := quarantine.Purge(qdir, quarantine.PurgeConfig{OlderThan: 30 * 24 * time.Hour, Now: purgeNow})
	if err != nil || res.Done != 2 || res.Bytes != 20 {
		t.Fatalf("Purge without Yes = %+v, %v; want 2 directories, 20 bytes", res, err)
	}
	diffSnapshots(t, snapshot(t, qdir), before)

	var steps []string
	res, err = quarantine.Purge(qdir, quarantine.PurgeConfig{OlderThan: 30 * 24 * time.Hour, Now: purgeNow, Yes: true,
		OnStep: func(s quarantine.Step) {
			steps = append(steps, fmt.Sprintf("%s %s %s %v", s.Action, s.Run, s.Path, s.Err != nil))
		}})
	if err != nil || res.Done != 2 || res.RunsRemoved != 1 {
		t.Fatalf("Purge = %+v, %v; steps:\n%s", res, err, strings.Join(steps, "\n"))
	}
	if exists(oldRun.Dir()) {
		t.Error("the old run is still there")
	}
	for _, p := range []string{swapped + ".moved/creds.json", swapped + "/other", filepath.Join(swapRun.Dir(), "notes.txt"),
		filepath.Join(swapRun.Dir(), quarantine.ManifestName), filepath.Join(youngRun.Dir(), "workspace_2/session_keep/creds.json"),
		filepath.Join(qdir, "not-a-run/x"), filepath.Join(qdir, "stray.txt"), filepath.Join(qdir, "link"),
		filepath.Join(root, "workspace_2/session_\xff\xfe/creds.json")} {
		if !exists(p) {
			t.Errorf("%s was deleted", p)
		}
	}
	if res.Problems == 0 {
		t.Error("the swapped directory was not reported")
	}
}

// recreate removes the directory at p and creates it again until it gets
// the inode number it had (ext4 hands a freed one out again at once); it
// skips the test on a filesystem that never does.
func recreate(t *testing.T, p string) {
	t.Helper()
	var st unix.Stat_t
	must(t, unix.Lstat(p, &st))
	for range 100 {
		must(t, os.RemoveAll(p))
		must(t, os.Mkdir(p, 0o755))
		var now unix.Stat_t
		must(t, unix.Lstat(p, &now))
		if now.Ino == st.Ino {
			must(t, os.WriteFile(filepath.Join(p, "new.json"), []byte("another session"), 0o600))
			return
		}
	}
	t.Skipf("the filesystem of %s does not hand out a freed inode number again: the case cannot be made here", p)
}

// TestMoveRefusesARecreatedDirectory: a session directory removed and
// created again at its path, with the inode number the old one had, is
// another directory: its birth time tells, and it is not moved.
func TestMoveRefusesARecreatedDirectory(t *testing.T) {
	root, qdir := share(t, tree{"workspace_1/session_a/f": "x"})
	q := open(t, root, qdir)
	id, err := q.Look("workspace_1/session_a")
	must(t, err)
	recreate(t, filepath.Join(root, "workspace_1/session_a"))
	run := begin(t, q, time.Now())
	err = run.Move("workspace_1/session_a", id, quarantine.Item{Kind: "orphan"})
	if !errors.Is(err, quarantine.ErrChanged) {
		t.Fatalf("Move = %v, want ErrChanged", err)
	}
	if !exists(filepath.Join(root, "workspace_1/session_a/new.json")) {
		t.Error("the new directory was moved")
	}
}

// TestPurgeRemovesARunKilledBeforeItsFirstMove: a reclaim killed after it
// created a workspace directory in its run and before its first moving
// line leaves an empty workspace directory the manifest does not list;
// purge removes the run all the same, and still keeps anything else
// unlisted.
func TestPurgeRemovesARunKilledBeforeItsFirstMove(t *testing.T) {
	for _, tc := range []struct {
		name     string
		extra    tree
		removed  bool
		problems int
	}{
		{"an empty workspace directory", tree{"workspace_1/": ""}, true, 0},
		{"an empty workspace directory beside a move", tree{"workspace_3/": ""}, true, 0},
		{"a workspace directory holding something", tree{"workspace_3/x": "x"}, false, 1},
		{"an empty directory of another name", tree{"other/": ""}, false, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root, qdir := share(t, sessionTree)
			q := open(t, root, qdir)
			t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			run, err := q.Begin(quarantine.RunInfo{Started: t0, Now: func() time.Time { return t0 }})
			must(t, err)
			if strings.Contains(tc.name, "beside a move") {
				move(t, q, run, "workspace_2/session_c")
			}
			must(t, run.Close())
			write(t, run.Dir(), tc.extra)
			res, err := quarantine.Purge(qdir, quarantine.PurgeConfig{OlderThan: time.Hour, Now: t0.Add(2 * time.Hour), Yes: true})
			if err != nil {
				t.Fatal(err)
			}
			if exists(run.Dir()) == tc.removed || res.Problems != tc.problems {
				t.Errorf("Purge = %+v; run still there: %t", res, exists(run.Dir()))
			}
		})
	}
}

// bindMount mounts src at dst with mount(2) MS_BIND; when the test ends,
// every mount under within is undone (the code under test may have moved
// dst). It skips the test where mount(2) is not permitted (not root, or a
// container without CAP_SYS_ADMIN).
func bindMount(t *testing.T, src, dst, within string) {
	t.Helper()
	if err := unix.Mount(src, dst, "", unix.MS_BIND, ""); err != nil {
		if errors.Is(err, unix.EPERM) {
			t.Skipf("mount(2) is not permitted here (%v): a bind mount needs root", err)
		}
		t.Fatalf("bind mount %s at %s: %v", src, dst, err)
	}
	t.Cleanup(func() {
		b, err := os.ReadFile("/proc/self/mounts")
		must(t, err)
		for _, line := range strings.Split(string(b), "\n") {
			if f := strings.Fields(line); len(f) > 1 && strings.HasPrefix(f[1], within+"/") {
				must(t, unix.Unmount(f[1], unix.MNT_DETACH))
			}
		}
	})
}

// TestPurgeNeverDeletesThroughABindMount: a bind mount of the same
// filesystem placed inside a quarantined directory has the same st_dev;
// purge tells it by its mount id and deletes nothing through it.
func TestPurgeNeverDeletesThroughABindMount(t *testing.T) {
	for _, at := range []string{"workspace_1/session_a/empty", "workspace_1/session_a", "workspace_1"} {
		t.Run(at, func(t *testing.T) {
			root, qdir := share(t, sessionTree)
			q := open(t, root, qdir)
			t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			run, err := q.Begin(quarantine.RunInfo{Started: t0, Now: func() time.Time { return t0 }})
			must(t, err)
			move(t, q, run, "workspace_1/session_a")
			must(t, run.Close())
			live := filepath.Join(root, "workspace_2/session_keep")
			before := snapshot(t, live)
			bindMount(t, live, filepath.Join(run.Dir(), at), qdir)
			res, err := quarantine.Purge(qdir, quarantine.PurgeConfig{OlderThan: time.Hour, Now: t0.Add(2 * time.Hour), Yes: true})
			if err != nil {
				t.Fatal(err)
			}
			diffSnapshots(t, snapshot(t, live), before)
			if res.Problems == 0 || res.RunsRemoved != 0 {
				t.Errorf("Purge = %+v, want the mount reported and the run kept", res)
			}
		})
	}
}

// TestOpenRefusesABindMount: a quarantine reached through a bind mount of
// the root's filesystem has its device but is another mount, which
// rename(2) does not cross: it is refused as another filesystem is.
func TestOpenRefusesABindMount(t *testing.T) {
	root, qdir := share(t, tree{"workspace_1/session_a/f": "x"})
	mnt := filepath.Join(t.TempDir(), "bound")
	must(t, os.Mkdir(mnt, 0o755))
	bindMount(t, qdir, mnt, filepath.Dir(mnt))
	q, err := quarantine.Open(root, mnt, quarantine.Config{})
	if q != nil {
		q.Close()
	}
	if !errors.Is(err, quarantine.ErrOtherFilesystem) {
		t.Fatalf("Open = %v, want ErrOtherFilesystem", err)
	}
}

// editHeader rewrites the run line of the manifest at path with edit, as a
// person with an editor would.
func editHeader(t *testing.T, path string, edit func(*quarantine.Record)) {
	t.Helper()
	b, err := os.ReadFile(path)
	must(t, err)
	first, rest, _ := strings.Cut(string(b), "\n")
	var head quarantine.Record
	must(t, json.Unmarshal([]byte(first), &head))
	edit(&head)
	line, err := json.Marshal(head)
	must(t, err)
	must(t, os.WriteFile(path, append(append(line, '\n'), rest...), 0o600))
}

// TestRestoreOnlyToTheQuarantinesRoot: restore moves a run back only into
// the root its quarantine belongs to, whatever the manifest says: a root
// edited in the manifest, a run moved into another quarantine, or a --root
// that is another directory are refused and nothing moves; a --root that
// reaches the same root by another path is fine.
func TestRestoreOnlyToTheQuarantinesRoot(t *testing.T) {
	type setup struct{ root, qdir, manifest, elsewhere string }
	for _, tc := range []struct {
		name    string
		prepare func(t *testing.T, s *setup) quarantine.RestoreConfig
		ok      bool
	}{
		{"as recorded", func(t *testing.T, s *setup) quarantine.RestoreConfig { return quarantine.RestoreConfig{} }, true},
		{"the root edited in the manifest", func(t *testing.T, s *setup) quarantine.RestoreConfig {
			editHeader(t, s.manifest, func(r *quarantine.Record) { r.Root = s.elsewhere })
			return quarantine.RestoreConfig{}
		}, false},
		{"the quarantine edited in the manifest", func(t *testing.T, s *setup) quarantine.RestoreConfig {
			editHeader(t, s.manifest, func(r *quarantine.Record) { r.Quarantine = s.elsewhere })
			return quarantine.RestoreConfig{}
		}, false},
		{"the run renamed", func(t *testing.T, s *setup) quarantine.RestoreConfig {
			renamed := filepath.Join(s.qdir, "20000101T000000Z")
			must(t, os.Rename(filepath.Dir(s.manifest), renamed))
			s.manifest = filepath.Join(renamed, quarantine.ManifestName)
			return quarantine.RestoreConfig{}
		}, false},
		{"the run moved into another quarantine", func(t *testing.T, s *setup) quarantine.RestoreConfig {
			other := filepath.Join(filepath.Dir(s.qdir), "other-quarantine")
			must(t, os.Mkdir(other, 0o755))
			moved := filepath.Join(other, filepath.Base(filepath.Dir(s.manifest)))
			must(t, os.Rename(filepath.Dir(s.manifest), moved))
			editHeader(t, filepath.Join(moved, quarantine.ManifestName), func(r *quarantine.Record) { r.Quarantine, r.Root = other, s.elsewhere })
			s.manifest = filepath.Join(moved, quarantine.ManifestName)
			return quarantine.RestoreConfig{}
		}, false},
		{"--root another directory", func(t *testing.T, s *setup) quarantine.RestoreConfig {
			return quarantine.RestoreConfig{Root: s.elsewhere}
		}, false},
		{"--root the same through a link", func(t *testing.T, s *setup) quarantine.RestoreConfig {
			link := filepath.Join(filepath.Dir(s.root), "link-to-share")
			must(t, os.Symlink(s.root, link))
			return quarantine.RestoreConfig{Root: link}
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root, qdir := share(t, sessionTree)
			elsewhere := filepath.Join(filepath.Dir(root), "elsewhere")
			write(t, elsewhere, tree{"workspace_1/": ""})
			q := open(t, root, qdir)
			run := begin(t, q, time.Now())
			move(t, q, run, "workspace_1/session_a")
			must(t, run.Close())
			s := &setup{root: root, qdir: qdir, manifest: run.ManifestPath(), elsewhere: elsewhere}
			cfg := tc.prepare(t, s)
			res, err := quarantine.Restore(s.manifest, cfg)
			if exists(filepath.Join(elsewhere, "workspace_1/session_a")) {
				t.Fatal("restore moved the session into another directory")
			}
			back := exists(filepath.Join(root, "workspace_1/session_a/creds.json"))
			if tc.ok != (err == nil && back) {
				t.Errorf("Restore = %+v, %v; back at the root: %t", res, err, back)
			}
			if !tc.ok && !errors.Is(err, quarantine.ErrBadPlace) {
				t.Errorf("Restore = %v, want ErrBadPlace", err)
			}
		})
	}
}

// TestQuarantineWithoutOwner: a quarantine made before sessaudit recorded
// its root (no OwnerName) is restored from when it is ROOT/.sessaudit-
// quarantine, and elsewhere only into the root the operator names; a
// quarantine that belongs to one root is refused for another.
func TestQuarantineWithoutOwner(t *testing.T) {
	t.Run("outside the root", func(t *testing.T) {
		root, qdir := share(t, sessionTree)
		q := open(t, root, qdir)
		run := begin(t, q, time.Now())
		move(t, q, run, "workspace_1/session_a")
		must(t, run.Close())
		must(t, os.Remove(filepath.Join(qdir, quarantine.OwnerName)))
		if _, err := quarantine.Restore(run.ManifestPath(), quarantine.RestoreConfig{}); !errors.Is(err, quarantine.ErrBadPlace) {
			t.Fatalf("Restore without --root = %v, want ErrBadPlace", err)
		}
		if res, err := quarantine.Restore(run.ManifestPath(), quarantine.RestoreConfig{Root: root}); err != nil || res.Done != 1 {
			t.Fatalf("Restore with --root = %+v, %v", res, err)
		}
	})
	t.Run("inside the root", func(t *testing.T) {
		root, _ := share(t, sessionTree)
		qdir := filepath.Join(root, scanner.QuarantineName)
		must(t, os.Mkdir(qdir, 0o755))
		q := open(t, root, qdir)
		run := begin(t, q, time.Now())
		move(t, q, run, "workspace_1/session_a")
		must(t, run.Close())
		must(t, os.Remove(filepath.Join(qdir, quarantine.OwnerName)))
		if res, err := quarantine.Restore(run.ManifestPath(), quarantine.RestoreConfig{}); err != nil || res.Done != 1 {
			t.Fatalf("Restore = %+v, %v", res, err)
		}
	})
	t.Run("another root's", func(t *testing.T) {
		root, qdir := share(t, sessionTree)
		q := open(t, root, qdir)
		must(t, begin(t, q, time.Now()).Close())
		other := filepath.Join(filepath.Dir(root), "other-share")
		must(t, os.Mkdir(other, 0o755))
		q2, err := quarantine.Open(other, qdir, quarantine.Config{})
		if q2 != nil {
			q2.Close()
		}
		if !errors.Is(err, quarantine.ErrBadPlace) {
			t.Fatalf("Open of another root's quarantine = %v, want ErrBadPlace", err)
		}
	})
}

// TestPurgeRemovesARunKilledAtItsStart: a reclaim killed after it made its
// run directory and before its manifest held the whole run line leaves a
// run directory, empty or with an empty or cut manifest; purge removes it
// once the time its name gives is old enough, and leaves anything else.
func TestPurgeRemovesARunKilledAtItsStart(t *testing.T) {
	_, qdir := share(t, sessionTree)
	write(t, qdir, tree{
		"20260101T000000Z/":                             "",
		"20260101T000001Z/" + quarantine.ManifestName:   "",
		"20260101T000002Z-2/" + quarantine.ManifestName: `{"event":"run","time":"2026-01-01T00:00:02Z","for`,
		"20260101T000003Z/" + quarantine.ManifestName:   "not a manifest",
		"20260101T000004Z/other":                        "x",
		"20261201T000000Z/":                             "",
		"not-a-run/":                                    "",
	})
	now := time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC)
	var steps []string
	res, err := quarantine.Purge(qdir, quarantine.PurgeConfig{OlderThan: 30 * 24 * time.Hour, Now: now, Yes: true,
		OnStep: func(s quarantine.Step) { steps = append(steps, s.Run+" "+s.Action) }})
	if err != nil {
		t.Fatal(err)
	}
	for _, run := range []string{"20260101T000000Z", "20260101T000001Z", "20260101T000002Z-2"} {
		if exists(filepath.Join(qdir, run)) {
			t.Errorf("%s is still there; steps %q", run, steps)
		}
	}
	for _, kept := range []string{"20260101T000003Z", "20260101T000004Z", "20261201T000000Z", "not-a-run"} {
		if !exists(filepath.Join(qdir, kept)) {
			t.Errorf("%s was removed", kept)
		}
	}
	if res.RunsRemoved != 3 {
		t.Errorf("Purge = %+v; steps %q", res, steps)
	}
}

// TestIdentitySameComparesBirthTimes is TestMoveRefusesARecreatedDirectory's
// rule on any filesystem, including one that never hands out a freed inode
// number again: the same device and inode number with another birth time
// is another directory; a birth time unknown on one side (an old manifest,
// a filesystem without statx's btime) is not compared.
func TestIdentitySameComparesBirthTimes(t *testing.T) {
	old := quarantine.Identity{Dev: 2049, Ino: 7340033, Birth: 1764931200123456789}
	for _, tc := range []struct {
		name string
		now  quarantine.Identity
		same bool
	}{
		{"the same directory", old, true},
		{"recreated with the inode number it had", quarantine.Identity{Dev: 2049, Ino: 7340033, Birth: old.Birth + 1}, false},
		{"another inode", quarantine.Identity{Dev: 2049, Ino: 7340034, Birth: old.Birth}, false},
		{"another device", quarantine.Identity{Dev: 2050, Ino: 7340033, Birth: old.Birth}, false},
		{"no birth time known now", quarantine.Identity{Dev: 2049, Ino: 7340033}, true},
	} {
		if got := old.Same(tc.now); got != tc.same {
			t.Errorf("%s: Same = %v, want %v", tc.name, got, tc.same)
		}
		if got := tc.now.Same(old); got != tc.same {
			t.Errorf("%s, the other way: Same = %v, want %v", tc.name, got, tc.same)
		}
	}
}
