package db_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"sessaudit/db"
	"sessaudit/db/dbtest"
)

// lockHolder asks the server, from another session, which connection holds
// the lock name; 0 when none does.
func lockHolder(t *testing.T, admin *sql.DB, name string) uint64 {
	t.Helper()
	var id sql.NullInt64
	if err := admin.QueryRow("SELECT IS_USED_LOCK(?)", name).Scan(&id); err != nil {
		t.Fatalf("IS_USED_LOCK(%q): %v", name, err)
	}
	return uint64(id.Int64)
}

func TestLock(t *testing.T) {
	t.Logf("backend: %s", dbtest.Backend())
	dsn := newDB(t)
	admin := adminDB(t, dsn)
	sdsn := secretDSN(t, dsn, "ALL PRIVILEGES")
	// Two audits of the same table, as two processes would be.
	a := open(t, db.Config{DSN: sdsn})
	b := open(t, db.Config{DSN: sdsn})
	ctx := context.Background()

	la, err := a.Lock(ctx, "all")
	if err != nil {
		t.Fatalf("Lock: %v", err)
	}
	if want := "sessaudit:" + dbName(t, dsn) + ".whatsapp_accounts:all"; la.Name() != want {
		t.Errorf("Name() = %q, want %q", la.Name(), want)
	}
	if held, err := la.Held(ctx); !held || err != nil {
		t.Errorf("Held = %t, %v; want true, nil", held, err)
	}
	holder := lockHolder(t, admin, la.Name())
	if holder == 0 {
		t.Fatalf("the server says nobody holds %s", la.Name())
	}

	tests := []struct {
		name  string
		store *db.Store
	}{
		{"another audit", b},
		{"the same Store again", a},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			l, err := tc.store.Lock(ctx, "all")
			elapsed := time.Since(start)
			if err == nil {
				l.Release(ctx)
				t.Fatal("Lock succeeded while another session holds the lock")
			}
			t.Logf("%s: %v", elapsed.Round(time.Millisecond), err)
			if !errors.Is(err, db.ErrLocked) {
				t.Errorf("Lock error = %v, want ErrLocked", err)
			}
			var le *db.LockedError
			if !errors.As(err, &le) {
				t.Fatalf("Lock error %T is not a *LockedError", err)
			}
			if le.HolderID != holder {
				t.Errorf("HolderID = %d, want %d", le.HolderID, holder)
			}
			for _, want := range []string{"another sessaudit audit holds the lock " + la.Name(), fmt.Sprintf("connection %d", holder)} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("Lock error %q does not say %q", err, want)
				}
			}
			if le.User == "" {
				t.Errorf("LockedError does not name the holder's user (processlist)")
			}
			if elapsed > 5*time.Second {
				t.Errorf("Lock took %s to give up, want a few seconds", elapsed)
			}
			assertNoSecret(t, err, secret)
		})
	}

	t.Run("another scope", func(t *testing.T) {
		l, err := b.Lock(ctx, "workspaces-1-100")
		if err != nil {
			t.Fatalf("Lock of another scope: %v", err)
		}
		if err := l.Release(ctx); err != nil {
			t.Errorf("Release: %v", err)
		}
	})

	if err := la.Release(ctx); err != nil {
		t.Fatalf("Release: %v", err)
	}
	if held, err := la.Held(ctx); held || err != nil {
		t.Errorf("Held after Release = %t, %v; want false, nil", held, err)
	}
	if err := la.Release(ctx); err != nil {
		t.Errorf("second Release: %v", err)
	}
	if id := lockHolder(t, admin, la.Name()); id != 0 {
		t.Errorf("connection %d holds the lock after Release", id)
	}

	start := time.Now()
	lb, err := b.Lock(ctx, "all")
	if err != nil {
		t.Fatalf("Lock after Release: %v", err)
	}
	if elapsed := time.Since(start); elapsed > time.Second {
		t.Errorf("Lock after Release took %s", elapsed)
	}
	// Close releases what is still held.
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if id := lockHolder(t, admin, lb.Name()); id != 0 {
		t.Errorf("connection %d holds the lock after Close", id)
	}
}

