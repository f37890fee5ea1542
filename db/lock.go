package db

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"database/sql/driver"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

var (
	// ErrLocked reports that another audit of the same table and scope holds
	// the lock; the error is a *LockedError saying, where the server tells,
	// which connection holds it.
	ErrLocked = errors.New("db: another sessaudit run holds the lock")
	// ErrLockLost reports that a lock taken with Store.Lock is no longer held:
	// its connection was killed or broke, and the server released it.
	ErrLockLost = errors.New("db: lock lost")
)

const (
	// lockWait is how long Lock waits for another audit to let go.
	lockWait = 2 * time.Second
	// maxLockName is the longest lock name MySQL accepts (5.7 and later).
	maxLockName = 64
	// releaseTimeout bounds RELEASE_LOCK in Release.
	releaseTimeout = 5 * time.Second
)

// LockedError is returned by Store.Lock when another session holds the lock.
// It matches ErrLocked with errors.Is.
type LockedError struct {
	// Name is the lock's name.
	Name string
	// Wait is how long Lock waited for it.
	Wait time.Duration
	// HolderID is the connection id of the session that holds it (what
	// IS_USED_LOCK answered); 0 when the server did not say, for instance
	// because the holder let go in the meantime.
	HolderID uint64
	// User and Host are the holder's, when information_schema.processlist
	// shows them to this user; empty otherwise.
	User, Host string
	// Holder is the kind of run the lock belongs to, told by its scope:
	// "watch" for a watcher's (LockWatch, or a scope starting "watch"),
	// "audit" otherwise.
	Holder string
}

func (e *LockedError) Error() string {
	msg := fmt.Sprintf("db: another sessaudit %s holds the lock %s", e.Holder, e.Name)
	if e.HolderID != 0 {
		msg += fmt.Sprintf(" (connection %d", e.HolderID)
		if e.User != "" || e.Host != "" {
			msg += fmt.Sprintf(", %s@%s", e.User, e.Host)
		}
		msg += ")"
	}
	return msg + fmt.Sprintf("; waited %s", e.Wait)
}

// Is reports whether target is ErrLocked.
func (e *LockedError) Is(target error) bool { return target == ErrLocked }

// Lock is a server-side lock that keeps other audits of the same table and
// scope out while it is held. It lives on a connection of its own, kept for
// the run: the server releases it when that connection ends, so a crashed
// audit leaves nothing behind. Its methods are safe for concurrent use.
type Lock struct {
	store *Store
	name  string
	// also are further locks held on the same connection (a shard run's
	// slot); they go with it.
	also []string

	mu   sync.Mutex
	conn *sql.Conn // nil once released
	lost error     // set once the lock is known to be gone
}

// Lock takes the lock of the Store's table for scope, so that one audit runs
// at a time. scope names what the run covers: "all" for a full audit; a
// narrower run (a shard of workspaces, say) uses a name of its own, which
// does not exclude other scopes. The lock is the MySQL user lock
// "sessaudit:<database>.<table>:<scope>" (see Lock.Name), taken with GET_LOCK
// on a dedicated connection.
//
// Lock waits at most two seconds for another session to let go. When it does
// not, the error is a *LockedError (matching ErrLocked) naming the holder's
// connection id and, when the server shows them, its user and host.
//
// While a Lock is held, WriteSizes checks it before writing each chunk and
// stops with ErrLockLost when it is gone. Release it when the run ends;
// Store.Close releases any lock still held.
func (s *Store) Lock(ctx context.Context, scope string) (*Lock, error) {
	if scope == "" {
		return nil, fmt.Errorf("lock %s: empty scope", s.table)
	}
	name := lockName(s.lockBase, scope)
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return nil, s.redact.errorf("lock %s: %w", name, err)
	}
	var got sql.NullInt64
	err = conn.QueryRowContext(ctx, "SELECT GET_LOCK(?, ?)", name, int(lockWait/time.Second)).Scan(&got)
	if err != nil || !got.Valid {
		// Whether the server took the lock is unknown: the connection must
		// not go back to the pool.
		discard(conn)
		if err == nil {
			err = errors.New("GET_LOCK returned NULL")
		}
		return nil, s.redact.errorf("lock %s: %w", name, err)
	}
	if got.Int64 != 1 {
		lerr := s.lockedError(ctx, conn, name, holderOf(scope))
		conn.Close() // holds no lock: back to the pool
		return nil, lerr
	}
	l := &Lock{store: s, name: name, conn: conn}
	s.mu.Lock()
	s.locks[l] = struct{}{}
	s.mu.Unlock()
	return l, nil
}

// runSlots is how many shard runs of a table may hold their locks at once;
// a whole-table run looks at every slot in one query.
const runSlots = 256

