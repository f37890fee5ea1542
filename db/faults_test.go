package db_test

import (
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"sessaudit/db"
	"sessaudit/db/dbtest"
)

// This file tests how WriteSizes lives through database faults. Faults are
// made two ways:
//
//   - for real, on MariaDB: a row lock held by another connection makes the
//     UPDATE wait until innodb_lock_wait_timeout or a deadlock, and KILL ends
//     the writer's connection while it waits. The embedded go-mysql-server
//     has no row locks and cannot set innodb_lock_wait_timeout for a session,
//     so these tests say so and run against MariaDB only.
//   - through faultProxy, a MySQL-protocol proxy between the Store and the
//     server that can hold a command (while the test KILLs the connection
//     from another session), cut the connection before or after a command
//     reaches the server, or answer a command with a server error (1205,
//     1213, 1142, ...) without passing it on. These run on both backends.
//
// Every test connects with the distinctive password of secret (a user made
// for the test on MariaDB; any password does on the embedded server) and
// checks that no error quotes it.

// secretDSN returns a DSN for the database of dsn that carries the password
// secret. On MariaDB it creates a user identified by secret with privileges
// (e.g. "ALL PRIVILEGES", "SELECT") on that database, and drops it when the
// test ends. The user is named sessaudit_pw_test_ plus the random part of the
// database's name: several test processes may share the server, and each
// must own its user. The embedded server accepts any password, so there it is
// root with secret as password.
func secretDSN(t *testing.T, dsn, privileges string) string {
	t.Helper()
	if dbtest.Backend() == "embedded" {
		return withPassword(t, dsn, secret)
	}
	name := dbName(t, dsn)
	pwUser := "sessaudit_pw_test_" + name[len(name)-8:] // 26 characters: MySQL allows 32
	user := "'" + pwUser + "'@'%'"
	dbtest.Exec(t, dsn, fmt.Sprintf("CREATE USER %s IDENTIFIED BY '%s';\nGRANT %s ON `%s`.* TO %s;",
		user, secret, privileges, name, user))
	admin := adminDB(t, dsn)
	t.Cleanup(func() {
		if _, err := admin.Exec("DROP USER IF EXISTS " + user); err != nil {
			t.Errorf("drop user %s: %v", user, err)
		}
	})
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	cfg.User, cfg.Passwd = pwUser, secret
	return cfg.FormatDSN()
}

