package cli_test

import (
	"bufio"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spf13/afero"
	"golang.org/x/sys/unix"

	"sessaudit/cmd/internal/cli"
	"sessaudit/db/dbtest"
	"sessaudit/scanner"
	"sessaudit/scanner/quarantine"
)

// share is a real share with its rows, for the reclaim cycle.
type share struct {
	dsn, root, qdir, report string
}

// The rows of newShare, and what the audit makes of their directories.
const shareRows = `INSERT INTO whatsapp_accounts
  (id, uuid, workspace_id, session_id, session_storage_path, created_by, created_at, updated_at, deleted_at) VALUES
  (1, 'u1', 1, 'live',     '/mnt/efs/workspace_1/session_live',     1, '2026-01-05 10:00:00', '2026-01-05 10:00:00', NULL),
  (2, 'u2', 1, 'dead',     '/mnt/efs//workspace_1/session_dead/',   1, '2026-01-05 10:00:00', '2026-01-06 10:00:00', '2026-01-06 10:00:00'),
  (3, 'u3', 1, 'nopath',   NULL,                                    1, '2026-01-05 10:00:00', '2026-01-05 10:00:00', NULL),
  (4, 'u4', 2, 'dup1',     '/mnt/efs/workspace_2/session_shared',   1, '2026-01-05 10:00:00', '2026-01-05 10:00:00', NULL),
  (5, 'u5', 2, 'dup2',     '/mnt/efs/workspace_2/session_shared',   1, '2026-01-05 10:00:00', '2026-01-05 10:00:00', NULL),
  (6, 'u6', 2, 'deadnull', NULL,                                    1, '2026-01-05 10:00:00', '2026-01-06 10:00:00', '2026-01-06 10:00:00')`

// reclaimable is what reclaim --yes moves from newShare's audit: the old
// orphans and soft-deleted directories, not the young orphan, the verified,
// unlinked or conflicting ones.
var reclaimable = []string{
	"workspace_1/session_dead", "workspace_1/session_orphan1", "workspace_1/session_orphan2",
	"workspace_2/session_deadnull", "workspace_2/session_orphan3", "workspace_2/session_\xff\xfe",
	"workspace_3/session_orphan4",
}

func newShare(t *testing.T) share {
	t.Helper()
	dsn := dbtest.New(t)
	dbtest.LoadSchema(t, dsn)
	if _, err := open(t, dsn).Exec(shareRows); err != nil {
		t.Fatal(err)
	}
	base := t.TempDir()
	s := share{dsn: dsn, root: filepath.Join(base, "share"), qdir: filepath.Join(base, "quarantine"), report: filepath.Join(base, "audit.json")}
	sessions := []string{"workspace_1/session_live", "workspace_1/session_nopath", "workspace_2/session_shared", "workspace_1/session_young"}
	sessions = append(sessions, reclaimable...)
	for _, rel := range sessions {
		dir := filepath.Join(s.root, rel)
		mustDo(t, os.MkdirAll(filepath.Join(dir, "Default", "IndexedDB"), 0o755))
		mustDo(t, os.WriteFile(filepath.Join(dir, "creds.json"), []byte(`{"me":"`+rel+`"}`), 0o600))
		mustDo(t, os.WriteFile(filepath.Join(dir, "Default", "IndexedDB", "LOG"), []byte(strings.Repeat(rel, 50)), 0o644))
		mustDo(t, os.Symlink("host-1234", filepath.Join(dir, "SingletonLock")))
	}
	mustDo(t, os.MkdirAll(s.qdir, 0o755))
	age(t, s.root, 48*time.Hour)
	// The young orphan changed just now.
	write(t, filepath.Join(s.root, "workspace_1/session_young/creds.json"), "new")
	return s
}

// minAge is the grace period of the audits of a share: every entry of the
// tree was written (its change time set) when the test made it, and no
// modification time set back hides that from reclaim's grace period, so
// s.audit waits it out first.
const minAge = time.Second

// write writes content to the file at p, dated an hour ahead: a change
// within any grace period for as long as the test runs.
func write(t *testing.T, p, content string) {
	t.Helper()
	mustDo(t, os.WriteFile(p, []byte(content), 0o600))
	ahead := time.Now().Add(time.Hour)
	mustDo(t, os.Chtimes(p, ahead, ahead))
}