// LockRun takes the locks of one audit run of the table: of the whole table
// when count is 0, else of shard index of count. Two runs of the same shard
// never hold them at once, a whole-table run never holds them together with
// a shard run, and the shards of a share run side by side.
//
// A whole-table run holds the lock "all" (as Lock(ctx, "all")) and, once it
// has it, refuses while any shard run is registered. A shard run registers
// while it holds "all" for a moment: it takes "shard-<index>-of-<count>"
// and one of 256 slot locks "slot-<k>", then lets "all" go. Everything is
// held on one connection, so a crashed run leaves nothing behind. A refusal
// is a *LockedError naming the lock and its holder.
func (s *Store) LockRun(ctx context.Context, index, count uint64) (*Lock, error) {
	return s.lockScheme(ctx, "", index, count)
}

// LockWatch takes the locks of a watcher of the table, as LockRun does for
// an audit and with the same guarantees among watchers: one watcher per
// shard, and an all-workspaces watcher never together with a shard
// watcher, which would write the same rows. Its locks are "watch-all",
// "watch-shard-<index>-of-<count>" and "watch-slot-<k>": watchers and
// audits do not exclude each other (both write only rows they verified,
// each write guarded).
func (s *Store) LockWatch(ctx context.Context, index, count uint64) (*Lock, error) {
	return s.lockScheme(ctx, watchPrefix, index, count)
}

// watchPrefix starts the scope of every lock of a watcher.
const watchPrefix = "watch-"

// holderOf names the kind of run that holds the lock of scope.
func holderOf(scope string) string {
	if strings.HasPrefix(scope, "watch") {
		return "watch"
	}
	return "audit"
}

// lockScheme is LockRun and LockWatch, their scopes starting with prefix.
func (s *Store) lockScheme(ctx context.Context, prefix string, index, count uint64) (*Lock, error) {
	all, err := s.Lock(ctx, prefix+"all")
	if err != nil || count == 0 {
		if err == nil {
			err = s.refuseWhileShardsRun(ctx, all, prefix)
		}
		if err != nil {
			if all != nil {
				_ = all.Release(ctx)
			}
			return nil, err
		}
		return all, nil
	}
	defer all.Release(ctx)
	l, err := s.Lock(ctx, fmt.Sprintf("%sshard-%d-of-%d", prefix, index, count))
	if err != nil {
		return nil, err
	}
	for k := range uint64(runSlots) {
		slot := lockName(s.lockBase, fmt.Sprintf("%sslot-%d", prefix, (index+k)%runSlots))
		var got sql.NullInt64
		if err := l.conn.QueryRowContext(ctx, "SELECT GET_LOCK(?, 0)", slot).Scan(&got); err != nil {
			_ = l.Release(ctx)
			return nil, s.redact.errorf("lock %s: %w", slot, err)
		}
		if got.Valid && got.Int64 == 1 {
			l.also = append(l.also, slot)
			return l, nil
		}
	}
	_ = l.Release(ctx)
	return nil, fmt.Errorf("lock %s: %w: all %d shard run slots are taken", l.name, ErrLocked, runSlots)
}

// refuseWhileShardsRun returns a *LockedError when a shard run holds a slot;
// all, the whole-table lock, keeps new shard runs from registering
// meanwhile.
func (s *Store) refuseWhileShardsRun(ctx context.Context, all *Lock, prefix string) error {
	names := make([]any, runSlots)
	calls := make([]string, runSlots)
	for k := range runSlots {
		names[k] = lockName(s.lockBase, fmt.Sprintf("%sslot-%d", prefix, k))
		calls[k] = "IS_USED_LOCK(?)"
	}
	var holder sql.NullInt64
	q := "SELECT COALESCE(" + strings.Join(calls, ", ") + ")"
	if err := all.conn.QueryRowContext(ctx, q, names...).Scan(&holder); err != nil {
		return s.redact.errorf("look for shard runs of %s: %w", s.table, err)
	}
	if !holder.Valid {
		return nil
	}
	e := &LockedError{Name: s.redact.redact(lockName(s.lockBase, prefix+"shard-*")), HolderID: uint64(holder.Int64), Holder: holderOf(prefix)}
	return e
}

// lockedError describes who holds the lock name, as far as the server says.
func (s *Store) lockedError(ctx context.Context, conn *sql.Conn, name, kind string) error {
	e := &LockedError{Name: s.redact.redact(name), Wait: lockWait, Holder: kind}
	var holder sql.NullInt64
	if err := conn.QueryRowContext(ctx, "SELECT IS_USED_LOCK(?)", name).Scan(&holder); err != nil || !holder.Valid || holder.Int64 <= 0 {
		return e
	}
	e.HolderID = uint64(holder.Int64)
	// Best effort: without the PROCESS privilege the holder's row is only
	// visible when it runs as the same user.
	var user, host sql.NullString
	q := "SELECT user, host FROM information_schema.processlist WHERE id = ?"
	if conn.QueryRowContext(ctx, q, holder.Int64).Scan(&user, &host) == nil {
		e.User, e.Host = s.redact.redact(user.String), s.redact.redact(host.String)
	}
	return e
}

