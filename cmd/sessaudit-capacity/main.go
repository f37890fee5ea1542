// Command sessaudit-capacity predicts how long a full walk of a share takes
// for N pods with W filesystem operations in flight each, and measures the
// inputs of that prediction (see Model):
//
//	sessaudit-capacity count -root /tmp/tree          # an audit's operations per entry of a tree
//	sessaudit-capacity probe -dir /mnt/x -workers 64  # one lstat at 64 in flight; a listing
//	sessaudit-capacity predict -entries 500000000 -ops-per-entry 1.10 \
//	    -latency 1ms -workers 128 -pods 1,4,16 -iops 35000
//	sessaudit-capacity simulate -root /tmp/tree -workers 64 -stat 2.3ms -list 1.1ms \
//	    -stat-cpu 74us -list-cpu 12us -cores 2 -batch 149   # a walk of that tree's shape
//
// .ci/capacity validates the model on slowfs (through simulate, on the bench
// tree's own shape) and prints the tables of docs/performance.md.
package main

import (
	"cmp"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/afero"
	"golang.org/x/sys/unix"

	"sessaudit/scanner"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "usage: sessaudit-capacity count|probe|predict [flags]")
		return 2
	}
	var err error
	switch args[0] {
	case "count":
		err = count(args[1:], stdout, stderr)
	case "probe":
		err = probe(args[1:], stdout, stderr)
	case "predict":
		err = predict(args[1:], stdout, stderr)
	case "simulate":
		err = simulate(args[1:], stdout, stderr)
	default:
		err = fmt.Errorf("unknown command %q: want count, probe or predict", args[0])
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		return 2
	}
	fmt.Fprintln(stderr, "sessaudit-capacity:", err)
	return 1
}

// errUsage marks an error the flag package has already printed.
var errUsage = errors.New("capacity: usage")

func parse(fs *flag.FlagSet, args []string, stderr io.Writer) error {
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%s: unexpected argument %q", fs.Name(), fs.Arg(0))
	}
	return nil
}

// counted is what count prints: the tree's shape and the filesystem calls
// an audit of it makes.
type counted struct {
	Sessions      int64 `json:"sessions"`
	Entries       int64 `json:"entries"`
	Dirs          int64 `json:"dirs"`
	Files         int64 `json:"files"`
	MaxDirEntries int64 `json:"max_dir_entries"`
	// MaxChain is the most entries listed on one path from the root down,
	// plus one per directory opened on it: the longest chain of round
	// trips where each listed entry costs one.
	MaxChain int64 `json:"max_chain"`
	// FSOps are the audit's calls: WalkOps of the walk, the rest of the
	// mount check and the second look at every session (an audit looks
	// again at each session it verified: all of them when every session
	// has its row).
	FSOps       int64   `json:"fs_ops"`
	WalkOps     int64   `json:"walk_ops"`
	OpsPerEntry float64 `json:"fs_ops_per_entry"`
	OpsPerFile  float64 `json:"fs_ops_per_file"`
}

