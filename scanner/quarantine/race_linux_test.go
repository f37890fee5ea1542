//go:build linux

package quarantine_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sessaudit/scanner/quarantine"
)

// The purge the tests below run in a process of their own, to race it or
// kill it: this test binary, run again with purgeChildEnv naming the
// quarantine, purges it (--yes, every run old enough) and exits.
const purgeChildEnv = "SESSAUDIT_TEST_PURGE_CHILD"

func TestMain(m *testing.M) {
	if dir := os.Getenv(purgeChildEnv); dir != "" {
		_, err := quarantine.Purge(dir, quarantine.PurgeConfig{Yes: true, Now: time.Now().Add(48 * time.Hour), OlderThan: time.Hour})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// bigRun moves a session of dirs×files files into a run of its own and
// returns the run's manifest.
func bigRun(t *testing.T, dirs, files int) (root, qdir, manifest string) {
	t.Helper()
	root, qdir = share(t, tree{"workspace_2/session_keep/creds.json": "keep"})
	sess := filepath.Join(root, "workspace_1/session_big")
	for d := range dirs {
		dir := filepath.Join(sess, fmt.Sprintf("d%03d", d))
		must(t, os.MkdirAll(dir, 0o755))
		for f := range files {
			must(t, os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%03d", f)), nil, 0o600))
		}
	}
	q := open(t, root, qdir)
	run := begin(t, q, time.Now())
	move(t, q, run, "workspace_1/session_big")
	must(t, run.Close())
	return root, qdir, run.ManifestPath()
}

// startPurge starts a purge of qdir in a child process and returns it once
// it has begun deleting the session of bigRun (fewer than dirs of its
// directories left, wherever in the run's workspace directory it is).
func startPurge(t *testing.T, qdir, manifest string, dirs int) (*exec.Cmd, chan error) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), purgeChildEnv+"="+qdir)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	must(t, cmd.Start())
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	ws := filepath.Join(filepath.Dir(manifest), "workspace_1")
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		select {
		case err := <-done:
			t.Fatalf("purge ended before it had begun deleting (make the tree bigger): %v\n%s", err, out.String())
		default:
		}
		entries, _ := os.ReadDir(ws)
		for _, e := range entries {
			if left, err := os.ReadDir(filepath.Join(ws, e.Name())); err == nil && len(left) < dirs {
				return cmd, done
			}
		}
		time.Sleep(200 * time.Microsecond)
	}
	cmd.Process.Kill()
	<-done
	t.Fatal("purge did not begin deleting within a minute")
	return nil, nil
}

// countFiles counts the regular files under dir.
func countFiles(t *testing.T, dir string) int {
	t.Helper()
	n := 0
	must(t, filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			n++
		}
		return err
	}))
	return n
}

// TestRestoreRacingPurge: a restore of the run a purge --yes is deleting
// never brings back a directory the purge goes on emptying under the live
// root: it is refused while the purge works on the run.
func TestRestoreRacingPurge(t *testing.T) {
	const dirs, files = 100, 50
	root, qdir, manifest := bigRun(t, dirs, files)
	_, done := startPurge(t, qdir, manifest, dirs)
	res, err := quarantine.Restore(manifest, quarantine.RestoreConfig{})
	if perr := <-done; perr != nil {
		t.Fatalf("purge: %v", perr)
	}
	live := filepath.Join(root, "workspace_1/session_big")
	if exists(live) {
		if n := countFiles(t, live); n != dirs*files {
			t.Fatalf("restore brought the session back (%+v, %v) and the purge left %d of its %d files", res, err, n, dirs*files)
		}
		return
	}
	if err == nil && res.Problems == 0 {
		t.Errorf("Restore = %+v, nil: nothing was restored and nothing said so", res)
	}
	if !exists(filepath.Join(root, "workspace_2/session_keep/creds.json")) {
		t.Error("a live session was deleted")
	}
}

// TestRestoreAfterAKilledPurge: a purge killed (SIGKILL) while deleting a
// directory leaves it marked in the manifest: restore refuses to bring the
// half-deleted tree back, and the next purge finishes the deletion and
// removes the run.
func TestRestoreAfterAKilledPurge(t *testing.T) {
	const dirs, files = 100, 50
	root, qdir, manifest := bigRun(t, dirs, files)
	purge, done := startPurge(t, qdir, manifest, dirs)
	must(t, purge.Process.Kill())
	<-done

	var steps []quarantine.Step
	res, err := quarantine.Restore(manifest, quarantine.RestoreConfig{OnStep: func(s quarantine.Step) { steps = append(steps, s) }})
	live := filepath.Join(root, "workspace_1/session_big")
	if exists(live) {
		t.Fatalf("restore brought back %d of the %d files of a half-deleted session (%+v, %v)", countFiles(t, live), dirs*files, res, err)
	}
	if err != nil || res.Problems != 1 || len(steps) != 1 || steps[0].Action != quarantine.NotRestored {
		t.Fatalf("Restore = %+v, %v, steps %+v; want the directory reported as not restored", res, err, steps)
	}
	t.Logf("restore: %v", steps[0].Err)

	res, err = quarantine.Purge(qdir, quarantine.PurgeConfig{Yes: true, Now: time.Now(), OlderThan: 24 * time.Hour})
	if err != nil || res.RunsRemoved != 1 || res.Problems != 0 {
		t.Fatalf("Purge after the killed one = %+v, %v; want the run finished and removed (a run it had begun deleting is not too young)", res, err)
	}
	if exists(filepath.Dir(manifest)) {
		t.Error("the run is still there")
	}
	if !exists(filepath.Join(root, "workspace_2/session_keep/creds.json")) {
		t.Error("a live session was deleted")
	}
}