// adminDB returns a pool on dsn (as root, not through any proxy), closed
// when the test ends.
func adminDB(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	a, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

// kill ends connection id from another session and waits until the server
// no longer lists it.
func kill(admin *sql.DB, id uint64) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// KILL takes no placeholder on the embedded server.
	if _, err := admin.ExecContext(ctx, fmt.Sprintf("KILL %d", id)); err != nil {
		return fmt.Errorf("kill %d: %w", id, err)
	}
	for {
		var n int
		if err := admin.QueryRowContext(ctx, "SELECT COUNT(*) FROM information_schema.processlist WHERE id = ?", id).Scan(&n); err != nil {
			return fmt.Errorf("wait for connection %d to end: %w", id, err)
		}
		if n == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("connection %d still listed after KILL", id)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// waitLockWait waits until connection id waits for a row lock (MariaDB).
// It reads SHOW ENGINE INNODB STATUS, which is live: the InnoDB tables of
// information_schema come from a cache that is refreshed only after 100ms
// without readers, which polling (by this test or another process) starves.
func waitLockWait(t *testing.T, admin *sql.DB, id uint64) {
	t.Helper()
	thread := regexp.MustCompile(fmt.Sprintf(`(MySQL|MariaDB) thread id %d,`, id))
	deadline := time.Now().Add(10 * time.Second)
	for {
		var typ, name, status string
		if err := admin.QueryRow("SHOW ENGINE INNODB STATUS").Scan(&typ, &name, &status); err != nil {
			t.Fatalf("wait for a lock wait of connection %d: %v", id, err)
		}
		for _, trx := range strings.Split(status, "---TRANSACTION ") {
			if thread.MatchString(trx) && strings.Contains(trx, "LOCK WAIT") {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("connection %d never waited for a row lock; InnoDB status:\n%s", id, status)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// MySQL client protocol command bytes.
const (
	comQuery       = 0x03
	comStmtPrepare = 0x16
)

// command is a command a client sent, as the proxy hook sees it.
type command struct {
	code  byte
	query string // SQL text of COM_QUERY and COM_STMT_PREPARE
}

// kind names the commands the tests act on: "begin", "update", "commit",
// "rollback"; "" for the rest.
func (c command) kind() string {
	q := strings.ToUpper(strings.TrimSpace(c.query))
	switch {
	case c.code == comQuery && strings.HasPrefix(q, "START TRANSACTION"):
		return "begin"
	case c.code == comQuery && q == "COMMIT":
		return "commit"
	case c.code == comQuery && q == "ROLLBACK":
		return "rollback"
	case (c.code == comQuery || c.code == comStmtPrepare) && strings.HasPrefix(q, "UPDATE"):
		return "update"
	}
	return ""
}

// action is what the proxy does with a command.
type action struct {
	fail     *mysql.MySQLError // answer with this error; the server never sees the command
	cut      bool              // close the connection; the server never sees the command
	cutReply bool              // pass the command on, close the connection before the answer reaches the client
}

// faultProxy passes the MySQL protocol between clients and a server and
// calls hook with every command a client sends (never with the login). hook
// runs on the connection's own goroutine, may block (the command waits), and
// must be safe for concurrent use. TLS and compression are not supported:
// the go-sql-driver DSN defaults use neither.
type faultProxy struct {
	ln       net.Listener
	upstream string
	hook     func(c *proxyConn, cmd command) action

	mu    sync.Mutex
	conns map[*proxyConn]struct{}
	wg    sync.WaitGroup
}

// proxyConn is one client connection through the proxy.
type proxyConn struct {
	// id is the server's connection id, read from its handshake.
	id       uint64
	client   net.Conn
	server   net.Conn
	cutReply atomic.Bool
	once     sync.Once
	closed   chan struct{}
}

func (c *proxyConn) close() {
	c.once.Do(func() {
		c.client.Close()
		c.server.Close()
		close(c.closed)
	})
}

// newFaultProxy starts a proxy to the server of dsn and returns dsn pointed
// at the proxy. It stops when the test ends.
func newFaultProxy(t *testing.T, dsn string, hook func(c *proxyConn, cmd command) action) string {
	t.Helper()
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &faultProxy{ln: ln, upstream: cfg.Addr, hook: hook, conns: make(map[*proxyConn]struct{})}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(func() {
		ln.Close()
		p.mu.Lock()
		for c := range p.conns {
			c.close()
		}
		p.mu.Unlock()
		p.wg.Wait()
	})
	cfg.Addr = ln.Addr().String()
	return cfg.FormatDSN()
}

func (p *faultProxy) accept() {
	defer p.wg.Done()
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return
		}
		server, err := net.Dial("tcp", p.upstream)
		if err != nil {
			client.Close()
			continue
		}
		c := &proxyConn{client: client, server: server, closed: make(chan struct{})}
		p.mu.Lock()
		p.conns[c] = struct{}{}
		p.mu.Unlock()
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.serve(c)
		}()
	}
}

func readPacket(r io.Reader) (header [4]byte, payload []byte, err error) {
	if _, err = io.ReadFull(r, header[:]); err != nil {
		return header, nil, err
	}
	payload = make([]byte, int(header[0])|int(header[1])<<8|int(header[2])<<16)
	_, err = io.ReadFull(r, payload)
	return header, payload, err
}

func (p *faultProxy) serve(c *proxyConn) {
	defer c.close()
	// The server speaks first; its handshake carries the connection id after
	// the protocol version and the NUL-terminated server version.
	h, hello, err := readPacket(c.server)
	if err != nil {
		return
	}
	if len(hello) > 1 && hello[0] == 10 {
		if end := slices.Index(hello[1:], 0); end >= 0 && len(hello) >= end+6 {
			c.id = uint64(binary.LittleEndian.Uint32(hello[end+2:]))
		}
	}
	if _, err := c.client.Write(append(h[:], hello...)); err != nil {
		return
	}
	p.wg.Add(1)
	go func() { // server to client
		defer p.wg.Done()
		defer c.close()
		buf := make([]byte, 64<<10)
		for {
			n, err := c.server.Read(buf)
			if n > 0 && c.cutReply.Load() {
				return
			}
			if n > 0 {
				if _, werr := c.client.Write(buf[:n]); werr != nil {
					return
				}
			}
			if err != nil {
				return
			}
		}
	}()
	for { // client to server
		h, payload, err := readPacket(c.client)
		if err != nil {
			return
		}
		var act action
		if h[3] == 0 && len(payload) > 0 { // sequence 0: a new command
			cmd := command{code: payload[0]}
			if cmd.code == comQuery || cmd.code == comStmtPrepare {
				cmd.query = string(payload[1:])
			}
			act = p.hook(c, cmd)
		}
		switch {
		case act.cut:
			return
		case act.fail != nil:
			if _, err := c.client.Write(errPacket(act.fail)); err != nil {
				return
			}
			continue
		case act.cutReply:
			c.cutReply.Store(true)
		}
		if _, err := c.server.Write(append(h[:], payload...)); err != nil {
			return
		}
	}
}

// errPacket is a server's ERR packet answering a command (sequence 1).
func errPacket(e *mysql.MySQLError) []byte {
	state := string(e.SQLState[:])
	if e.SQLState == [5]byte{} {
		state = "HY000"
	}
	payload := []byte{0xff, byte(e.Number), byte(e.Number >> 8), '#'}
	payload = append(payload, state...)
	payload = append(payload, e.Message...)
	n := len(payload)
	return append([]byte{byte(n), byte(n >> 8), byte(n >> 16), 1}, payload...)
}

// faultRows are six rows written in chunks of two by faultBatch. Their old
// values are set, so that a half-written row would show.
const faultRows = `
INSERT INTO whatsapp_accounts (id, uuid, workspace_id, session_id, session_storage_path, session_file_size_bytes, session_storage_verified_at, created_by) VALUES
	(1, 'u1', 1, 's1', '/p/1', 7, '2025-01-01 00:00:00', 1),
	(2, 'u2', 1, 's2', '/p/2', 7, '2025-01-01 00:00:00', 1),
	(3, 'u3', 1, 's3', '/p/3', 7, '2025-01-01 00:00:00', 1),
	(4, 'u4', 1, 's4', '/p/4', 7, '2025-01-01 00:00:00', 1),
	(5, 'u5', 1, 's5', '/p/5', 7, '2025-01-01 00:00:00', 1),
	(6, 'u6', 1, 's6', '/p/6', 7, '2025-01-01 00:00:00', 1);
`

var (
	faultVerifiedAt = time.Date(2025, 11, 22, 1, 2, 3, 0, time.UTC)
	faultBatch      = func() []db.SizeUpdate {
		var b []db.SizeUpdate
		for i := uint64(1); i <= 6; i++ {
			b = append(b, db.SizeUpdate{ID: i, StoragePath: fmt.Sprintf("/p/%d", i), SizeBytes: int64(i * 1000)})
		}
		return b
	}()
)

// faultDB returns the root DSN of a fresh database holding faultRows.
func faultDB(t *testing.T) string {
	t.Helper()
	dsn := newDB(t)
	dbtest.Exec(t, dsn, faultRows)
	return dsn
}

// rowStates reads rows 1 to 6 and returns the ids written by faultBatch. A
// row with only one of its two columns written fails the test. It may be
// called from a proxy hook, so it never stops the test (no t.Fatal).
func rowStates(t *testing.T, admin *sql.DB) []uint64 {
	t.Helper()
	rows, err := admin.Query("SELECT id, session_file_size_bytes, session_storage_verified_at FROM whatsapp_accounts WHERE id BETWEEN 1 AND 6 ORDER BY id")
	if err != nil {
		t.Errorf("read rows: %v", err)
		return nil
	}
	defer rows.Close()
	var written []uint64
	for rows.Next() {
		var (
			id       uint64
			size     sql.NullInt64
			verified sql.NullString
		)
		if err := rows.Scan(&id, &size, &verified); err != nil {
			t.Errorf("read rows: %v", err)
			return nil
		}
		newSize := size.Int64 == int64(id*1000)
		newTime := strings.HasPrefix(verified.String, "2025-11-22 01:02:03")
		oldSize := size.Int64 == 7
		oldTime := strings.HasPrefix(verified.String, "2025-01-01 00:00:00")
		switch {
		case newSize && newTime:
			written = append(written, id)
		case oldSize && oldTime:
		default:
			t.Errorf("row %d half written: size %v, verified_at %v", id, size, verified)
		}
	}
	if err := rows.Err(); err != nil {
		t.Errorf("read rows: %v", err)
	}
	return written
}

// retries records the calls of Config.OnRetry.
type retries struct {
	mu    sync.Mutex
	errs  []error
	waits []time.Duration
	then  func(n int) // called after the n-th retry is recorded, when set
}

func (r *retries) record(err error, attempt int, wait time.Duration) {
	r.mu.Lock()
	r.errs = append(r.errs, err)
	r.waits = append(r.waits, wait)
	n, then := len(r.errs), r.then
	r.mu.Unlock()
	if then != nil {
		then(n)
	}
}

func (r *retries) get() ([]error, []time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.errs), slices.Clone(r.waits)
}

// counter counts commands by kind; its methods are safe for concurrent use.
type counter struct {
	mu sync.Mutex
	n  map[string]int
}

// add counts cmd and returns how many of its kind were seen, this one
// included.
func (c *counter) add(cmd command) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = make(map[string]int)
	}
	c.n[cmd.kind()]++
	return c.n[cmd.kind()]
}