func TestLockKilled(t *testing.T) {
	t.Logf("backend: %s", dbtest.Backend())
	dsn := faultDB(t)
	admin := adminDB(t, dsn)
	sdsn := secretDSN(t, dsn, "ALL PRIVILEGES")
	a := open(t, db.Config{DSN: sdsn, BatchSize: 2})
	b := open(t, db.Config{DSN: sdsn, BatchSize: 2})
	ctx := context.Background()

	const scope = "all"
	la, err := a.Lock(ctx, scope)
	if err != nil {
		t.Fatalf("Lock: %v", err)
	}
	_, err = b.Lock(ctx, scope)
	if !errors.Is(err, db.ErrLocked) {
		t.Fatalf("second Lock error = %v, want ErrLocked", err)
	}
	assertNoSecret(t, err, secret)

	holder := lockHolder(t, admin, la.Name())
	if err := kill(admin, holder); err != nil {
		t.Fatal(err)
	}
	t.Logf("killed connection %d, holder of the lock", holder)

	// The Store whose lock is gone writes nothing.
	n, err := a.WriteSizes(ctx, faultBatch, faultVerifiedAt)
	if n != 0 || !errors.Is(err, db.ErrLockLost) {
		t.Errorf("WriteSizes without the lock = %d, %v; want 0, ErrLockLost", n, err)
	}
	t.Logf("WriteSizes: %v", err)
	assertNoSecret(t, err, secret)
	if got := rowStates(t, admin); len(got) != 0 {
		t.Errorf("rows written without the lock: %v", got)
	}
	held, err := la.Held(ctx)
	if held || !errors.Is(err, db.ErrLockLost) {
		t.Errorf("Held after KILL = %t, %v; want false, ErrLockLost", held, err)
	}
	assertNoSecret(t, err, secret)

	// Another audit takes over and writes.
	lb, err := b.Lock(ctx, scope)
	if err != nil {
		t.Fatalf("Lock after the holder was killed: %v", err)
	}
	if n, err := b.WriteSizes(ctx, faultBatch, faultVerifiedAt); n != 6 || err != nil {
		t.Errorf("WriteSizes with the lock = %d, %v; want 6, nil", n, err)
	}
	if err := lb.Release(ctx); err != nil {
		t.Errorf("Release: %v", err)
	}

	// Releasing the lost lock says it was lost.
	err = la.Release(ctx)
	if !errors.Is(err, db.ErrLockLost) {
		t.Errorf("Release of the killed lock = %v, want ErrLockLost", err)
	}
	assertNoSecret(t, err, secret)
}

func TestLockLostDuringWrite(t *testing.T) {
	t.Logf("backend: %s", dbtest.Backend())
	dsn := faultDB(t)
	admin := adminDB(t, dsn)
	// Chunk 2 waits, held in the proxy, while the lock's connection is
	// killed; its retry must then stop for want of the lock.
	var cmds counter
	var lockConn atomic.Uint64
	proxied := newFaultProxy(t, secretDSN(t, dsn, "ALL PRIVILEGES"), func(c *proxyConn, cmd command) action {
		if cmd.kind() == "update" && cmds.add(cmd) == 2 {
			if err := kill(admin, lockConn.Load()); err != nil {
				t.Error(err)
			}
			return action{fail: mysqlErr(1213, "Deadlock found when trying to get lock; try restarting transaction")}
		}
		return action{}
	})
	var rec retries
	s := open(t, db.Config{DSN: proxied, BatchSize: 2, OnRetry: rec.record})
	l, err := s.Lock(context.Background(), "all")
	if err != nil {
		t.Fatal(err)
	}
	lockConn.Store(lockHolder(t, admin, l.Name()))

	n, err := s.WriteSizes(context.Background(), faultBatch, faultVerifiedAt)
	t.Logf("WriteSizes = %d, %v", n, err)
	if n != 2 || !errors.Is(err, db.ErrLockLost) {
		t.Errorf("WriteSizes = %d, %v; want 2, ErrLockLost", n, err)
	}
	if errs, _ := rec.get(); len(errs) != 1 {
		t.Errorf("%d retries (%v), want 1: the deadlock, and none once the lock is lost", len(errs), errs)
	}
	if got := rowStates(t, admin); len(got) != 2 {
		t.Errorf("rows written: %v, want 1 and 2 only", got)
	}
	if got := cmds.get("update"); got != 2 {
		t.Errorf("%d UPDATE statements, want 2: none after the lock was lost", got)
	}
	assertNoSecret(t, err, secret)
}

