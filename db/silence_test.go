package db_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"sessaudit/db"
	"sessaudit/db/dbtest"
)

// Issue 18, items 9 and 10: a server that stops answering after the Store
// connected (SIGSTOP; here a proxy that stops passing bytes, as the
// kernel of a stopped server keeps its sockets open) used to hold every
// call for ever. Each call now fails after Config.Timeout with ErrNoAnswer,
// and the Store works again once the server answers.
func TestStoreServerStopsAnswering(t *testing.T) {
	t.Logf("backend: %s", dbtest.Backend())
	dsn := faultDB(t)
	frozen := dbtest.NewFreezer(t, secretDSN(t, dsn, "ALL PRIVILEGES"))
	const timeout = 300 * time.Millisecond
	s := open(t, db.Config{DSN: frozen.DSN(), Timeout: timeout})
	// The lock is another Store's, so that WriteSizes is held up by its
	// own statement rather than by its check of the lock.
	locker := open(t, db.Config{DSN: frozen.DSN(), Timeout: timeout})
	ctx := context.Background()
	if _, err := s.Rows(ctx, db.Selection{}); err != nil { // a connection in the pool
		t.Fatal(err)
	}
	lock, err := locker.Lock(ctx, "all")
	if err != nil {
		t.Fatal(err)
	}
	frozen.Freeze()

	calls := []struct {
		name string
		call func() error
	}{
		{"Held", func() error { _, err := lock.Held(ctx); return err }},
		{"Rows", func() error { _, err := s.Rows(ctx, db.Selection{}); return err }},
		{"SessionRows", func() error { _, err := s.SessionRows(ctx, 1, "s1"); return err }},
		{"WriteSizes", func() error { _, err := s.WriteSizes(ctx, faultBatch, faultVerifiedAt); return err }},
		{"Lock", func() error { _, err := s.Lock(ctx, "other"); return err }},
	}
	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) {
			done := make(chan error, 1)
			go func() { done <- c.call() }()
			var err error
			select {
			case err = <-done:
			case <-time.After(time.Minute):
				t.Fatalf("%s still waits for a server that does not answer after a minute (Timeout %s)", c.name, timeout)
			}
			if !errors.Is(err, db.ErrNoAnswer) {
				t.Fatalf("%s: %v, want an error matching ErrNoAnswer", c.name, err)
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error quotes the password: %v", err)
			}
			t.Logf("%s: %v", c.name, err)
		})
	}
	if err := lock.Release(ctx); !errors.Is(err, db.ErrLockLost) {
		t.Errorf("Release of the lock whose connection went silent: %v, want ErrLockLost", err)
	}

	frozen.Thaw()
	if _, err := s.Rows(ctx, db.Selection{}); err != nil {
		t.Errorf("Rows once the server answers again: %v", err)
	}
	admin := adminDB(t, dsn)
	if got := rowStates(t, admin); len(got) != 0 {
		t.Errorf("rows %v written through a connection given up", got)
	}
}