func (c *counter) get(kind string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[kind]
}

func mysqlErr(number uint16, msg string) *mysql.MySQLError {
	return &mysql.MySQLError{Number: number, Message: msg}
}

func TestWriteSizesFaults(t *testing.T) {
	t.Logf("backend: %s", dbtest.Backend())
	lockWait := mysqlErr(1205, "Lock wait timeout exceeded; try restarting transaction")
	type env struct {
		t     *testing.T
		admin *sql.DB
		// seen holds what the test observed from inside the hook.
		mu   sync.Mutex
		seen []string
	}
	note := func(e *env, s string) {
		e.mu.Lock()
		e.seen = append(e.seen, s)
		e.mu.Unlock()
	}
	// failUpdate fails the n-th UPDATE with err; failUpdatesFrom fails it
	// and every later one.
	failUpdate := func(n int, err *mysql.MySQLError) func(*env, *proxyConn, string, int) action {
		return func(_ *env, _ *proxyConn, kind string, i int) action {
			if kind == "update" && i == n {
				return action{fail: err}
			}
			return action{}
		}
	}
	failUpdatesFrom := func(n int, err *mysql.MySQLError) func(*env, *proxyConn, string, int) action {
		return func(_ *env, _ *proxyConn, kind string, i int) action {
			if kind == "update" && i >= n {
				return action{fail: err}
			}
			return action{}
		}
	}
	tests := []struct {
		name string
		// fault decides what happens to the n-th command of its kind.
		fault func(e *env, c *proxyConn, kind string, n int) action
		// cancelOnRetry cancels the context of WriteSizes at the first retry.
		cancelOnRetry bool

		wantErr     func(error) bool // nil: success
		wantWritten int
		wantRows    []uint64 // ids holding the new values afterwards
		wantRetries int
		wantUpdates int      // UPDATE statements sent in all
		wantSeen    []string // notes taken by fault
		minElapsed  time.Duration
	}{
		{
			name: "connection cut at the UPDATE",
			fault: func(e *env, c *proxyConn, kind string, n int) action {
				return action{cut: kind == "update" && n == 2}
			},
			wantWritten: 6, wantRows: []uint64{1, 2, 3, 4, 5, 6}, wantRetries: 1, wantUpdates: 4,
		},
		{
			name: "connection cut before COMMIT reached the server",
			fault: func(e *env, c *proxyConn, kind string, n int) action {
				if kind == "begin" && n == 3 { // the retry of chunk 2
					note(e, fmt.Sprintf("before the retry, written: %v", rowStates(e.t, e.admin)))
				}
				return action{cut: kind == "commit" && n == 2}
			},
			wantWritten: 6, wantRows: []uint64{1, 2, 3, 4, 5, 6}, wantRetries: 1, wantUpdates: 4,
			// The server rolled chunk 2 back.
			wantSeen: []string{"before the retry, written: [1 2]"},
		},
		{
			name: "connection cut after COMMIT reached the server",
			fault: func(e *env, c *proxyConn, kind string, n int) action {
				if kind == "begin" && n == 3 {
					note(e, fmt.Sprintf("before the retry, written: %v", rowStates(e.t, e.admin)))
				}
				return action{cutReply: kind == "commit" && n == 2}
			},
			wantWritten: 6, wantRows: []uint64{1, 2, 3, 4, 5, 6}, wantRetries: 1, wantUpdates: 4,
			// The server committed chunk 2 though the client heard nothing:
			// writing it again is harmless and still counts its rows.
			wantSeen: []string{"before the retry, written: [1 2 3 4]"},
		},
		{
			name: "connection killed between chunks",
			fault: func(e *env, c *proxyConn, kind string, n int) action {
				if kind == "begin" && n == 2 { // chunk 1 committed, chunk 2 not begun
					if err := kill(e.admin, c.id); err != nil {
						e.t.Error(err)
					}
					<-c.closed
					note(e, "killed")
				}
				return action{}
			},
			wantWritten: 6, wantRows: []uint64{1, 2, 3, 4, 5, 6}, wantRetries: 1, wantUpdates: 3,
			wantSeen: []string{"killed"},
		},
		{
			name: "connection killed during a chunk",
			fault: func(e *env, c *proxyConn, kind string, n int) action {
				if kind == "update" && n == 2 { // chunk 2 begun, its UPDATE not yet run
					if err := kill(e.admin, c.id); err != nil {
						e.t.Error(err)
					}
					<-c.closed
					note(e, "killed")
				}
				return action{}
			},
			wantWritten: 6, wantRows: []uint64{1, 2, 3, 4, 5, 6}, wantRetries: 1, wantUpdates: 4,
			wantSeen: []string{"killed"},
		},
		{
			name:        "lock wait timeout once",
			fault:       failUpdate(2, lockWait),
			wantWritten: 6, wantRows: []uint64{1, 2, 3, 4, 5, 6}, wantRetries: 1, wantUpdates: 4,
		},
		{
			name:        "deadlock once",
			fault:       failUpdate(2, mysqlErr(1213, "Deadlock found when trying to get lock; try restarting transaction")),
			wantWritten: 6, wantRows: []uint64{1, 2, 3, 4, 5, 6}, wantRetries: 1, wantUpdates: 4,
		},
		{
			name:        "connection killed, as MariaDB reports it",
			fault:       failUpdate(2, mysqlErr(1927, "Connection was killed")),
			wantWritten: 6, wantRows: []uint64{1, 2, 3, 4, 5, 6}, wantRetries: 1, wantUpdates: 4,
		},
		{
			name:        "lock wait timeout every time",
			fault:       failUpdatesFrom(2, lockWait),
			wantErr:     isMySQLErr(1205),
			wantWritten: 2, wantRows: []uint64{1, 2}, wantRetries: 3, wantUpdates: 5,
			minElapsed: 700 * time.Millisecond,
		},
		{
			name:        "permission denied",
			fault:       failUpdate(2, mysqlErr(1142, "UPDATE command denied to user 'sessaudit_pw_test_0'@'localhost' for table `whatsapp_accounts`")),
			wantErr:     isMySQLErr(1142),
			wantWritten: 2, wantRows: []uint64{1, 2}, wantRetries: 0, wantUpdates: 2,
		},
		{
			name:        "syntax error",
			fault:       failUpdate(1, mysqlErr(1064, "You have an error in your SQL syntax")),
			wantErr:     isMySQLErr(1064),
			wantWritten: 0, wantRows: nil, wantRetries: 0, wantUpdates: 1,
		},
		{
			name:  "server error quoting the password",
			fault: failUpdatesFrom(2, mysqlErr(1205, "Lock wait timeout exceeded for a client that logged in with "+secret)),
			// The error is retried like any 1205, but the message is cut
			// out of the chain for quoting the password.
			wantErr:     func(err error) bool { return strings.Contains(err.Error(), "logged in with xxxxx") },
			wantWritten: 2, wantRows: []uint64{1, 2}, wantRetries: 3, wantUpdates: 5,
		},
		{
			name:          "cancelled while waiting to retry",
			fault:         failUpdatesFrom(2, lockWait),
			cancelOnRetry: true,
			wantErr: func(err error) bool {
				return errors.Is(err, context.Canceled) && isMySQLErr(1205)(err)
			},
			wantWritten: 2, wantRows: []uint64{1, 2}, wantRetries: 1, wantUpdates: 2,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dsn := faultDB(t)
			e := &env{t: t, admin: adminDB(t, dsn)}
			var cmds counter
			proxied := newFaultProxy(t, secretDSN(t, dsn, "ALL PRIVILEGES"), func(c *proxyConn, cmd command) action {
				kind := cmd.kind()
				n := cmds.add(cmd)
				if kind == "" {
					return action{}
				}
				return tc.fault(e, c, kind, n)
			})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var rec retries
			var cancelled atomic.Int64 // when cancel was called, in ns since start
			start := time.Now()
			if tc.cancelOnRetry {
				rec.then = func(int) {
					cancelled.Store(int64(time.Since(start)))
					cancel()
				}
			}
			s := open(t, db.Config{DSN: proxied, BatchSize: 2, OnRetry: rec.record})

			n, err := s.WriteSizes(ctx, faultBatch, faultVerifiedAt)
			elapsed := time.Since(start)
			t.Logf("WriteSizes = %d, %v (%s)", n, err, elapsed.Round(time.Millisecond))

			switch {
			case tc.wantErr == nil && err != nil:
				t.Errorf("WriteSizes: %v", err)
			case tc.wantErr != nil && err == nil:
				t.Errorf("WriteSizes succeeded, want an error")
			case tc.wantErr != nil && !tc.wantErr(err):
				t.Errorf("WriteSizes error %v is not the one expected", err)
			}
			assertNoSecret(t, err, secret)
			if n != tc.wantWritten {
				t.Errorf("WriteSizes wrote %d rows, want %d", n, tc.wantWritten)
			}
			if got := rowStates(t, e.admin); !slices.Equal(got, tc.wantRows) {
				t.Errorf("rows written: %v, want %v", got, tc.wantRows)
			}
			errs, waits := rec.get()
			for i, re := range errs {
				t.Logf("retry %d after %s: %v", i+1, waits[i], re)
				assertNoSecret(t, re, secret)
			}
			if len(errs) != tc.wantRetries {
				t.Errorf("%d retries, want %d", len(errs), tc.wantRetries)
			}
			if want := []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond}[:min(len(waits), 3)]; !slices.Equal(waits, want) {
				t.Errorf("pauses %v, want %v", waits, want)
			}
			if got := cmds.get("update"); got != tc.wantUpdates {
				t.Errorf("%d UPDATE statements sent, want %d", got, tc.wantUpdates)
			}
			e.mu.Lock()
			if !slices.Equal(e.seen, tc.wantSeen) {
				t.Errorf("seen %q, want %q", e.seen, tc.wantSeen)
			}
			e.mu.Unlock()
			if elapsed < tc.minElapsed {
				t.Errorf("WriteSizes returned after %s, want at least %s of backoff", elapsed, tc.minElapsed)
			}
			if c := time.Duration(cancelled.Load()); tc.cancelOnRetry && elapsed-c > 50*time.Millisecond {
				t.Errorf("WriteSizes returned %s after its context was cancelled, want at once", elapsed-c)
			}
		})
	}
}