func TestLockName(t *testing.T) {
	dsn := newDB(t)
	s := open(t, db.Config{DSN: dsn})
	ctx := context.Background()
	long := strings.Repeat("workspace-shard-", 8)
	prefix := "sessaudit:" + dbName(t, dsn) + ".whatsapp_accounts:"

	l1, err := s.Lock(ctx, long+"1")
	if err != nil {
		t.Fatal(err)
	}
	l2, err := s.Lock(ctx, long+"2")
	if err != nil {
		t.Fatalf("Lock of a second long scope: %v", err)
	}
	for _, l := range []*db.Lock{l1, l2} {
		if len(l.Name()) > 64 || !strings.HasPrefix(prefix+long, strings.Split(l.Name(), "~")[0]) {
			t.Errorf("Name() = %q (%d bytes), want at most 64 starting as %q", l.Name(), len(l.Name()), prefix)
		}
	}
	if l1.Name() == l2.Name() {
		t.Errorf("two scopes share the lock %q", l1.Name())
	}
	name := l1.Name()
	l1.Release(ctx)
	l2.Release(ctx)
	again, err := s.Lock(ctx, long+"1")
	if err != nil {
		t.Fatal(err)
	}
	defer again.Release(ctx)
	if again.Name() != name {
		t.Errorf("the same scope got %q, then %q", name, again.Name())
	}

	if _, err := s.Lock(ctx, ""); err == nil {
		t.Error("Lock accepted an empty scope")
	}
}

func TestLockCancelled(t *testing.T) {
	dsn := newDB(t)
	a := open(t, db.Config{DSN: dsn})
	b := open(t, db.Config{DSN: dsn})
	la, err := a.Lock(context.Background(), "all")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = b.Lock(ctx, "all")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Lock with an expiring context = %v, want context.DeadlineExceeded", err)
	}
	if elapsed := time.Since(start); elapsed > time.Second {
		t.Errorf("Lock returned %s after its context expired", elapsed)
	}
	if err := la.Release(context.Background()); err != nil {
		t.Fatal(err)
	}
	// The abandoned attempt left nothing behind.
	lb, err := b.Lock(context.Background(), "all")
	if err != nil {
		t.Fatalf("Lock after the cancelled attempt: %v", err)
	}
	lb.Release(context.Background())
}

// shortTable has the required columns under a short name, so that a lock
// name with a long scope still fits in 64 characters unhashed.
const shortTable = `CREATE TABLE w (
	id BIGINT UNSIGNED NOT NULL PRIMARY KEY,
	workspace_id BIGINT UNSIGNED NOT NULL,
	session_id VARCHAR(255) NOT NULL,
	session_storage_path VARCHAR(500) NULL,
	session_file_size_bytes BIGINT NULL,
	session_storage_verified_at TIMESTAMP NULL DEFAULT NULL
);
INSERT INTO w (id, workspace_id, session_id, session_storage_path) VALUES (1, 1, 's1', '/p/1');
`

// TestLockRedacted checks the errors of the lock for the password, with a
// scope that quotes it: no error may.
func TestLockRedacted(t *testing.T) {
	t.Logf("backend: %s", dbtest.Backend())
	dsn := dbtest.New(t)
	dbtest.Exec(t, dsn, shortTable)
	admin := adminDB(t, dsn)
	sdsn := secretDSN(t, dsn, "ALL PRIVILEGES")
	a := open(t, db.Config{DSN: sdsn, Table: "w"})
	b := open(t, db.Config{DSN: sdsn, Table: "w"})
	ctx := context.Background()

	scope := "scope-" + secret
	la, err := a.Lock(ctx, scope)
	if err != nil {
		t.Fatalf("Lock: %v", err)
	}
	if !strings.Contains(la.Name(), secret) {
		t.Fatalf("lock name %q was shortened: this test needs the scope in it", la.Name())
	}
	_, err = b.Lock(ctx, scope)
	t.Logf("second Lock: %v", err)
	if !errors.Is(err, db.ErrLocked) || !strings.Contains(err.Error(), "scope-xxxxx") {
		t.Errorf("second Lock error = %v, want ErrLocked naming scope-xxxxx", err)
	}
	assertNoSecret(t, err, secret)

	if err := kill(admin, lockHolder(t, admin, la.Name())); err != nil {
		t.Fatal(err)
	}
	n, err := a.WriteSizes(ctx, []db.SizeUpdate{{ID: 1, StoragePath: "/p/1", SizeBytes: 1}}, faultVerifiedAt)
	t.Logf("WriteSizes: %v", err)
	if n != 0 || !errors.Is(err, db.ErrLockLost) {
		t.Errorf("WriteSizes = %d, %v; want 0, ErrLockLost", n, err)
	}
	assertNoSecret(t, err, secret)
	_, err = la.Held(ctx)
	assertNoSecret(t, err, secret)
	err = la.Release(ctx)
	if !errors.Is(err, db.ErrLockLost) {
		t.Errorf("Release = %v, want ErrLockLost", err)
	}
	assertNoSecret(t, err, secret)
}

