// Command sessaudit-gentree writes a synthetic session tree
// (DIR/workspace_<id>/session_<id>/...) for benchmarks and manual tests of
// sessaudit, and prints how many entries it wrote. The tree depends only on
// the flags: the same flags and -seed give the same tree.
//
//	sessaudit-gentree -out /tmp/tree -entries 500000 -baileys-ratio 0.3
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"time"

	"github.com/spf13/afero"

	"sessaudit/scanner/scantest"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	flags := flag.NewFlagSet("sessaudit-gentree", flag.ContinueOnError)
	flags.SetOutput(stderr)
	var (
		out     = flags.String("out", "", "directory to write the tree in; must not exist or be empty")
		spec    scantest.Spec
		entries = flags.Int64("entries", 0, "aim at about this many entries by choosing -sessions (0: use -sessions or -workspaces)")
	)
	flags.IntVar(&spec.Workspaces, "workspaces", 4, "number of workspace_<id> directories")
	flags.IntVar(&spec.SessionsPerWorkspace, "sessions-per-workspace", 4, "session_<id> directories per workspace")
	flags.IntVar(&spec.Sessions, "sessions", 0, "total sessions, filling workspaces in turn; overrides -workspaces (0: workspaces × sessions per workspace)")
	flags.IntVar(&spec.ChromiumFiles, "chromium-files", 1000, "regular files per Chromium-style session")
	flags.IntVar(&spec.BaileysFiles, "baileys-files", 300, "regular files per Baileys session")
	flags.Float64Var(&spec.BaileysRatio, "baileys-ratio", 0.3, "fraction of sessions that are flat Baileys folders (0..1)")
	flags.Uint64Var(&spec.Seed, "seed", 1, "seed for names, sizes and contents")
	flags.Float64Var(&spec.SizeScale, "size-scale", 1, "multiplier for every file size")
	flags.IntVar(&spec.Workers, "workers", 0, "sessions written at once (0: 4×GOMAXPROCS)")
	if err := flags.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *out == "" || flags.NArg() > 0 {
		fmt.Fprintln(stderr, "usage: sessaudit-gentree -out DIR [flags]")
		flags.PrintDefaults()
		return 2
	}
	if *entries > 0 {
		spec.Sessions = sessionsFor(spec, *entries)
	}
	if err := checkEmpty(*out); err != nil {
		fmt.Fprintln(stderr, "sessaudit-gentree:", err)
		return 1
	}

	start := time.Now()
	st, err := scantest.Generate(afero.NewOsFs(), *out, spec)
	if err != nil {
		fmt.Fprintln(stderr, "sessaudit-gentree:", err)
		return 1
	}
	fmt.Fprintf(stdout, "wrote %d entries (%d files, %d dirs, %d links, %.1f MiB) in %.1fs: %d workspaces, %d sessions (%d chromium, %d baileys) under %s\n",
		st.Entries(), st.Files, st.Dirs, st.Links, float64(st.Bytes)/(1<<20), time.Since(start).Seconds(),
		st.Workspaces, st.Sessions, st.Chromium, st.Baileys, *out)
	return 0
}

// sessionsFor returns the number of sessions that brings spec closest to the
// wanted number of entries.
func sessionsFor(spec scantest.Spec, entries int64) int {
	const sample = 10000 // enough sessions to average the mix of kinds
	spec.Sessions = sample
	perSession := float64(spec.Estimate().Entries()) / sample
	return max(1, int(math.Round(float64(entries)/perSession)))
}

func checkEmpty(dir string) error {
	f, err := os.Open(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	names, err := f.Readdirnames(1)
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("read %s: %w", dir, err)
	}
	if len(names) > 0 {
		return fmt.Errorf("%s is not empty", dir)
	}
	return nil
}
