package cli_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"sessaudit/cmd/internal/cli"
	"sessaudit/db/dbtest"
)

// lockedBuffer is a Stderr that a running command and the test share.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

type watchRun struct {
	stderr *lockedBuffer
	cancel context.CancelFunc
	code   chan int
}

// startWatch runs "sessaudit watch" over the fixture until the test cancels
// it, and waits for its first rescan.
func (f fixture) startWatch(t *testing.T, extra ...string) *watchRun {
	t.Helper()
	return f.startWatchEnv(t, nil, append([]string{"--dsn", f.dsn}, extra...)...)
}

// startWatchEnv is startWatch with the environment vars and without a
// --dsn of its own.
func (f fixture) startWatchEnv(t *testing.T, vars map[string]string, extra ...string) *watchRun {
	t.Helper()
	w := &watchRun{stderr: &lockedBuffer{}, code: make(chan int, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	w.cancel = cancel
	args := append([]string{"watch", "--root", f.root, "--path-prefix", "/mnt/efs",
		"--debounce", "50ms", "--min-age", "0s"}, extra...)
	go func() {
		w.code <- cli.Run(ctx, args, cli.Env{Stdout: &bytes.Buffer{}, Stderr: w.stderr, Fs: f.fsys,
			Getenv: func(k string) string { return vars[k] }})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-w.code:
		case <-time.After(10 * time.Second):
			t.Error("watch did not stop")
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(w.stderr.String(), `"message":"rescan finished"`) {
		select {
		case code := <-w.code:
			w.code <- code // for the cleanup
			t.Fatalf("watch exited %d before its first rescan:\n%s", code, w.stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no rescan:\n%s", w.stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	return w
}

// stop cancels the run, as SIGINT or SIGTERM does in main, and returns its
// exit status and how long it took.
func (w *watchRun) stop(t *testing.T) (int, time.Duration) {
	t.Helper()
	start := time.Now()
	w.cancel()
	select {
	case code := <-w.code:
		w.code <- code // for the cleanup
		return code, time.Since(start)
	case <-time.After(10 * time.Second):
		t.Fatal("watch did not stop")
	}
	return 0, 0
}

func TestWatchOneWatcherPerShard(t *testing.T) {
	f := newFixture(t)
	// --dry-run: this is about locks, and writers side by side on the
	// embedded server race inside it (its memory tables are not made for
	// concurrent writers; MariaDB is).
	first := f.startWatch(t, "--shard", "1/2", "--dry-run")

	res := f.run(t, "watch", "--root", f.root, "--path-prefix", "/mnt/efs", "--dsn", f.dsn, "--shard", "1/2")
	if res.code != cli.ExitFailed || !strings.Contains(res.stderr, "another sessaudit watch of shard 1/2") ||
		!strings.Contains(res.stderr, "(connection ") {
		t.Fatalf("second watcher of shard 1/2: exit %d, stderr %s; want 2 naming the holder", res.code, res.stderr)
	}

	// Another shard, and the nightly audit, run beside it.
	// Shard 0/2 of the sample has one live row with a path, and it is
	// missing: the guard against an unmounted share would refuse it.
	second := f.startWatch(t, "--shard", "0/2", "--max-missing-ratio", "1", "--dry-run")
	if res, _ := f.audit(t, "--dry-run"); res.code == cli.ExitFailed {
		t.Fatalf("audit beside the watchers: exit 2: %s", res.stderr)
	}
	// Issue 18: an all-workspaces watcher ran beside shard watchers, on
	// the same rows, and the refusal named "another audit".
	res = f.run(t, "watch", "--root", f.root, "--path-prefix", "/mnt/efs", "--dsn", f.dsn)
	if res.code != cli.ExitFailed || !strings.Contains(res.stderr, "another sessaudit watch holds the lock") ||
		strings.Contains(res.stderr, "another audit") {
		t.Fatalf("an all-workspaces watcher beside shard watchers: exit %d, stderr %s; want 2 naming a watcher", res.code, res.stderr)
	}
	for _, w := range []*watchRun{first, second} {
		if code, _ := w.stop(t); code != cli.ExitClean {
			t.Errorf("exit %d after a stop, want 0:\n%s", code, w.stderr.String())
		}
	}
}

func TestWatchStopsOnSignal(t *testing.T) {
	f := newFixture(t)
	// Many sessions written at once, so that reconciles are in flight
	// when the stop comes.
	for i := range 40 {
		dir := filepath.Join(f.root, "workspace_9", fmt.Sprintf("session_s%02d", i))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	conn := open(t, f.dsn)
	for i := range 40 {
		if _, err := conn.Exec("INSERT INTO whatsapp_accounts (id, uuid, workspace_id, session_id, session_storage_path, created_by, created_at, updated_at) "+
			"VALUES (?, ?, 9, ?, ?, 1, '2020-01-01', '2020-01-01')",
			1000+i, fmt.Sprintf("w-%d", i), fmt.Sprintf("s%02d", i), fmt.Sprintf("/mnt/efs/workspace_9/session_s%02d", i)); err != nil {
			t.Fatal(err)
		}
	}
	args := []string{"--listen", "127.0.0.1:0"}
	if dbtest.Backend() == "embedded" {
		// Concurrent writers race inside the embedded server's memory
		// tables; the writes are checked on MariaDB (CI's -race run).
		args = append(args, "--dry-run")
	}
	w := f.startWatch(t, args...)
	if !strings.Contains(w.stderr.String(), `"message":"serving /metrics, /healthz, /readyz"`) {
		t.Errorf("no endpoints served:\n%s", w.stderr.String())
	}
	for i := range 40 {
		name := filepath.Join(f.root, "workspace_9", fmt.Sprintf("session_s%02d", i), "creds.json")
		if err := os.WriteFile(name, []byte(strings.Repeat("c", i+1)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(60 * time.Millisecond) // let the debounce expire: reconciles start
	code, took := w.stop(t)
	if code != cli.ExitClean {
		t.Fatalf("exit %d after a stop, want 0:\n%s", code, w.stderr.String())
	}
	if took > 5*time.Second {
		t.Errorf("took %v to stop, want under 5s", took)
	}
	// No half-written session: size and verification time go together,
	// and a size written is the size of the directory.
	rows, err := conn.Query("SELECT id, session_file_size_bytes, session_storage_verified_at FROM whatsapp_accounts WHERE id >= 1000")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int
		var size, at *string
		if err := rows.Scan(&id, &size, &at); err != nil {
			t.Fatal(err)
		}
		if (size == nil) != (at == nil) {
			t.Errorf("row %d: size %v with verified_at %v", id, size, at)
		}
		if size != nil && *size != "0" && *size != fmt.Sprint(id-1000+1) {
			t.Errorf("row %d: size %s, want 0 or %d", id, *size, id-1000+1)
		}
	}
}

func TestWatchBadFlags(t *testing.T) {
	f := newFixture(t)
	for _, args := range [][]string{
		{"--shard", "2/2"},
		{"--shard", "x"},
		{"--debounce", "0s"},
		{"--rescan-interval", "-1s"},
		{"--max-watches", "-1"},
		{"--listen", "256.0.0.1:99999"},
	} {
		all := append([]string{"watch", "--root", f.root, "--path-prefix", "/mnt/efs", "--dsn", f.dsn}, args...)
		res := f.run(t, all...)
		if res.code != cli.ExitFailed || strings.Count(strings.TrimSpace(res.stderr), "\n") > 3 {
			t.Errorf("%v: exit %d, stderr %q; want 2 and a short message", args, res.code, res.stderr)
		}
	}
}

// TestWatchFromLaravelEnv: watch takes the database from the application's
// .env as audit does, from --laravel-env or SESSAUDIT_LARAVEL_ENV, with
// --dsn and SESSAUDIT_DSN winning over it, and the password shows nowhere.
func TestWatchFromLaravelEnv(t *testing.T) {
	f := newFixture(t)
	user := passwordUser(t, f.dsn)
	envFile := laravelEnv(t, f.dsn, user, laravelSecret)
	bad := filepath.Join(t.TempDir(), ".env")
	if err := os.WriteFile(bad, []byte("DB_CONNECTION=pgsql\nDB_DATABASE=app\nDB_USERNAME=u\nDB_PASSWORD='"+laravelSecret+"'\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// Each starts, rescans once with the database it was given and stops.
	for _, tc := range []struct {
		name string
		vars map[string]string
		args []string
	}{
		{"--laravel-env", nil, []string{"--laravel-env", envFile}},
		{"SESSAUDIT_LARAVEL_ENV", map[string]string{"SESSAUDIT_LARAVEL_ENV": envFile}, nil},
		{"--dsn wins", nil, []string{"--dsn", f.dsn, "--laravel-env", bad}},
		{"SESSAUDIT_DSN wins", map[string]string{"SESSAUDIT_DSN": f.dsn}, []string{"--laravel-env", bad}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := f.startWatchEnv(t, tc.vars, append(tc.args, "--dry-run", "--log-level", "debug")...)
			if code, _ := w.stop(t); code != cli.ExitClean {
				t.Errorf("exit %d after a stop, want 0:\n%s", code, w.stderr.String())
			}
			if strings.Contains(w.stderr.String(), laravelSecret) {
				t.Error("the password shows in the output")
			}
		})
	}
	t.Run("not mysql", func(t *testing.T) {
		res := f.run(t, "watch", "--root", f.root, "--laravel-env", bad)
		if res.code != cli.ExitFailed || !strings.Contains(res.stderr, `DB_CONNECTION="pgsql"`) || strings.Contains(res.stdout+res.stderr, laravelSecret) {
			t.Errorf("exit %d, stderr %q", res.code, res.stderr)
		}
	})
	t.Run("none", func(t *testing.T) {
		res := f.run(t, "watch", "--root", f.root)
		if res.code != cli.ExitFailed || !strings.Contains(res.stderr, "--dsn, SESSAUDIT_DSN or --laravel-env is required") {
			t.Errorf("exit %d, stderr %q", res.code, res.stderr)
		}
	})
	t.Run("wrong password", func(t *testing.T) {
		if dbtest.Backend() == "embedded" {
			t.Skip("the embedded server accepts any password; run with SESSAUDIT_TEST_MYSQL_DSN")
		}
		wrong := laravelEnv(t, f.dsn, user, laravelSecret+"-not")
		res := f.run(t, "watch", "--root", f.root, "--laravel-env", wrong, "--log-level", "debug")
		if res.code != cli.ExitFailed || !strings.Contains(strings.ToLower(res.stderr), "access denied") {
			t.Errorf("exit %d, stderr %q: want 2 and access denied", res.code, res.stderr)
		}
		if strings.Contains(res.stdout+res.stderr, laravelSecret) {
			t.Error("the password shows in the output")
		}
	})
}
