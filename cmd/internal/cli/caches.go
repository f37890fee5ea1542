package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"github.com/spf13/afero"

	"sessaudit/cmd/internal/metrics"
	"sessaudit/cmd/internal/report"
	"sessaudit/db"
	"sessaudit/reconcile/reclaim"
	"sessaudit/scanner"
	"sessaudit/scanner/quarantine"
)

// Defaults of reclaim --caches, which reads no report to take them from:
// the audit's own defaults.
const (
	cachesMinAge     = time.Hour
	cachesPathPrefix = "/mnt/efs"
)

// runCaches is reclaim --caches: the regenerable parts of the stopped
// whatsapp-web.js sessions under --root into quarantine.
func (c *reclaimCmd) runCaches(ctx context.Context, log zerolog.Logger) (err error) {
	m := newOpMetrics(c.env, c.metricsFile, metrics.ReclaimCaches, !c.yes)
	defer func() { err = m.end(err) }()
	if err := m.check(); err != nil {
		return err
	}
	switch {
	case c.reportPath != "":
		return usageError("--caches lists the sessions under --root itself: give --root, not --report")
	case !slices.Equal(c.kinds, kindList(reclaim.Kinds)):
		return usageError("--kinds is for a report's findings; --caches moves caches only")
	case c.root == "":
		return usageError("--root is required with --caches")
	case c.quarantine == "":
		return usageError("--quarantine is required")
	case c.maxMoves < 1:
		return usageError("--max-moves %d must be at least 1", c.maxMoves)
	case c.minAge < 0:
		return usageError("--min-age %v must not be negative", c.minAge)
	case c.ioTimeout <= 0:
		return usageError("--io-timeout %v must be positive", c.ioTimeout)
	}
	minAge := c.minAge
	if minAge == 0 {
		minAge = cachesMinAge
	}
	if c.pathPrefix == "" {
		c.pathPrefix = cachesPathPrefix
	}
	if !strings.HasPrefix(c.pathPrefix, "/") {
		return usageError("--path-prefix %q must be an absolute path", c.pathPrefix)
	}
	dbConfig, err := c.db.config(c.env)
	if err != nil {
		return err
	}
	started := time.Now()
	if c.root, err = resolveRoot(ctx, afero.NewOsFs(), c.root, c.ioTimeout); err != nil {
		return mark(errBadRoot, err)
	}
	if _, err := os.Stat(c.quarantine); err != nil {
		return usageError("--quarantine %s: %v (create it first)", c.quarantine, err)
	}
	q, err := quarantine.Open(c.root, c.quarantine, quarantine.Config{IOTimeout: c.ioTimeout})
	if err != nil {
		return err
	}
	defer q.Close()
	dbConfig.OnRetry = func(err error, attempt int, wait time.Duration) {
		log.Warn().Err(err).Int("attempt", attempt).Dur("wait", wait).Msg("database call failed; retrying")
	}
	store, err := db.Open(ctx, dbConfig)
	if err != nil {
		return err
	}
	defer store.Close()
	if !store.HasColumn("status") {
		return fmt.Errorf("the table %s has no status column: whether a session runs cannot be told, and --caches moves nothing", c.db.table)
	}

	out := c.env.Stdout
	verb := "plan"
	if c.yes {
		verb = "run"
	}
	fmt.Fprintf(out, "reclaim --caches %s: the stopped whatsapp-web.js sessions under %s, quarantine %s, grace period %s\n",
		verb, q.Root(), q.Dir(), minAge)
	res, err := reclaim.ReclaimCaches(ctx, q, store, reclaim.Config{
		PathPrefix: c.pathPrefix, MinAge: minAge, MaxMoves: c.maxMoves, Yes: c.yes,
		Run:    quarantine.RunInfo{Started: started},
		Walk:   scanner.Config{IOTimeout: c.ioTimeout},
		OnStep: func(s reclaim.Step) { printReclaimStep(out, s); m.op.Reclaimed(s) },
	})
	m.op.NotLookedAt(make([]reclaim.Candidate, res.Left))
	m.op.PassedOver(res.PassedOver)
	printCachesResult(out, res, c.yes, c.maxMoves)
	log.Info().Bool("plan", !c.yes).Int("moved", res.Moved).Int64("bytes", res.Bytes).Int("skipped", res.Skipped).
		Int("not_looked_at", res.Left).Interface("passed_over", res.PassedOver).Str("manifest", res.Manifest).AnErr("error", err).Msg("reclaim finished")
	if err != nil {
		return err
	}
	if res.Skipped > 0 {
		return errFindings
	}
	return nil
}

// printCachesResult writes the last lines of reclaim --caches: what moved
// (or would), and the sessions passed over by why.
func printCachesResult(w io.Writer, res reclaim.Result, yes bool, maxMoves int) {
	verb := "would move"
	if yes {
		verb = "moved"
	}
	fmt.Fprintf(w, "%s the caches of %d sessions, %s in %d files; skipped %d", verb, res.Moved, report.HumanBytes(res.Bytes), res.Files, res.Skipped)
	if res.Left > 0 {
		fmt.Fprintf(w, "; %d more sessions not looked at (--max-moves %d)", res.Left, maxMoves)
	}
	fmt.Fprintln(w)
	var passed []string
	total := 0
	for _, why := range reclaim.PassReasons() {
		if n := res.PassedOver[why]; n > 0 {
			passed = append(passed, fmt.Sprintf("%d %s", n, why))
			total += n
		}
	}
	if total > 0 {
		fmt.Fprintf(w, "passed over %d sessions: %s\n", total, strings.Join(passed, ", "))
	}
	switch {
	case !yes && res.Moved > 0:
		fmt.Fprintln(w, "nothing was moved; run again with --yes to move them")
	case res.Manifest != "":
		fmt.Fprintf(w, "manifest: %s\nundo with: sessaudit restore --manifest %s\n", res.Manifest, res.Manifest)
	}
}
