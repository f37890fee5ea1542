package dbtest

import (
	"context"
	"database/sql"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
)

// PrivateMariaDB starts a MariaDB server of the test's own, with the server
// options args (e.g. "--default-time-zone=+05:00"), and returns the DSN of an
// empty database on it. It is for tests that need a server-wide setting:
// changing a global variable on the shared server of EnvDSN would change it
// for every other test that runs at the same time.
//
// The server runs mariadbd from PATH (or /usr/sbin) as the current user,
// without grant tables and networking (a Unix socket in a temporary
// directory), and is stopped and its data removed when the test ends. When
// mariadbd is not installed the test is skipped, saying so, unless EnvDSN is
// set: a run against MariaDB must not skip it.
func PrivateMariaDB(t testing.TB, args ...string) string {
	t.Helper()
	bin, err := exec.LookPath("mariadbd")
	if err != nil {
		if _, serr := os.Stat("/usr/sbin/mariadbd"); serr == nil {
			bin, err = "/usr/sbin/mariadbd", nil
		}
	}
	if err != nil {
		if os.Getenv(EnvDSN) != "" {
			t.Fatalf("dbtest: %s is set but mariadbd is not installed: %v", EnvDSN, err)
		}
		t.Skipf("needs a private MariaDB server and mariadbd is not installed (%v); install mariadb-server, or set %s on a machine that has it", err, EnvDSN)
	}
	// A short directory: a socket path must fit in 108 bytes.
	dir, err := os.MkdirTemp("", "sessaudit-mdb-")
	if err != nil {
		t.Fatalf("dbtest: %v", err)
	}
	socket := filepath.Join(dir, "sock")
	cmdArgs := append([]string{
		"--no-defaults", "--datadir=" + dir, "--socket=" + socket, "--skip-networking",
		"--skip-grant-tables", "--log-error=" + filepath.Join(dir, "error.log"),
		"--pid-file=" + filepath.Join(dir, "mariadbd.pid"),
	}, args...)
	if os.Geteuid() == 0 {
		cmdArgs = append(cmdArgs, "--user=root")
	}
	cmd := exec.Command(bin, cmdArgs...)
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		t.Fatalf("dbtest: start %s: %v", bin, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		os.RemoveAll(dir)
	})

	cfg := mysql.NewConfig()
	cfg.User = "root"
	cfg.Net = "unix"
	cfg.Addr = socket
	admin := cfg.FormatDSN()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for {
		err := ping(ctx, admin)
		if err == nil {
			break
		}
		select {
		case werr := <-exited:
			log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			exited <- werr
			t.Fatalf("dbtest: mariadbd exited (%v):\n%s", werr, log)
		case <-ctx.Done():
			t.Fatalf("dbtest: mariadbd did not answer within a minute: %v", err)
		case <-time.After(50 * time.Millisecond):
		}
	}
	name := "sessaudit_t_" + randomHex(t, 8)
	if err := execOne(ctx, admin, "CREATE DATABASE `"+name+"`"); err != nil {
		t.Fatalf("dbtest: create database on private mariadbd: %v", err)
	}
	cfg.DBName = name
	return cfg.FormatDSN()
}

func ping(ctx context.Context, dsn string) error {
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	return db.PingContext(ctx)
}