// lockName returns "sessaudit:<base>:<scope>", shortened to the 64
// characters MySQL allows: a longer name keeps its first 47 bytes and ends
// with "~" and 16 hex digits of the SHA-256 of the whole name, so that the
// same scope always gets the same name and different ones different names.
func lockName(base, scope string) string {
	name := "sessaudit:" + base + ":" + scope
	if len(name) <= maxLockName {
		return name
	}
	sum := sha256.Sum256([]byte(name))
	tail := "~" + hex.EncodeToString(sum[:])[:16]
	keep := maxLockName - len(tail)
	for keep > 0 && !utf8.RuneStart(name[keep]) {
		keep--
	}
	return name[:keep] + tail
}

// Name returns the name of the lock on the server.
func (l *Lock) Name() string { return l.name }

// Held reports whether the lock is still held by this Lock, asking the server
// on the lock's own connection (IS_USED_LOCK(name) = CONNECTION_ID()). It
// returns false and nil once the lock was released, and false and an error
// matching ErrLockLost when the connection was killed or broke or the server
// says the lock is not ours: writes must not go on then. A ctx that is done
// before the question is sent only returns ctx.Err().
func (l *Lock) Held(ctx context.Context) (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.conn == nil {
		return false, nil
	}
	if l.lost != nil {
		return false, l.lost
	}
	if err := ctx.Err(); err != nil {
		return false, err
	}
	var mine sql.NullInt64
	err := l.conn.QueryRowContext(ctx, "SELECT IS_USED_LOCK(?) = CONNECTION_ID()", l.name).Scan(&mine)
	switch {
	case err != nil:
		// Even a cancelled query costs the connection: the driver closes
		// it, and the lock goes with it.
		l.lost = l.store.redact.errorf("%w: %s: %w", ErrLockLost, l.name, err)
	case !mine.Valid || mine.Int64 != 1:
		l.lost = l.store.redact.errorf("%w: %s is no longer held by this connection", ErrLockLost, l.name)
	default:
		return true, nil
	}
	return false, l.lost
}

// Release lets go of the lock and closes its connection for good, so that a
// connection holding a lock never returns to the pool. It runs even when ctx
// is already cancelled: closing the connection frees the lock on the server
// whatever else happens. It returns an error matching ErrLockLost when the
// lock had been lost before, and nil when called again.
func (l *Lock) Release(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.conn == nil {
		return nil
	}
	conn := l.conn
	l.conn = nil
	l.store.mu.Lock()
	delete(l.store.locks, l)
	l.store.mu.Unlock()
	defer discard(conn)

	if l.lost != nil {
		return l.lost
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
	defer cancel()
	for _, name := range l.also {
		// Best effort: closing the connection frees them in any case.
		var ignored sql.NullInt64
		_ = conn.QueryRowContext(ctx, "SELECT RELEASE_LOCK(?)", name).Scan(&ignored)
	}
	var released sql.NullInt64
	if err := conn.QueryRowContext(ctx, "SELECT RELEASE_LOCK(?)", l.name).Scan(&released); err != nil {
		return l.store.redact.errorf("release lock %s: %w", l.name, err)
	}
	if !released.Valid || released.Int64 != 1 {
		return l.store.redact.errorf("release lock %s: %w: the server says this connection did not hold it", l.name, ErrLockLost)
	}
	return nil
}

// discard closes conn and its connection to the server, instead of returning
// it to the pool: database/sql drops a connection whose Raw callback reports
// driver.ErrBadConn.
func discard(conn *sql.Conn) {
	_ = conn.Raw(func(any) error { return driver.ErrBadConn })
	_ = conn.Close()
}

// checkLocks returns an error matching ErrLockLost when a lock taken with
// Lock and not released is no longer held.
func (s *Store) checkLocks(ctx context.Context) error {
	for _, l := range s.heldLocks() {
		if _, err := l.Held(ctx); err != nil {
			return err
		}
	}
	return nil
}

// releaseAll releases the locks still held, for Close.
func (s *Store) releaseAll() {
	for _, l := range s.heldLocks() {
		_ = l.Release(context.Background())
	}
}

// heldLocks returns the locks taken with Lock and not released, so that
// they can be talked to without holding s.mu across a round trip.
func (s *Store) heldLocks() []*Lock {
	s.mu.Lock()
	defer s.mu.Unlock()
	locks := make([]*Lock, 0, len(s.locks))
	for l := range s.locks {
		locks = append(locks, l)
	}
	return locks
}
