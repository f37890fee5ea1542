package watchmode

import (
	"encoding/binary"
	"slices"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"sessaudit/reconcile"
)

// findingLog logs each finding once, when it appears: a session written all
// day, or an orphan seen by every rescan, is not logged again while its
// finding stands. A finding that went away and comes back is logged again.
type findingLog struct {
	log   zerolog.Logger
	count func(kind ...string) prometheus.Counter

	mu sync.Mutex
	// standing maps the identity of each finding standing now to the key
	// of the session reconcile that reported it ("" for a rescan).
	standing map[string]string
}

// identity is what tells two findings apart: kind, path and rows.
func identity(f reconcile.Finding) string {
	b := make([]byte, 0, 64)
	b = append(b, f.Kind...)
	b = append(b, 0)
	b = append(b, f.Path...)
	b = append(b, 0)
	for _, id := range f.RowIDs {
		b = binary.BigEndian.AppendUint64(b, id)
	}
	return string(b)
}

// session records the findings of one session reconcile: they replace what
// the last reconcile of key, or a rescan, reported for its path.
func (l *findingLog) session(key string, found []reconcile.Finding) {
	l.mu.Lock()
	defer l.mu.Unlock()
	next := make(map[string]string, len(l.standing)+len(found))
	for id, from := range l.standing {
		if from == key || (from == "" && pathOf(id) == key) {
			continue
		}
		next[id] = from
	}
	l.replace(next, key, found)
}

// all records the findings of a rescan: they replace every standing one.
func (l *findingLog) all(found []reconcile.Finding) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.replace(make(map[string]string, len(found)), "", found)
}

func (l *findingLog) replace(next map[string]string, from string, found []reconcile.Finding) {
	for _, f := range found {
		if !f.Kind.IsFinding() {
			continue
		}
		id := identity(f)
		if _, ok := l.standing[id]; !ok {
			if _, dup := next[id]; !dup {
				l.emit(f)
			}
		}
		next[id] = from
	}
	l.standing = next
}

// standingOf returns how many findings of kind stand now.
func (l *findingLog) standingOf(kind reconcile.Outcome) int {
	prefix := string(kind) + "\x00"
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for id := range l.standing {
		if strings.HasPrefix(id, prefix) {
			n++
		}
	}
	return n
}

// pathOf returns the path part of an identity.
func pathOf(id string) string {
	start := slices.Index([]byte(id), 0) + 1
	end := start + slices.Index([]byte(id[start:]), 0)
	return id[start:end]
}

// emit counts f and logs it as one JSON line.
func (l *findingLog) emit(f reconcile.Finding) {
	l.count(string(f.Kind)).Inc()
	ids := f.RowIDs
	if ids == nil {
		ids = []uint64{}
	}
	ev := l.log.Warn().Str("kind", string(f.Kind)).Str("path", f.Path).Uints64("row_ids", ids)
	if f.WorkspaceID != nil {
		ev = ev.Uint64("workspace_id", *f.WorkspaceID)
	}
	if f.SizeBytes != nil {
		ev = ev.Int64("size_bytes", *f.SizeBytes)
	}
	if f.Detail != "" {
		ev = ev.Str("detail", f.Detail)
	}
	ev.Msg("finding")
}
