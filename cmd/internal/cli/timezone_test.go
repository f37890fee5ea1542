package cli_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/spf13/afero"

	"sessaudit/cmd/internal/cli"
	"sessaudit/db/dbtest"
	"sessaudit/reconcile"
)

// TestAuditTimeZones: created_at, updated_at and session_storage_verified_at
// are TIMESTAMPs, which the server converts with each connection's
// time_zone. The audit must read and write the wall times the application
// does: the application writes them in its app.timezone (--db-time-zone)
// through a connection with the server's default time_zone, or with the one
// its database configuration sets (--db-session-time-zone).
//
// The server's global zone is +05:00 and the application's zone Asia/Tokyo
// (+09:00), so that every wrong pairing moves a time by hours: a row the
// application wrote two hours ago with no directory must be missing, not
// recent, and the application must read back a verification time of now.
// The server is a private mariadbd: setting the global zone of the shared
// one would change it under every other test.
func TestAuditTimeZones(t *testing.T) {
	tokyo, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		// appSessionZone is the time_zone the application's database
		// configuration sets; "" for none.
		appSessionZone string
		flags          []string
	}{
		{"server's default session zone", "", nil},
		{"application sets its session zone", "+02:00", []string{"--db-session-time-zone", "+02:00"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dsn := dbtest.PrivateMariaDB(t, "--default-time-zone=+05:00")
			dbtest.LoadSchema(t, dsn)
			app := appConn(t, dsn, tc.appSessionZone)
			const ws = 7
			root := t.TempDir()
			twoHoursAgo := time.Now().Add(-2 * time.Hour).In(tokyo).Format(time.DateTime)
			for id, session := range []string{"gone", "a", "b", "c"} {
				if session != "gone" {
					dir := filepath.Join(root, fmt.Sprintf("workspace_%d", ws), "session_"+session)
					if err := os.MkdirAll(dir, 0o755); err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(filepath.Join(dir, "creds.json"), []byte("{}"), 0o644); err != nil {
						t.Fatal(err)
					}
				}
				// The application writes its wall time as a string, as
				// Laravel does.
				_, err := app.Exec(`INSERT INTO whatsapp_accounts
					(id, uuid, workspace_id, session_id, session_storage_path, created_by, created_at, updated_at)
					VALUES (?, UUID(), ?, ?, ?, 1, ?, ?)`,
					id+1, ws, fmt.Sprintf("s%d_%s", ws, session),
					fmt.Sprintf("/mnt/efs/workspace_%d/session_%s", ws, session), twoHoursAgo, twoHoursAgo)
				if err != nil {
					t.Fatal(err)
				}
			}

			before := time.Now().Truncate(time.Second)
			args := append([]string{"audit", "--root", root, "--path-prefix", "/mnt/efs", "--dsn", dsn,
				"--db-time-zone", "Asia/Tokyo", "--min-age", "1h",
				"--format", "json", "--log-level", "warn"}, tc.flags...)
			res := run(t, afero.NewOsFs(), args...)
			after := time.Now()
			if res.code != cli.ExitFindings {
				t.Fatalf("exit %d, want 1\nstdout %s\nstderr %s", res.code, res.stdout, res.stderr)
			}
			rep := decodeReport(t, res.stdout)
			if got := rep.Summary.Outcomes[reconcile.Missing]; got != 1 {
				t.Errorf("missing = %d, want 1 (the row written two hours ago); outcomes %v", got, rep.Summary.Outcomes)
			}
			if got := rep.Summary.Outcomes[reconcile.Recent]; got != 0 {
				t.Errorf("recent = %d, want 0; outcomes %v", got, rep.Summary.Outcomes)
			}
			if got := rep.Summary.Outcomes[reconcile.Verified]; got != 3 {
				t.Errorf("verified = %d, want 3; outcomes %v", got, rep.Summary.Outcomes)
			}

			// What the application reads back: the string through its own
			// connection, a wall time in its zone.
			rows, err := app.Query(`SELECT id, DATE_FORMAT(session_storage_verified_at, '%Y-%m-%d %H:%i:%s')
				FROM whatsapp_accounts WHERE workspace_id = ? AND session_storage_verified_at IS NOT NULL`, ws)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			n := 0
			for rows.Next() {
				var (
					id   int
					wall string
				)
				if err := rows.Scan(&id, &wall); err != nil {
					t.Fatal(err)
				}
				n++
				at, err := time.ParseInLocation(time.DateTime, wall, tokyo)
				if err != nil {
					t.Fatal(err)
				}
				if at.Before(before) || at.After(after) {
					t.Errorf("row %d: the application reads verified at %s (%s), want the time of the audit, between %s and %s",
						id, wall, at.Sub(before).Round(time.Minute), before.In(tokyo).Format(time.DateTime), after.In(tokyo).Format(time.DateTime))
				}
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
			if n != 3 {
				t.Errorf("%d rows verified, want 3", n)
			}
		})
	}
}

// appConn is the application's connection pool: the server's default
// time_zone, or zone when not empty, as a Laravel database configuration
// with 'timezone' => zone sets it.
func appConn(t *testing.T, dsn, zone string) *sql.DB {
	t.Helper()
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	if zone != "" {
		cfg.Params = map[string]string{"time_zone": "'" + zone + "'"}
	}
	conn, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := conn.PingContext(ctx); err != nil {
		t.Fatal(err)
	}
	return conn
}

func decodeReport(t *testing.T, stdout string) *reconcile.Report {
	t.Helper()
	var rep reconcile.Report
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("report is not JSON: %v\n%s", err, stdout)
	}
	return &rep
}
