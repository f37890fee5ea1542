// Package watchmode runs sessaudit watch: it feeds the sessions that
// filesystem events touched through a debounce queue to a per-session
// reconciler, rescans the whole scope at start, periodically, after an
// event overflow and when the database comes back, keeps track of the
// database, logs each new finding once, and serves /metrics, /healthz and
// /readyz.
//
// It knows the filesystem watcher, the reconcilers and the database only
// through the small interfaces declared here; the command wires in the real
// ones.
package watchmode