// count makes on a tree the filesystem calls an audit makes, with
// sessaudit's scanner (the mount check, the walk, the second look at every
// session), and prints them per entry, the model's OpsPerEntry, with the
// tree's directories and its largest directory.
func count(args []string, stdout, stderr io.Writer) error {
	flags := flag.NewFlagSet("count", flag.ContinueOnError)
	root := flags.String("root", "", "the share's root (a local tree, so that the calls are counted quickly)")
	workers := flags.Int("workers", 0, "operations in flight (0: the walker's default)")
	if err := parse(flags, args, stderr); err != nil {
		return err
	}
	if *root == "" {
		return fmt.Errorf("count: -root is required")
	}
	var c counted
	ctx, fsys := context.Background(), afero.NewOsFs()
	prog := &scanner.Progress{}
	cfg := scanner.Config{Workers: *workers, Progress: prog}
	if err := scanner.CheckRoot(ctx, fsys, *root, cfg); err != nil {
		return fmt.Errorf("count: %w", err)
	}
	var (
		mu       sync.Mutex
		sessions []string
	)
	err := scanner.Walk(ctx, fsys, *root, cfg, func(e scanner.Entry) error {
		if e.Kind == scanner.KindSession && e.Err == nil {
			mu.Lock()
			sessions = append(sessions, e.Path)
			mu.Unlock()
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("count %s: %w", *root, err)
	}
	c.WalkOps = prog.Calls.Load()
	// The second look, on a Progress of its own as the audit's (it adds its
	// calls to the run's when it returns).
	again := cfg
	again.Progress = &scanner.Progress{}
	var failed error
	err = scanner.LookupMany(ctx, fsys, *root, sessions, again, func(i int, _ scanner.Identity, err error) {
		if err != nil {
			mu.Lock()
			failed = cmp.Or(failed, fmt.Errorf("look again at %s: %w", sessions[i], err))
			mu.Unlock()
		}
	})
	if err = cmp.Or(err, failed); err != nil {
		return fmt.Errorf("count: %w", err)
	}
	c.Sessions, c.Entries = prog.SessionsDone.Load(), prog.Entries.Load()
	c.FSOps = prog.Calls.Load() + again.Progress.Calls.Load()
	if c.Entries == 0 {
		return fmt.Errorf("count %s: no entries in any session", *root)
	}
	c.OpsPerEntry = float64(c.FSOps) / float64(c.Entries)
	chain := map[string]int64{}
	err = filepath.WalkDir(*root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			c.Files++
			return nil
		}
		names, err := os.ReadDir(path)
		if err != nil {
			return err
		}
		c.Dirs++
		c.MaxDirEntries = max(c.MaxDirEntries, int64(len(names)))
		chain[path] = chain[filepath.Dir(path)] + 1 + int64(len(names))
		c.MaxChain = max(c.MaxChain, chain[path])
		return nil
	})
	if err != nil {
		return fmt.Errorf("count %s: %w", *root, err)
	}
	if c.Files > 0 {
		c.OpsPerFile = float64(c.FSOps) / float64(c.Files)
	}
	return json.NewEncoder(stdout).Encode(c)
}

// probed is what probe prints.
type probed struct {
	// ListEntries entries of the directory were listed, in ListCalls
	// calls of a 32 KiB buffer (the walker's), taking ListMSPerEntry
	// each, one after the other.
	ListEntries    int     `json:"list_entries"`
	ListCalls      int     `json:"list_calls"`
	ListMSPerEntry float64 `json:"list_ms_per_entry"`
	ListBatch      float64 `json:"list_batch"`
	Workers        int     `json:"workers"`
	Calls          int64   `json:"calls"`
	Seconds        float64 `json:"seconds"`
	PerSecond      float64 `json:"calls_per_second"`
	LatencyMS      float64 `json:"latency_ms"`
}