func isMySQLErr(number uint16) func(error) bool {
	return func(err error) bool {
		var me *mysql.MySQLError
		return errors.As(err, &me) && me.Number == number
	}
}

// requireRowLocks explains why a test needs MariaDB and skips it on the
// embedded server.
func requireRowLocks(t *testing.T) {
	t.Helper()
	if dbtest.Backend() == "embedded" {
		t.Skipf("needs row locks and a per-session innodb_lock_wait_timeout, which the embedded go-mysql-server lacks;"+
			" runs when %s points at MariaDB (TestWriteSizesFaults injects the same faults on both)", dbtest.EnvDSN)
	}
}

// holdRow starts a transaction on its own connection that locks the rows
// ids FOR UPDATE, and returns it; the test ends it.
func holdRows(t *testing.T, admin *sql.DB, ids ...uint64) *sql.Tx {
	t.Helper()
	tx, err := admin.Begin()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tx.Rollback() })
	for _, id := range ids {
		if _, err := tx.Exec("SELECT id FROM whatsapp_accounts WHERE id = ? FOR UPDATE", id); err != nil {
			t.Fatalf("lock row %d: %v", id, err)
		}
	}
	return tx
}

// updateConns returns a proxy hook that sends the server connection id of
// every UPDATE, in order, on the channel it returns.
func updateConns() (func(c *proxyConn, cmd command) action, <-chan uint64) {
	ch := make(chan uint64, 16)
	return func(c *proxyConn, cmd command) action {
		if cmd.kind() == "update" {
			ch <- c.id
		}
		return action{}
	}, ch
}

