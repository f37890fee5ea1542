package watchmode

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"sessaudit/db"
	"sessaudit/reconcile"
)

// Sessions returns rec's per-session Reconcile as a SessionReconciler.
func Sessions(rec *reconcile.Reconciler) SessionReconciler { return sessionReconciler{rec} }

// Rescans returns rec's batch Audit as a Rescanner.
func Rescans(rec *reconcile.Reconciler) Rescanner { return rescanner{rec} }

type sessionReconciler struct{ rec *reconcile.Reconciler }

func (s sessionReconciler) Reconcile(ctx context.Context, key string) (Result, error) {
	res, err := s.rec.Reconcile(ctx, key)
	if errors.Is(err, reconcile.ErrOutOfScope) {
		return Result{}, nil // the watcher drops such events; nothing to do
	}
	out := Result{RowsWritten: res.RowsWritten}
	for _, v := range res.Verdicts {
		out.Findings = append(out.Findings, v.Finding)
	}
	return out, err
}

type rescanner struct{ rec *reconcile.Reconciler }

func (r rescanner) Rescan(ctx context.Context) (Result, error) {
	rep, err := r.rec.Audit(ctx)
	if err != nil {
		return Result{}, err
	}
	return Result{Findings: rep.Findings, RowsWritten: rep.Summary.RowsWritten}, nil
}

// Hold is a watcher's lock on its scope, as a Database: the lock's
// connection is the database's pulse, and losing it (a restart, a network
// cut) means the lock must be taken again before writing. Its methods are
// safe for concurrent use.
type Hold struct {
	store *db.Store
	// lock takes the lock, again after a reconnection.
	lock func(ctx context.Context) (*db.Lock, error)

	mu   sync.Mutex
	held *db.Lock
}

// HoldShard takes the watcher's locks of shard index of count (count 0:
// all workspaces) on store (see db.Store.LockWatch), so that no other
// watcher writes the same rows.
func HoldShard(ctx context.Context, store *db.Store, index, count uint64) (*Hold, error) {
	return hold(ctx, store, func(ctx context.Context) (*db.Lock, error) { return store.LockWatch(ctx, index, count) })
}

func hold(ctx context.Context, store *db.Store, lock func(context.Context) (*db.Lock, error)) (*Hold, error) {
	h := &Hold{store: store, lock: lock}
	if err := h.take(ctx); err != nil {
		return nil, err
	}
	return h, nil
}

func (h *Hold) take(ctx context.Context) error {
	l, err := h.lock(ctx)
	if err != nil {
		return err
	}
	h.mu.Lock()
	h.held = l
	h.mu.Unlock()
	return nil
}

// Name returns the lock's name, empty while it is not held.
func (h *Hold) Name() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.held == nil {
		return ""
	}
	return h.held.Name()
}

// Check returns nil while the lock is held, asking the server.
func (h *Hold) Check(ctx context.Context) error {
	h.mu.Lock()
	l := h.held
	h.mu.Unlock()
	if l == nil {
		return db.ErrLockLost
	}
	held, err := l.Held(ctx)
	if err != nil {
		return err
	}
	if !held {
		return fmt.Errorf("%w: %s was released", db.ErrLockLost, l.Name())
	}
	return nil
}

// Reconnect lets go of a lost lock and takes it again.
func (h *Hold) Reconnect(ctx context.Context) error {
	// The lost lock is released first: while the Store holds it, every
	// write stops at its check.
	h.Release()
	return h.take(ctx)
}

// Release lets go of the lock.
func (h *Hold) Release() {
	h.mu.Lock()
	l := h.held
	h.held = nil
	h.mu.Unlock()
	if l != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = l.Release(ctx)
	}
}