func mustDo(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// age sets the times of everything under dir to d ago.
func age(t *testing.T, dir string, d time.Duration) {
	t.Helper()
	old := time.Now().Add(-d)
	mustDo(t, filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return unix.UtimesNanoAt(unix.AT_FDCWD, p, []unix.Timespec{unix.NsecToTimespec(old.UnixNano()), unix.NsecToTimespec(old.UnixNano())}, unix.AT_SYMLINK_NOFOLLOW)
	}))
}

// audit writes the JSON report of a real audit of s.
func (s share) audit(t *testing.T) {
	t.Helper()
	time.Sleep(minAge + 100*time.Millisecond)
	res := run(t, afero.NewOsFs(), "audit", "--root", s.root, "--path-prefix", "/mnt/efs", "--dsn", s.dsn,
		"--format", "json", "--output", s.report, "--log-level", "warn", "--min-age", minAge.String())
	if res.code != cli.ExitFindings {
		t.Fatalf("audit: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
}

func (s share) reclaim(t *testing.T, extra ...string) result {
	t.Helper()
	args := append([]string{"reclaim", "--report", s.report, "--quarantine", s.qdir, "--dsn", s.dsn}, extra...)
	return run(t, afero.NewOsFs(), args...)
}

// sessions returns the session directories under root (real ones and
// anything else at a session path).
func sessions(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	wss, err := os.ReadDir(root)
	mustDo(t, err)
	for _, ws := range wss {
		if _, ok := scanner.ParseWorkspace(ws.Name()); !ok {
			continue
		}
		ents, err := os.ReadDir(filepath.Join(root, ws.Name()))
		mustDo(t, err)
		for _, e := range ents {
			out = append(out, ws.Name()+"/"+e.Name())
		}
	}
	slices.Sort(out)
	return out
}

// tree describes everything under root, every byte and attribute a restore
// must bring back (directory times aside for workspaces, whose entries
// change by design).
func treeOf(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	mustDo(t, filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		var st syscall.Stat_t
		if err := syscall.Lstat(p, &st); err != nil {
			return err
		}
		desc := fmt.Sprintf("mode %o uid %d ino %d mtime %d.%d", st.Mode, st.Uid, st.Ino, st.Mtim.Sec, st.Mtim.Nsec)
		if _, ok := scanner.ParseWorkspace(rel); ok || rel == "." {
			desc = fmt.Sprintf("mode %o", st.Mode)
		}
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			desc += " -> " + target
		case d.Type().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			desc += fmt.Sprintf(" sha256 %x", sha256.Sum256(b))
		}
		out[rel] = desc
		return nil
	}))
	return out
}

func minus(all, some []string) []string {
	return slices.DeleteFunc(slices.Clone(all), func(p string) bool { return slices.Contains(some, p) })
}

// manifestOf returns the one run's manifest in qdir.
func manifestOf(t *testing.T, qdir string) (string, *quarantine.Manifest) {
	t.Helper()
	runs, err := os.ReadDir(qdir)
	mustDo(t, err)
	runs = slices.DeleteFunc(runs, func(e os.DirEntry) bool { return e.Name() == quarantine.OwnerName })
	if len(runs) != 1 {
		t.Fatalf("%d runs in the quarantine, want 1", len(runs))
	}
	path := filepath.Join(qdir, runs[0].Name(), quarantine.ManifestName)
	f, err := os.Open(path)
	mustDo(t, err)
	defer f.Close()
	m, err := quarantine.ParseManifest(bufio.NewReader(f))
	mustDo(t, err)
	return path, m
}