func TestWriteSizesKilledWhileWaiting(t *testing.T) {
	requireRowLocks(t)
	dsn := faultDB(t)
	admin := adminDB(t, dsn)
	hook, updates := updateConns()
	proxied := newFaultProxy(t, secretDSN(t, dsn, "ALL PRIVILEGES"), hook)
	var rec retries
	s := open(t, db.Config{DSN: proxied, BatchSize: 2, OnRetry: rec.record})

	holder := holdRows(t, admin, 3) // chunk 2 waits for it
	type result struct {
		n   int
		err error
	}
	done := make(chan result, 1)
	go func() {
		n, err := s.WriteSizes(context.Background(), faultBatch, faultVerifiedAt)
		done <- result{n, err}
	}()
	<-updates // chunk 1
	writer := <-updates
	waitLockWait(t, admin, writer)
	if err := kill(admin, writer); err != nil {
		t.Fatal(err)
	}
	t.Logf("killed connection %d while its UPDATE waited for a row lock", writer)
	retried := <-updates // the retry waits again
	waitLockWait(t, admin, retried)
	if err := holder.Rollback(); err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.err != nil || r.n != 6 {
		t.Fatalf("WriteSizes = %d, %v; want 6, nil", r.n, r.err)
	}
	errs, _ := rec.get()
	if len(errs) != 1 {
		t.Fatalf("%d retries (%v), want 1", len(errs), errs)
	}
	t.Logf("retried after: %v", errs[0])
	if got := rowStates(t, admin); len(got) != 6 {
		t.Errorf("rows written: %v, want all six", got)
	}
}