// probe lstats the entries of one directory relative to it, as the walker
// does, with W calls in flight for a while, and prints the latency of one
// call under that load: the model's Latency, measured.
func probe(args []string, stdout, stderr io.Writer) error {
	flags := flag.NewFlagSet("probe", flag.ContinueOnError)
	dir := flags.String("dir", "", "a directory of the file system to probe, with entries")
	workers := flags.Int("workers", 16, "calls in flight")
	duration := flags.Duration("for", 2*time.Second, "how long to probe")
	if err := parse(flags, args, stderr); err != nil {
		return err
	}
	if *dir == "" || *workers <= 0 || *duration <= 0 {
		return fmt.Errorf("probe: -dir is required; -workers and -for must be positive")
	}
	fd, err := unix.Open(*dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("probe %s: %w", *dir, err)
	}
	defer unix.Close(fd)
	var p probed
	// The listing first, as the walker makes it: getdents with its buffer.
	buf := make([]byte, 32<<10)
	t := time.Now()
	for {
		n, err := unix.Getdents(fd, buf)
		if err != nil {
			return fmt.Errorf("probe: list %s: %w", *dir, err)
		}
		p.ListCalls++
		if n == 0 {
			break
		}
		for off := 0; off < n; {
			reclen := int(binary.NativeEndian.Uint16(buf[off+16:]))
			if name := unix.ByteSliceToString(buf[off+19 : off+reclen]); name != "." && name != ".." {
				p.ListEntries++
			}
			off += reclen
		}
	}
	listed := time.Since(t)
	if p.ListEntries > 0 {
		p.ListMSPerEntry = listed.Seconds() * 1e3 / float64(p.ListEntries)
		p.ListBatch = float64(p.ListEntries) / float64(max(p.ListCalls-1, 1))
	}
	entries, err := os.ReadDir(*dir)
	if err != nil || len(entries) == 0 {
		return fmt.Errorf("probe %s: no entries to lstat (%v)", *dir, err)
	}
	var (
		calls  atomic.Int64
		wg     sync.WaitGroup
		mu     sync.Mutex
		failed error // the first call that failed
	)
	start := time.Now()
	deadline := start.Add(*duration)
	for w := range *workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var st unix.Stat_t
			for i := w; time.Now().Before(deadline); i++ {
				name := entries[i%len(entries)].Name()
				if err := unix.Fstatat(fd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
					mu.Lock()
					failed = cmp.Or(failed, fmt.Errorf("probe %s: %w", filepath.Join(*dir, name), err))
					mu.Unlock()
					return
				}
				calls.Add(1)
			}
		}()
	}
	wg.Wait()
	if failed != nil {
		return failed
	}
	elapsed := time.Since(start).Seconds()
	p.Workers, p.Calls, p.Seconds = *workers, calls.Load(), elapsed
	if p.Calls == 0 {
		return fmt.Errorf("probe %s: no call finished within %s", *dir, *duration)
	}
	p.PerSecond = float64(p.Calls) / elapsed
	p.LatencyMS = float64(*workers) * elapsed / float64(p.Calls) * 1e3
	return json.NewEncoder(stdout).Encode(p)
}

// predict prints the model's wall time for each number of pods.
func predict(args []string, stdout, stderr io.Writer) error {
	flags := flag.NewFlagSet("predict", flag.ContinueOnError)
	var m Model
	flags.Float64Var(&m.Entries, "entries", 501_000_000, "files and directories of the share")
	flags.Float64Var(&m.OpsPerEntry, "ops-per-entry", 0, "filesystem operations per entry (from count)")
	flags.DurationVar(&m.Latency, "latency", time.Millisecond, "latency of one operation")
	flags.IntVar(&m.Workers, "workers", 128, "operations in flight per pod (--workers)")
	flags.Float64Var(&m.IOPS, "iops", 0, "the file system's ceiling in operations a second (0: none)")
	flags.Float64Var(&m.Critical, "critical", 0, "operations one after the other that no worker can share")
	flags.DurationVar(&m.CPUPerOp, "cpu-per-op", 0, "client CPU time of one operation (0: CPU is never short)")
	flags.Float64Var(&m.Cores, "cores", 1, "cores of each pod, with -cpu-per-op")
	pods := flags.String("pods", "1", "comma-separated numbers of pods")
	format := flags.String("format", "text", "text (a Markdown table) or json (one object per line)")
	if err := parse(flags, args, stderr); err != nil {
		return err
	}
	ns, err := parsePods(*pods)
	if err != nil {
		return err
	}
	if *format != "text" && *format != "json" {
		return fmt.Errorf("predict: -format %q: want text or json", *format)
	}
	enc := json.NewEncoder(stdout)
	if *format == "text" {
		fmt.Fprintln(stdout, "| pods N | in flight N×W | operations | throughput (ops/s) | bound | wall |")
		fmt.Fprintln(stdout, "| ---: | ---: | ---: | ---: | --- | ---: |")
	}
	for _, n := range ns {
		m.Pods = n
		p, err := m.Predict()
		if err != nil {
			return fmt.Errorf("predict: %w", err)
		}
		if *format == "json" {
			if err := enc.Encode(map[string]any{
				"pods": n, "workers": m.Workers, "ops": p.Ops, "ops_per_second": p.Throughput,
				"bound": p.Bound, "wall_seconds": p.Wall.Seconds(), "wall_max_seconds": p.WallMax.Seconds(),
			}); err != nil {
				return err
			}
			continue
		}
		fmt.Fprintf(stdout, "| %d | %d | %.3g | %.0f | %s | %s |\n",
			n, n*m.Workers, p.Ops, p.Throughput, p.Bound, human(p.Wall))
	}
	return nil
}