// TestReclaimCycle: audit, plan, reclaim --yes, restore, and purge, on real
// directories and the real database.
func TestReclaimCycle(t *testing.T) {
	s := newShare(t)
	s.audit(t)
	all := sessions(t, s.root)
	before := treeOf(t, s.root)

	res := s.reclaim(t)
	if res.code != cli.ExitClean || strings.Count(res.stdout, "would move") != len(reclaimable)+1 {
		t.Fatalf("plan: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	if got := treeOf(t, s.root); !reflect.DeepEqual(got, before) {
		t.Fatal("the plan changed the share")
	}
	if ents, _ := os.ReadDir(s.qdir); len(ents) != 0 {
		t.Fatalf("the plan wrote into the quarantine: %v", ents)
	}

	res = s.reclaim(t, "--yes")
	if res.code != cli.ExitClean {
		t.Fatalf("reclaim --yes: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	if got, want := sessions(t, s.root), minus(all, reclaimable); !reflect.DeepEqual(got, want) {
		t.Fatalf("left at the root %q, want %q", got, want)
	}
	manifest, m := manifestOf(t, s.qdir)
	runDir := filepath.Dir(manifest)
	var moved []string
	for _, e := range m.Entries {
		if e.State != quarantine.EventMoved {
			t.Errorf("%s: %s", e.Path, e.State)
		}
		moved = append(moved, e.Path)
	}
	if slices.Sort(moved); !reflect.DeepEqual(moved, reclaimable) {
		t.Errorf("manifest lists %q, want %q", moved, reclaimable)
	}
	if got := sessions(t, runDir); !reflect.DeepEqual(got, reclaimable) {
		t.Errorf("the run holds %q", got)
	}
	if !strings.Contains(res.stdout, "sessaudit restore --manifest "+manifest) {
		t.Errorf("no way back printed:\n%s", res.stdout)
	}
	// The next audit passes over the quarantine... once it is in the root;
	// here it is beside it, and the moved directories are simply gone.

	res = run(t, afero.NewOsFs(), "restore", "--manifest", manifest)
	if res.code != cli.ExitClean {
		t.Fatalf("restore: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	after := treeOf(t, s.root)
	for p, w := range before {
		if after[p] != w {
			t.Errorf("%q after restore: %s, want %s", p, after[p], w)
		}
	}
	if len(after) != len(before) {
		t.Errorf("%d entries after restore, %d before", len(after), len(before))
	}

	// Purge: nothing is old enough at 30 days; at 1ns the run goes, and
	// with it nothing of the share.
	res = run(t, afero.NewOsFs(), "purge", "--quarantine", s.qdir, "--older-than", "30d", "--yes")
	if res.code != cli.ExitClean || !exists(runDir) {
		t.Fatalf("purge 30d: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	res = run(t, afero.NewOsFs(), "purge", "--quarantine", s.qdir, "--older-than", "1ns", "--yes")
	if res.code != cli.ExitClean || exists(runDir) {
		t.Fatalf("purge 1ns: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	if got := treeOf(t, s.root); !reflect.DeepEqual(got, after) {
		t.Error("purge changed the share")
	}
}

func exists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

// TestReclaimRechecks: what changed between the audit and the move stops
// the move: a row that now refers to the directory, a file written in it,
// the directory swapped for a link.
func TestReclaimRechecks(t *testing.T) {
	s := newShare(t)
	s.audit(t)
	outside := filepath.Join(filepath.Dir(s.root), "outside")
	mustDo(t, os.MkdirAll(filepath.Join(outside, "session_orphan4"), 0o755))
	mustDo(t, os.WriteFile(filepath.Join(outside, "session_orphan4", "precious"), []byte("not the share's"), 0o600))
	outsideBefore := treeOf(t, outside)

	conn := open(t, s.dsn)
	_, err := conn.Exec(`INSERT INTO whatsapp_accounts
	  (id, uuid, workspace_id, session_id, session_storage_path, created_by, created_at, updated_at, deleted_at) VALUES
	  (20, 'u20', 1, 'new',   '/mnt/efs/workspace_1//session_orphan1/', 1, NOW(), NOW(), NULL),
	  (21, 'u21', 1, 'gone',  '/mnt/efs/workspace_1/session_orphan2',   1, NOW(), NOW(), NOW())`)
	mustDo(t, err)
	// The application brings the soft-deleted account of session_deadnull
	// back.
	_, err = conn.Exec("UPDATE whatsapp_accounts SET deleted_at = NULL WHERE id = 6")
	mustDo(t, err)
	write(t, filepath.Join(s.root, "workspace_2/session_orphan3/creds.json"), "written")
	mustDo(t, os.Rename(filepath.Join(s.root, "workspace_3/session_orphan4"), filepath.Join(s.root, "workspace_3/aside")))
	mustDo(t, os.Symlink(filepath.Join(outside, "session_orphan4"), filepath.Join(s.root, "workspace_3/session_orphan4")))
	all := sessions(t, s.root)

	res := s.reclaim(t, "--yes")
	if res.code != cli.ExitFindings {
		t.Fatalf("exit %d, want 1\n%s%s", res.code, res.stdout, res.stderr)
	}
	want := []string{"workspace_1/session_dead", "workspace_2/session_\xff\xfe"}
	if got := sessions(t, s.root); !reflect.DeepEqual(got, minus(all, want)) {
		t.Errorf("left at the root %q, want all but %q\n%s", got, want, res.stdout)
	}
	for _, why := range []string{"live row 20 refers to it now", "soft-deleted row 21 refers to it now", "live row 6 refers to it now",
		"within the grace period", "not a real directory"} {
		if !strings.Contains(res.stdout, why) {
			t.Errorf("no %q in\n%s", why, res.stdout)
		}
	}
	if got := treeOf(t, outside); !reflect.DeepEqual(got, outsideBefore) {
		t.Error("the link's target changed")
	}
}

// TestReclaimRefuses: reports and quarantines that must stop reclaim before
// anything moves.
func TestReclaimRefuses(t *testing.T) {
	s := newShare(t)
	s.audit(t)
	all := sessions(t, s.root)
	var rep map[string]any
	b, err := os.ReadFile(s.report)
	mustDo(t, err)
	mustDo(t, json.Unmarshal(b, &rep))
	rep["summary"].(map[string]any)["complete"] = false
	incomplete := filepath.Join(filepath.Dir(s.report), "incomplete.json")
	b, _ = json.Marshal(rep)
	mustDo(t, os.WriteFile(incomplete, b, 0o644))

	tmpfs := filepath.Join(t.TempDir(), "tmpfs")
	mustDo(t, os.Mkdir(tmpfs, 0o755))
	if err := unix.Mount("tmpfs", tmpfs, "tmpfs", 0, "size=1m"); err != nil {
		t.Fatalf("mount tmpfs (the test needs root): %v", err)
	}
	t.Cleanup(func() { mustDo(t, unix.Unmount(tmpfs, 0)) })
	inRoot := filepath.Join(s.root, "trash")
	mustDo(t, os.Mkdir(inRoot, 0o755))

	tests := []struct {
		name string
		args []string
		want string
	}{
		{"quarantine on another filesystem", []string{"--quarantine", tmpfs}, "not on the root's filesystem"},
		{"quarantine in the root under another name", []string{"--quarantine", inRoot}, scanner.QuarantineName},
		{"quarantine is a workspace", []string{"--quarantine", filepath.Join(s.root, "workspace_1")}, "not a place"},
		{"incomplete report", []string{"--report", incomplete}, "incomplete"},
		{"old report", []string{"--max-report-age", "1ns"}, "too old"},
		{"other kinds", []string{"--kinds", "orphan,unlinked"}, "only orphan and soft_deleted"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := s.reclaim(t, append(tc.args, "--yes")...)
			if res.code != cli.ExitFailed || !strings.Contains(res.stderr, tc.want) {
				t.Errorf("exit %d, want 2 and %q\n%s%s", res.code, tc.want, res.stdout, res.stderr)
			}
			if got := sessions(t, s.root); !reflect.DeepEqual(got, all) {
				t.Errorf("moved: %q", minus(all, got))
			}
		})
	}
}

// TestReclaimInsideRoot: a quarantine at ROOT/.sessaudit-quarantine is
// used, and the next audit neither sizes it nor reports it.
func TestReclaimInsideRoot(t *testing.T) {
	s := newShare(t)
	s.qdir = filepath.Join(s.root, scanner.QuarantineName)
	mustDo(t, os.Mkdir(s.qdir, 0o700))
	s.audit(t)
	res := s.reclaim(t, "--yes", "--max-moves", "3")
	if res.code != cli.ExitClean || !strings.Contains(res.stdout, "4 more not looked at (--max-moves 3)") {
		t.Fatalf("exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	_, m := manifestOf(t, s.qdir)
	if len(m.Entries) != 3 {
		t.Errorf("moved %d, want 3 (the cap)", len(m.Entries))
	}
	res = run(t, afero.NewOsFs(), "audit", "--root", s.root, "--path-prefix", "/mnt/efs", "--dsn", s.dsn,
		"--format", "json", "--log-level", "warn")
	if strings.Contains(res.stdout, "unrecognized\"") && strings.Contains(res.stdout, scanner.QuarantineName) {
		t.Errorf("the audit reports the quarantine:\n%s", res.stdout)
	}
	if strings.Contains(res.stdout, "sessaudit-quarantine") {
		t.Errorf("the audit mentions the quarantine:\n%s", res.stdout)
	}
}

// TestReclaimKilled: the real binary, killed in the middle of a run, leaves
// a manifest that tells exactly what moved, and nothing is lost.
func TestReclaimKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "sessaudit")
	build := exec.Command("go", "build", "-o", bin, "sessaudit/cmd/sessaudit")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	s := newShare(t)
	const n = 600
	for i := range n {
		dir := filepath.Join(s.root, fmt.Sprintf("workspace_9/session_%04d", i))
		mustDo(t, os.MkdirAll(dir, 0o755))
		mustDo(t, os.WriteFile(filepath.Join(dir, "creds.json"), []byte("x"), 0o600))
	}
	age(t, s.root, 48*time.Hour)
	s.audit(t)
	all := sessions(t, s.root)

	cmd := exec.Command(bin, "reclaim", "--report", s.report, "--quarantine", s.qdir, "--yes", "--max-moves", "10000")
	cmd.Env = append(os.Environ(), "SESSAUDIT_DSN="+s.dsn)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	mustDo(t, cmd.Start())
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	// Kill it once a few moves are recorded.
	var manifest string
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) && manifest == "" {
		select {
		case err := <-done:
			t.Fatalf("reclaim ended before it was killed: %v\n%s", err, out.String())
		default:
		}
		runs, _ := filepath.Glob(filepath.Join(s.qdir, "*", quarantine.ManifestName))
		if len(runs) == 1 {
			b, _ := os.ReadFile(runs[0])
			if strings.Count(string(b), `"event":"moved"`) >= 20 {
				manifest = runs[0]
			}
		}
		time.Sleep(time.Millisecond)
	}
	mustDo(t, cmd.Process.Kill())
	<-done
	if manifest == "" {
		t.Fatal("no manifest with 20 moves within a minute")
	}
	_, m := manifestOf(t, s.qdir)
	runDir := filepath.Dir(manifest)
	if len(m.Entries) >= len(reclaimable)+n {
		t.Fatalf("the run finished (%d entries) before it was killed", len(m.Entries))
	}
	inQuarantine := sessions(t, runDir)
	var listed []string
	for _, e := range m.Entries {
		atRoot, inRun := exists(filepath.Join(s.root, e.Path)), exists(filepath.Join(runDir, e.Path))
		switch e.State {
		case quarantine.EventMoved:
			if atRoot || !inRun {
				t.Errorf("%s listed as moved: at the root %t, in quarantine %t", e.Path, atRoot, inRun)
			}
			listed = append(listed, e.Path)
		case quarantine.EventMoving: // killed around the rename: one side
			if atRoot == inRun {
				t.Errorf("%s: at the root %t, in quarantine %t", e.Path, atRoot, inRun)
			}
			if inRun {
				listed = append(listed, e.Path)
			}
		default:
			t.Errorf("%s: %s", e.Path, e.State)
		}
	}
	if slices.Sort(listed); !reflect.DeepEqual(inQuarantine, listed) {
		t.Errorf("in quarantine %d, listed %d", len(inQuarantine), len(listed))
	}
	if got := append(sessions(t, s.root), inQuarantine...); len(got) != len(all) {
		t.Errorf("%d sessions at the root and in quarantine, %d before", len(got), len(all))
	}
	t.Logf("killed after %d of %d moves", len(listed), len(reclaimable)+n)

	res := run(t, afero.NewOsFs(), "restore", "--manifest", manifest)
	if res.code != cli.ExitClean {
		t.Fatalf("restore: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	if got := sessions(t, s.root); !reflect.DeepEqual(got, all) {
		t.Errorf("after restore %d sessions, want %d", len(got), len(all))
	}
}

// TestReclaimFromLaravelEnv: reclaim reads the rows again from the
// database of the application's .env, as audit and watch do, from
// --laravel-env or SESSAUDIT_LARAVEL_ENV, with --dsn and SESSAUDIT_DSN
// winning over it, and the password shows nowhere.
func TestReclaimFromLaravelEnv(t *testing.T) {
	s := newShare(t)
	s.audit(t)
	all := sessions(t, s.root)
	user := passwordUser(t, s.dsn)
	envFile := laravelEnv(t, s.dsn, user, laravelSecret)
	bad := filepath.Join(t.TempDir(), ".env")
	mustDo(t, os.WriteFile(bad, []byte("DB_CONNECTION=pgsql\nDB_DATABASE=app\nDB_USERNAME=u\nDB_PASSWORD='"+laravelSecret+"'\n"), 0o600))
	reclaim := func(t *testing.T, vars map[string]string, args ...string) result {
		t.Helper()
		args = append([]string{"reclaim", "--report", s.report, "--quarantine", s.qdir}, args...)
		res := runEnv(t, afero.NewOsFs(), vars, nil, args...)
		if strings.Contains(res.stdout+res.stderr, laravelSecret) {
			t.Error("the password shows in the output")
		}
		return res
	}

	// Each plans with the database it was given: every directory is
	// looked at and its rows read again.
	for _, tc := range []struct {
		name string
		vars map[string]string
		args []string
	}{
		{"--laravel-env", nil, []string{"--laravel-env", envFile}},
		{"SESSAUDIT_LARAVEL_ENV", map[string]string{"SESSAUDIT_LARAVEL_ENV": envFile}, nil},
		{"--dsn wins", nil, []string{"--dsn", s.dsn, "--laravel-env", bad}},
		{"SESSAUDIT_DSN wins", map[string]string{"SESSAUDIT_DSN": s.dsn}, []string{"--laravel-env", bad}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := reclaim(t, tc.vars, tc.args...)
			if res.code != cli.ExitClean || strings.Count(res.stdout, "would move") != len(reclaimable)+1 {
				t.Errorf("plan: exit %d\n%s%s", res.code, res.stdout, res.stderr)
			}
		})
	}
	// And moves by it: a row written since the audit, read from the
	// .env's database, keeps its directory.
	_, err := open(t, s.dsn).Exec(`INSERT INTO whatsapp_accounts
	  (id, uuid, workspace_id, session_id, session_storage_path, created_by, created_at, updated_at, deleted_at) VALUES
	  (20, 'u20', 1, 'new', '/mnt/efs/workspace_1/session_orphan1', 1, NOW(), NOW(), NULL)`)
	mustDo(t, err)
	res := reclaim(t, map[string]string{"SESSAUDIT_LARAVEL_ENV": envFile}, "--yes")
	want := minus(reclaimable, []string{"workspace_1/session_orphan1"})
	if res.code != cli.ExitFindings || !strings.Contains(res.stdout, "live row 20 refers to it now") {
		t.Errorf("reclaim --yes: exit %d, want 1 with row 20 keeping its directory\n%s%s", res.code, res.stdout, res.stderr)
	}
	if got := sessions(t, s.root); !reflect.DeepEqual(got, minus(all, want)) {
		t.Errorf("left at the root %q, want all but %q", got, want)
	}

	t.Run("not mysql", func(t *testing.T) {
		res := reclaim(t, nil, "--laravel-env", bad)
		if res.code != cli.ExitFailed || !strings.Contains(res.stderr, `DB_CONNECTION="pgsql"`) {
			t.Errorf("exit %d, stderr %q", res.code, res.stderr)
		}
	})
	t.Run("none", func(t *testing.T) {
		res := reclaim(t, nil)
		if res.code != cli.ExitFailed || !strings.Contains(res.stderr, "--dsn, SESSAUDIT_DSN or --laravel-env is required") {
			t.Errorf("exit %d, stderr %q", res.code, res.stderr)
		}
	})
	t.Run("wrong password", func(t *testing.T) {
		if dbtest.Backend() == "embedded" {
			t.Skip("the embedded server accepts any password; run with SESSAUDIT_TEST_MYSQL_DSN")
		}
		wrong := laravelEnv(t, s.dsn, user, laravelSecret+"-not")
		res := reclaim(t, nil, "--laravel-env", wrong)
		if res.code != cli.ExitFailed || !strings.Contains(strings.ToLower(res.stderr), "access denied") {
			t.Errorf("exit %d, stderr %q: want 2 and access denied", res.code, res.stderr)
		}
	})
}