func TestWriteSizesLockWaitTimeout(t *testing.T) {
	requireRowLocks(t)
	tests := []struct {
		name        string
		releaseAt   int // release the row lock at this retry; 0: never
		wantErr     bool
		wantWritten int
		wantRows    []uint64
		wantRetries int
	}{
		{"lock released after the first timeout", 1, false, 6, []uint64{1, 2, 3, 4, 5, 6}, 1},
		{"lock held throughout", 0, true, 2, []uint64{1, 2}, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dsn := faultDB(t)
			admin := adminDB(t, dsn)
			holder := holdRows(t, admin, 3)
			rec := retries{then: func(n int) {
				if n == tc.releaseAt {
					holder.Rollback()
				}
			}}
			// A one-second innodb_lock_wait_timeout for the Store's sessions.
			cfg, err := mysql.ParseDSN(secretDSN(t, dsn, "ALL PRIVILEGES"))
			if err != nil {
				t.Fatal(err)
			}
			cfg.Params = map[string]string{"innodb_lock_wait_timeout": "1"}
			s := open(t, db.Config{DSN: cfg.FormatDSN(), BatchSize: 2, OnRetry: rec.record})

			start := time.Now()
			n, err := s.WriteSizes(context.Background(), faultBatch, faultVerifiedAt)
			t.Logf("WriteSizes = %d, %v (%s)", n, err, time.Since(start).Round(time.Millisecond))
			if tc.wantErr != (err != nil) {
				t.Errorf("WriteSizes error = %v, want error: %t", err, tc.wantErr)
			}
			if tc.wantErr && !isMySQLErr(1205)(err) {
				t.Errorf("WriteSizes error %v is not error 1205", err)
			}
			assertNoSecret(t, err, secret)
			if n != tc.wantWritten {
				t.Errorf("WriteSizes wrote %d rows, want %d", n, tc.wantWritten)
			}
			if got := rowStates(t, admin); !slices.Equal(got, tc.wantRows) {
				t.Errorf("rows written: %v, want %v", got, tc.wantRows)
			}
			errs, _ := rec.get()
			if len(errs) != tc.wantRetries {
				t.Errorf("%d retries, want %d", len(errs), tc.wantRetries)
			}
			for _, re := range errs {
				if !isMySQLErr(1205)(re) {
					t.Errorf("retried after %v, want error 1205", re)
				}
			}
		})
	}
}

