package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/rs/zerolog"

	"sessaudit/cmd/internal/watchmode"
	"sessaudit/db"
	"sessaudit/reconcile"
	"sessaudit/scanner"
	"sessaudit/scanner/watch"
)

type watchCmd struct {
	env            Env
	walk           walkFlags
	db             dbFlags
	rules          rulesFlags
	shard          shardFlag
	debounce       time.Duration
	rescanInterval time.Duration
	maxWatches     int
	listen         string
	logLevel       string
}

func newWatchCmd(env Env) *watchCmd { return &watchCmd{env: env} }

func (c *watchCmd) flags() *flag.FlagSet {
	fs := flag.NewFlagSet("watch", flag.ContinueOnError)
	c.walk.register(fs, "`DIR` where the share is mounted on this host, through the same mount as the instance writes it (default: --path-prefix)")
	c.db.register(fs)
	c.rules.register(fs, "a rescan refuses to write when more than this share of live rows with a path would be missing")
	fs.Var(&c.shard, "shard", "watch only shard `I/N`: the workspaces with workspace_id % N == I (0 <= I < N), as the application routes them to instance I (default: all)")
	durationVar(fs, &c.debounce, "debounce", watch.DefaultQuiet, "reconcile a session after this long without events (and at least every 30s while it keeps changing)")
	durationVar(fs, &c.rescanInterval, "rescan-interval", time.Hour, "audit the whole shard this often, besides at start, after an event overflow and when the database comes back")
	fs.IntVar(&c.maxWatches, "max-watches", 0, "`N` directories watched at most; beyond, rescans cover them (0: half of /proc/sys/fs/inotify/max_user_watches)")
	fs.StringVar(&c.listen, "listen", "", "serve /metrics, /healthz and /readyz on `ADDR`, e.g. :9090 (default: off)")
	registerLogLevel(fs, &c.logLevel)
	return fs
}

func (c *watchCmd) run(ctx context.Context) error {
	log, err := newLogger(c.env, c.logLevel)
	if err != nil {
		return err
	}
	if c.walk.root == "" {
		c.walk.root = c.rules.pathPrefix
	}
	if err := c.rules.check(); err != nil {
		return err
	}
	switch {
	case c.debounce <= 0:
		return usageError("--debounce %v must be positive", c.debounce)
	case c.rescanInterval <= 0:
		return usageError("--rescan-interval %v must be positive", c.rescanInterval)
	case c.maxWatches < 0:
		return usageError("--max-watches %d must not be negative (0 derives it from the kernel's limit)", c.maxWatches)
	}
	if err := c.walk.check(); err != nil {
		return err
	}
	dbConfig, err := c.db.config(c.env)
	if err != nil {
		return err
	}
	shard := scanner.Shard(c.shard)
	scope := scanner.AllWorkspaces().InShard(shard)
	fsys := c.env.fs()
	walk := c.walk.config(scope)
	if err := c.walk.checkRoot(ctx, fsys, walk); err != nil {
		return err
	}
	if remote, err := scanner.Remote(c.walk.root); remote || err != nil {
		log.Warn().Str("root", c.walk.root).AnErr("statfs", err).
			Msg("the root is on a network filesystem (or one of unknown type): events come only from writes made through this host's mount; writes from other hosts are seen by rescans (--rescan-interval)")
	}

	store, err := openStore(ctx, log, dbConfig)
	if err != nil {
		return err
	}
	defer store.Close()
	// One watcher per shard, and an all-workspaces watcher never beside a
	// shard watcher; a watcher and the nightly audit run side by side
	// (both write only verified rows, each guarded).
	hold, err := watchmode.HoldShard(ctx, store, shard.Index, shard.Count)
	if err != nil {
		if errors.Is(err, db.ErrLocked) {
			err = fmt.Errorf("another sessaudit watch of %s (or of rows it shares) runs: %w", scope, err)
		}
		return err
	}
	defer hold.Release()
	log.Debug().Str("lock", hold.Name()).Msg("lock taken")

	cfg := c.rules.config(c.walk.root, scope, walk)
	cfg.PerInstance = store.HasColumn("assigned_instance_index")
	cfg.Now = c.env.now
	rec := reconcile.NewReconciler(fsys, store, cfg)
	var labels map[string]string
	if !shard.IsZero() {
		labels = map[string]string{"shard": shard.String()}
	}
	runner := watchmode.New(watchmode.Config{
		Debounce: c.debounce, RescanInterval: c.rescanInterval, Labels: labels, Log: log,
	}, watchmode.Sessions(rec), watchmode.Rescans(rec), hold)
	w, err := watch.New(watch.Config{
		Root: c.walk.root, Contains: scope.Contains, MaxWatches: c.maxWatches,
		Touched: runner.Touched, Overflow: runner.Overflow, Exhausted: runner.Exhausted, OnError: runner.WatchError,
		RootChanged: runner.RootChanged,
	})
	if err != nil {
		return err
	}
	if c.listen != "" {
		stop, err := serve(ctx, c.listen, runner.Handler(), log)
		if err != nil {
			return err
		}
		defer stop()
	}
	log.Info().Str("root", c.walk.root).Str("path_prefix", c.rules.pathPrefix).Str("table", c.db.table).Str("scope", scope.String()).
		Int("max_watches", w.Stats().Budget).Dur("debounce", c.debounce).Bool("dry_run", c.rules.dryRun).Msg("watch started")
	if err := runner.Run(ctx, w); err != nil {
		return err
	}
	log.Info().Msg("watch stopped")
	return nil
}

// serve serves h on addr until the returned stop is called.
func serve(ctx context.Context, addr string, h http.Handler, log zerolog.Logger) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, usageError("--listen %s: %v", addr, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error().Err(err).Msg("serving /metrics stopped")
		}
	}()
	log.Info().Str("listen", ln.Addr().String()).Msg("serving /metrics, /healthz, /readyz")
	return func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 500*time.Millisecond)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}, nil
}
