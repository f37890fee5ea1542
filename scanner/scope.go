package scanner

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// ErrBadShard reports a shard that is not written I/N with 0 <= I < N.
var ErrBadShard = errors.New("scanner: shard must be I/N with 0 <= I < N")

// Shard is one of Count parts of the workspaces: those whose id % Count ==
// Index. It is the routing rule of the application (workspace_id %
// instance_count), so shard I of N is the workspaces of instance I. The
// zero Shard is not a part: it stands for all workspaces.
type Shard struct {
	Index, Count uint64
}

// ParseShard parses "I/N".
func ParseShard(s string) (Shard, error) {
	i, n, ok := strings.Cut(s, "/")
	if !ok {
		return Shard{}, fmt.Errorf("%w: %q", ErrBadShard, s)
	}
	index, err1 := strconv.ParseUint(i, 10, 64)
	count, err2 := strconv.ParseUint(n, 10, 64)
	if err1 != nil || err2 != nil || count == 0 || index >= count {
		return Shard{}, fmt.Errorf("%w: %q", ErrBadShard, s)
	}
	return Shard{Index: index, Count: count}, nil
}

// IsZero reports whether s is the zero Shard, which stands for all
// workspaces.
func (s Shard) IsZero() bool { return s.Count == 0 }

// Contains reports whether workspace ws is in the shard. Every workspace is
// in the zero Shard.
func (s Shard) Contains(ws uint64) bool { return s.Count == 0 || ws%s.Count == s.Index }

// String returns "I/N", or "" for the zero Shard.
func (s Shard) String() string {
	if s.IsZero() {
		return ""
	}
	return fmt.Sprintf("%d/%d", s.Index, s.Count)
}

// Scope says which workspaces a run covers: every workspace, a list of
// them, the workspaces of one shard, or the listed ones that fall in a
// shard. It is the one place that decides membership, for the directories
// the scanner walks and for the rows the audit reads: a row belongs to the
// workspace of the directory its stored path names, else to its own
// workspace_id (see reconcile).
//
// The zero value covers every workspace. A Scope made from an empty list
// covers none.
type Scope struct {
	ids    []uint64 // sorted, without duplicates; used when listed
	listed bool
	shard  Shard
}

// AllWorkspaces returns the Scope of every workspace: the zero Scope.
func AllWorkspaces() Scope { return Scope{} }

// OnlyWorkspaces returns the Scope of the listed workspaces; duplicates are
// ignored and an empty list covers no workspace at all.
func OnlyWorkspaces(ids ...uint64) Scope {
	s := slices.Clone(ids)
	slices.Sort(s)
	return Scope{ids: slices.Compact(s), listed: true}
}

// InShard returns s limited to the workspaces of sh. The zero Shard leaves
// s as it is.
func (s Scope) InShard(sh Shard) Scope {
	s.shard = sh
	return s
}

// Contains reports whether workspace ws is in the scope.
func (s Scope) Contains(ws uint64) bool {
	if !s.shard.Contains(ws) {
		return false
	}
	if !s.listed {
		return true
	}
	_, found := slices.BinarySearch(s.ids, ws)
	return found
}

// IsAll reports whether the scope covers every workspace.
func (s Scope) IsAll() bool { return !s.listed && s.shard.IsZero() }

// Listed returns the workspaces of the scope when it was made from a list
// (only those of its shard, sorted), and false when it covers workspaces
// not known in advance (all of them, or all of a shard).
func (s Scope) Listed() ([]uint64, bool) {
	if !s.listed {
		return nil, false
	}
	out := make([]uint64, 0, len(s.ids))
	for _, id := range s.ids {
		if s.shard.Contains(id) {
			out = append(out, id)
		}
	}
	return out, true
}

// ownsRootEntries reports whether entries of the root that are not
// workspace directories are reported under this scope: by a scope that is
// not a list, in shard 0 or unsharded, so that N shards report each once.
func (s Scope) ownsRootEntries() bool { return !s.listed && s.shard.Contains(0) }

// Shard returns the shard the scope is limited to; the zero Shard when none.
func (s Scope) Shard() Shard { return s.shard }

// String describes the scope for a person: "all workspaces", "workspaces
// 2, 7", "shard 1/3", "workspaces 2, 7 in shard 1/3".
func (s Scope) String() string {
	var b strings.Builder
	switch {
	case s.listed && len(s.ids) == 0:
		b.WriteString("no workspace")
	case s.listed:
		if len(s.ids) == 1 {
			b.WriteString("workspace ")
		} else {
			b.WriteString("workspaces ")
		}
		for i, id := range s.ids {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(strconv.FormatUint(id, 10))
		}
	case s.shard.IsZero():
		return "all workspaces"
	}
	if !s.shard.IsZero() {
		if b.Len() > 0 {
			b.WriteString(" in ")
		}
		b.WriteString("shard " + s.shard.String())
	}
	return b.String()
}