// parsePods parses "1,4,16".
func parsePods(s string) ([]int, error) {
	var ns []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("predict: -pods %q: want positive numbers separated by commas", s)
		}
		ns = append(ns, n)
	}
	return ns, nil
}

// human prints d as hours and minutes, or seconds below a minute.
func human(d time.Duration) string {
	if d < time.Minute {
		return fmt.Sprintf("%.2f s", d.Seconds())
	}
	d = d.Round(time.Minute)
	return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
}

// simulate plays a walk of a tree with the latencies measured on a mount
// (see Sim) and prints its wall time.
func simulate(args []string, stdout, stderr io.Writer) error {
	flags := flag.NewFlagSet("simulate", flag.ContinueOnError)
	root := flags.String("root", "", "the tree whose shape to walk (a local copy of what is mounted)")
	var s Sim
	flags.IntVar(&s.Workers, "workers", 16, "operations in flight (--workers)")
	flags.DurationVar(&s.Stat, "stat", time.Millisecond, "latency of one lstat at -workers in flight (probe's latency_ms)")
	flags.DurationVar(&s.List, "list", 0, "latency of one listed entry at -workers in flight (probe's list_ms_per_entry is one after the other)")
	flags.DurationVar(&s.StatCPU, "stat-cpu", 0, "CPU time of one lstat, of -cores (probe on the mount without delay)")
	flags.DurationVar(&s.ListCPU, "list-cpu", 0, "CPU time of one listed entry (probe on the mount without delay)")
	flags.IntVar(&s.Cores, "cores", runtime.NumCPU(), "cores the calls share")
	flags.IntVar(&s.Batch, "batch", 1000, "entries per listing call (probe's list_batch)")
	if err := parse(flags, args, stderr); err != nil {
		return err
	}
	if *root == "" {
		return fmt.Errorf("simulate: -root is required")
	}
	sh, err := readShape(*root)
	if err != nil {
		return fmt.Errorf("simulate: %w", err)
	}
	// Which holder finds a slot idle, and when, turns on small differences:
	// lstat latencies 0.2 % apart (5.610 and 5.618 ms) gave walls 13 % apart
	// on the bench tree at --workers 64.
	// So the walk is played with every latency scaled by 0.975 to 1.025 in
	// 11 steps, and the median is the prediction, the range its spread.
	var walls []float64
	var stats, listed int64
	for k := -5; k <= 5; k++ {
		f := 1 + float64(k)*0.005
		v := s
		v.Stat, v.List = time.Duration(float64(s.Stat)*f), time.Duration(float64(s.List)*f)
		v.StatCPU, v.ListCPU = min(s.StatCPU, v.Stat), min(s.ListCPU, v.List)
		var wall time.Duration
		wall, stats, listed, err = v.Run(sh)
		if err != nil {
			return err
		}
		walls = append(walls, wall.Seconds())
	}
	slices.Sort(walls)
	return json.NewEncoder(stdout).Encode(map[string]any{
		"workers": s.Workers, "wall_seconds": walls[len(walls)/2],
		"wall_min_seconds": walls[0], "wall_max_seconds": walls[len(walls)-1],
		"stats": stats, "listed": listed,
		"all_busy_seconds": (time.Duration(stats)*s.Stat + time.Duration(listed)*s.List).Seconds() / float64(s.Workers),
	})
}