// TestLockRun: two runs of one shard never hold their locks at once, a
// whole-table run never together with a shard run, and shards of one share
// side by side.
func TestLockRun(t *testing.T) {
	dsn := newDB(t)
	a := open(t, db.Config{DSN: dsn})
	b := open(t, db.Config{DSN: dsn})
	ctx := context.Background()
	mustLock := func(s *db.Store, index, count uint64) *db.Lock {
		t.Helper()
		l, err := s.LockRun(ctx, index, count)
		if err != nil {
			t.Fatalf("LockRun(%d, %d): %v", index, count, err)
		}
		return l
	}
	refused := func(s *db.Store, index, count uint64, why string) {
		t.Helper()
		l, err := s.LockRun(ctx, index, count)
		if !errors.Is(err, db.ErrLocked) {
			if l != nil {
				l.Release(ctx)
			}
			t.Fatalf("LockRun(%d, %d) while %s: err = %v, want ErrLocked", index, count, why, err)
		}
	}

	whole := mustLock(a, 0, 0)
	refused(b, 1, 3, "a whole run holds the table")
	refused(b, 0, 0, "a whole run holds the table")
	if err := whole.Release(ctx); err != nil {
		t.Fatal(err)
	}

	s0 := mustLock(a, 0, 3)
	s1 := mustLock(b, 1, 3)
	s2 := mustLock(b, 2, 3)
	refused(a, 1, 3, "shard 1/3 runs")
	var le *db.LockedError
	if _, err := b.LockRun(ctx, 0, 0); !errors.As(err, &le) || le.HolderID == 0 {
		t.Fatalf("whole run while shards run: err = %v, want a LockedError naming a holder", err)
	}
	for _, l := range []*db.Lock{s0, s1} {
		if held, err := l.Held(ctx); !held || err != nil {
			t.Fatalf("shard lock %s: Held = %t, %v", l.Name(), held, err)
		}
		if err := l.Release(ctx); err != nil {
			t.Fatal(err)
		}
	}
	refused(a, 0, 0, "shard 2/3 still runs")
	if err := s2.Release(ctx); err != nil {
		t.Fatal(err)
	}
	whole = mustLock(b, 0, 0)
	whole.Release(ctx)
	// A released shard can run again.
	mustLock(a, 1, 3).Release(ctx)
}

// Issue 18, an operator's trial: an all-workspaces watcher and a shard
// watcher ran at once on the same rows, and a lock a watcher held was
// reported as held by "another audit". LockWatch keeps watchers apart as
// LockRun keeps audits apart, and independently of them; the error names
// the kind of run that holds the lock.
func TestLockWatch(t *testing.T) {
	dsn := newDB(t)
	a := open(t, db.Config{DSN: dsn})
	b := open(t, db.Config{DSN: dsn})
	ctx := context.Background()
	held := func(l *db.Lock, err error) *db.Lock {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	refused := func(why string) func(*db.Lock, error) {
		return func(l *db.Lock, err error) { refusedWatch(t, ctx, why, l, err) }
	}

	all := held(a.LockWatch(ctx, 0, 0))
	refused("an all-workspaces watcher runs")(b.LockWatch(ctx, 1, 2))
	refused("an all-workspaces watcher runs")(b.LockWatch(ctx, 0, 0))
	// An audit runs beside a watcher: both write only verified rows.
	held(b.LockRun(ctx, 0, 0)).Release(ctx)
	all.Release(ctx)

	s1 := held(a.LockWatch(ctx, 1, 2))
	s0 := held(b.LockWatch(ctx, 0, 2))
	refused("shard 1/2 is watched")(b.LockWatch(ctx, 1, 2))
	refused("shards are watched")(b.LockWatch(ctx, 0, 0))
	s1.Release(ctx)
	s0.Release(ctx)
	held(b.LockWatch(ctx, 0, 0)).Release(ctx)

	// An audit's lock is named as an audit's.
	run := held(a.LockRun(ctx, 0, 0))
	_, err := b.LockRun(ctx, 0, 0)
	if !errors.Is(err, db.ErrLocked) || !strings.Contains(err.Error(), "another sessaudit audit") {
		t.Errorf("an audit while one runs: %v", err)
	}
	run.Release(ctx)
}

func refusedWatch(t *testing.T, ctx context.Context, why string, l *db.Lock, err error) {
	t.Helper()
	if l != nil {
		l.Release(ctx)
	}
	if !errors.Is(err, db.ErrLocked) {
		t.Fatalf("a watcher while %s: err = %v, want ErrLocked", why, err)
	}
	if !strings.Contains(err.Error(), "another sessaudit watch") || strings.Contains(err.Error(), "another audit") || strings.Contains(err.Error(), "sessaudit audit") {
		t.Errorf("while %s: %q, want it to name a watch as the holder", why, err)
	}
}
