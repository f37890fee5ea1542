package reconcile

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"path"
	"slices"
	"strings"
	"time"

	"sessaudit/db"
	"sessaudit/scanner"
)

// ErrWrongPrefix is returned when most live rows store paths outside
// --path-prefix: the flag, not the rows, is more likely wrong.
var ErrWrongPrefix = errors.New("reconcile: wrong path prefix")

// sampleSize is how many of the newest live rows with a path the audit
// judges the prefix and the mount on. For a table of up to that many, the
// sample is the whole table.
const sampleSize = 1000

// checkShare judges, before anything is walked or written, whether the
// prefix and the root can be trusted, on a sample of the whole table's
// newest live rows rather than on the run's selection, so that a run
// limited to one workspace whose only row is legitimately missing is not
// refused, and the shards of a share all judge the same mount. It refuses
// when most sampled paths lie outside the prefix (ErrWrongPrefix, naming
// the prefix the rows use), and when the root holds far fewer of the
// workspace directories the sampled rows older than the grace period name
// than it should (ErrTooManyMissing): more than MaxMissingRatio of them
// absent, as on an empty mount point. It lists the root and nothing else:
// no session, of this scope or another, is looked at.
func (r *Reconciler) checkShare(ctx context.Context, cutoff time.Time) error {
	sample, err := r.store.Sample(ctx, sampleSize)
	if err != nil {
		return fmt.Errorf("read a sample of rows: %w", err)
	}
	if err := checkPrefix(r.cfg.PathPrefix, sample); err != nil {
		return err
	}
	named := map[uint64]bool{}
	for _, row := range sample {
		if row.StoragePath == nil || row.LastChanged().After(cutoff) {
			continue
		}
		if p, err := MapPath(r.cfg.PathPrefix, *row.StoragePath); err == nil {
			ws, _, _ := scanner.ParseSessionPath(p)
			named[ws] = true
		}
	}
	if len(named) == 0 {
		return nil
	}
	present, err := scanner.WorkspaceIDs(ctx, r.fsys, r.cfg.Root, r.cfg.Walk)
	if err != nil {
		return err
	}
	absent := 0
	for ws := range named {
		if !present[ws] {
			absent++
		}
	}
	n := len(named)
	if float64(absent) <= r.cfg.MaxMissingRatio*float64(n) {
		return nil
	}
	return fmt.Errorf("%w: %d of the %d workspaces the newest live rows name (%.0f%%) have no directory under %s, more than the allowed %.0f%%; is the share mounted there?",
		ErrTooManyMissing, absent, n, 100*float64(absent)/float64(n), r.cfg.Root, 100*r.cfg.MaxMissingRatio)
}

// checkPrefix refuses a prefix outside which most sampled live rows store
// their path, and names the prefix they use.
func checkPrefix(prefix string, sample []db.Row) error {
	prefix = path.Clean("/" + prefix)
	used := map[string]int{}
	outside, withPath := 0, 0
	for _, row := range sample {
		if row.StoragePath == nil || !row.Live() {
			continue
		}
		withPath++
		clean := path.Clean(*row.StoragePath)
		if prefix == "/" || strings.HasPrefix(clean, prefix+"/") {
			continue
		}
		// Only a path with the layout under another prefix says the
		// prefix is wrong; junk (a relative path, /etc/passwd) is just
		// unsafe.
		if p, ok := prefixOf(clean); ok {
			outside++
			used[p]++
		}
	}
	if withPath == 0 || 2*outside <= withPath {
		return nil
	}
	best := slices.MaxFunc(slices.Sorted(maps.Keys(used)), func(a, b string) int { return cmp.Compare(used[a], used[b]) })
	return fmt.Errorf("%w: --path-prefix %s: %d of the %d newest live rows with a path lie outside it; %d are stored under %s",
		ErrWrongPrefix, prefix, outside, withPath, used[best], best)
}

// prefixOf returns the part of a clean stored path before its
// /workspace_<id>/session_<id> ending, when it has one.
func prefixOf(clean string) (string, bool) {
	i := strings.LastIndex(clean, "/"+scanner.WorkspacePrefix)
	if i < 0 {
		return "", false
	}
	if _, _, ok := scanner.ParseSessionPath(clean[i+1:]); !ok {
		return "", false
	}
	if i == 0 {
		return "/", true
	}
	return clean[:i], true
}