// TestWriteSizesRangeWaitsForNoOtherRow: a chunk of dense ids is written
// as a range of ids, which passes over the rows between them that it does
// not write. The application may hold one of those: the write must neither
// wait for it nor write it.
func TestWriteSizesRangeWaitsForNoOtherRow(t *testing.T) {
	requireRowLocks(t)
	dsn := faultDB(t)
	admin := adminDB(t, dsn)
	holder := holdRows(t, admin, 3)
	defer holder.Rollback()
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Params = map[string]string{"innodb_lock_wait_timeout": "1"}
	var rec retries
	s := open(t, db.Config{DSN: cfg.FormatDSN(), OnRetry: rec.record})

	batch := slices.Delete(slices.Clone(faultBatch), 2, 3) // all but row 3
	n, err := s.WriteSizes(context.Background(), batch, faultVerifiedAt)
	if err != nil || n != 5 {
		t.Fatalf("WriteSizes = %d, %v; want 5, nil", n, err)
	}
	if errs, _ := rec.get(); len(errs) > 0 {
		t.Errorf("WriteSizes waited for the held row: %v", errs)
	}
	holder.Rollback()
	if got, want := rowStates(t, admin), []uint64{1, 2, 4, 5, 6}; !slices.Equal(got, want) {
		t.Errorf("rows written: %v, want %v", got, want)
	}
}

func TestWriteSizesDeadlock(t *testing.T) {
	requireRowLocks(t)
	dsn := faultDB(t)
	admin := adminDB(t, dsn)
	hook, updates := updateConns()
	proxied := newFaultProxy(t, secretDSN(t, dsn, "ALL PRIVILEGES"), hook)
	var rec retries
	s := open(t, db.Config{DSN: proxied, BatchSize: 2, OnRetry: rec.record})

	// InnoDB rolls back the transaction that has done less work: the holder
	// writes ballast first so that the victim is the writer.
	dbtest.Exec(t, dsn, "CREATE TABLE ballast (n INT PRIMARY KEY);")
	holder := holdRows(t, admin)
	var values []string
	for i := range 200 {
		values = append(values, fmt.Sprintf("(%d)", i))
	}
	if _, err := holder.Exec("INSERT INTO ballast VALUES " + strings.Join(values, ",")); err != nil {
		t.Fatal(err)
	}
	if _, err := holder.Exec("SELECT id FROM whatsapp_accounts WHERE id = 2 FOR UPDATE"); err != nil {
		t.Fatal(err)
	}
	type result struct {
		n   int
		err error
	}
	done := make(chan result, 1)
	go func() {
		n, err := s.WriteSizes(context.Background(), faultBatch, faultVerifiedAt)
		done <- result{n, err}
	}()
	// The writer's UPDATE of rows 1 and 2 takes row 1 and waits for row 2;
	// the holder then asks for row 1.
	waitLockWait(t, admin, <-updates)
	if _, err := holder.Exec("SELECT id FROM whatsapp_accounts WHERE id = 1 FOR UPDATE"); err != nil {
		t.Fatalf("the server chose the holder as the deadlock victim: %v", err)
	}
	if err := holder.Commit(); err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.err != nil || r.n != 6 {
		t.Fatalf("WriteSizes = %d, %v; want 6, nil", r.n, r.err)
	}
	errs, _ := rec.get()
	if len(errs) != 1 || !isMySQLErr(1213)(errs[0]) {
		t.Fatalf("retries %v, want one after error 1213", errs)
	}
	t.Logf("retried after: %v", errs[0])
	if got := rowStates(t, admin); len(got) != 6 {
		t.Errorf("rows written: %v, want all six", got)
	}
}

func TestWriteSizesPermissionDenied(t *testing.T) {
	if dbtest.Backend() == "embedded" {
		t.Skipf("the embedded go-mysql-server checks no privileges; runs when %s points at MariaDB"+
			" (TestWriteSizesFaults injects error 1142 on both)", dbtest.EnvDSN)
	}
	dsn := faultDB(t)
	admin := adminDB(t, dsn)
	var rec retries
	s := open(t, db.Config{DSN: secretDSN(t, dsn, "SELECT"), BatchSize: 2, OnRetry: rec.record})
	start := time.Now()
	n, err := s.WriteSizes(context.Background(), faultBatch, faultVerifiedAt)
	elapsed := time.Since(start)
	t.Logf("WriteSizes = %d, %v (%s)", n, err, elapsed.Round(time.Millisecond))
	if n != 0 || !isMySQLErr(1142)(err) {
		t.Errorf("WriteSizes = %d, %v; want 0, error 1142", n, err)
	}
	assertNoSecret(t, err, secret)
	if errs, _ := rec.get(); len(errs) != 0 {
		t.Errorf("retried %d times after a permission error", len(errs))
	}
	if elapsed > time.Second {
		t.Errorf("WriteSizes took %s to report a permission error", elapsed)
	}
	if got := rowStates(t, admin); len(got) != 0 {
		t.Errorf("rows written: %v, want none", got)
	}
}
