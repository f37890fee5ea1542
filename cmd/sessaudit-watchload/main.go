// Command sessaudit-watchload is the writer of the watch-mode load benchmark
// (.ci/bench-watch): it makes a tree of session directories, each with
// nested subdirectories, then, for a given time, writes into every session
// at a given rate, as the Node.js instance beside a sidecar would, and
// stops. It prints one JSON line per phase.
//
//	sessaudit-watchload -root /tmp/share -make -sessions 500 -dirs 99
//	sessaudit-watchload -root /tmp/share -sessions 500 -rate 20 -for 60s
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sessaudit/scanner"
	"time"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("sessaudit-watchload", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		root       = fs.String("root", "", "the share's root")
		make_      = fs.Bool("make", false, "make the tree instead of writing into it")
		sessions   = fs.Int("sessions", 500, "sessions, spread over -workspaces workspaces")
		workspaces = fs.Int("workspaces", 50, "workspace_<id> directories")
		dirs       = fs.Int("dirs", 99, "directories inside each session (three levels: Default/<a>/<b>)")
		rate       = fs.Float64("rate", 20, "writes per second into each session")
		duration   = fs.Duration("for", 60*time.Second, "how long to write")
	)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *root == "" || *sessions <= 0 || *workspaces <= 0 || *dirs < 1 || *rate <= 0 {
		fmt.Fprintln(stderr, "sessaudit-watchload: -root is required; counts and rate must be positive")
		return 2
	}
	var err error
	if *make_ {
		err = makeTree(*root, *sessions, *workspaces, *dirs, stdout)
	} else {
		err = load(*root, *sessions, *workspaces, *dirs, *rate, *duration, stdout)
	}
	if err != nil {
		fmt.Fprintln(stderr, "sessaudit-watchload:", err)
		return 1
	}
	return 0
}

// sessionDir is the directory of session i, and dir returns its j-th
// inner directory (j from 1): Default, Default/d<k>, Default/d<k>/e<m>.
func sessionDir(root string, i, workspaces int) string {
	return filepath.Join(root, filepath.FromSlash(scanner.SessionPath(uint64(i%workspaces+1), fmt.Sprintf("s%04d", i))))
}

func dir(session string, j int) string {
	if j == 1 {
		return filepath.Join(session, "Default")
	}
	// 9 directories d<k>, each with up to 10 e<m> below (levels 2 and 3).
	k, m := (j-2)/11, (j-2)%11
	if m == 0 {
		return filepath.Join(session, "Default", fmt.Sprintf("d%d", k))
	}
	return filepath.Join(session, "Default", fmt.Sprintf("d%d", k), fmt.Sprintf("e%d", m))
}

func makeTree(root string, sessions, workspaces, dirs int, stdout io.Writer) error {
	n := 0
	for i := range sessions {
		s := sessionDir(root, i, workspaces)
		for j := 1; j <= dirs; j++ {
			if err := os.MkdirAll(dir(s, j), 0o755); err != nil {
				return err
			}
		}
		if err := os.WriteFile(filepath.Join(s, "creds.json"), []byte("{}"), 0o644); err != nil {
			return err
		}
		n += dirs + 1
	}
	return json.NewEncoder(stdout).Encode(map[string]any{"phase": "make", "sessions": sessions, "directories": n})
}

// load writes, every tick, one file in each session: a log that grows in
// a directory three levels deep, as LevelDB's does, so that every write
// changes the session's size.
func load(root string, sessions, workspaces, dirs int, rate float64, d time.Duration, stdout io.Writer) error {
	tick := time.Duration(float64(time.Second) / rate)
	files := make([]*os.File, sessions)
	for i := range sessions {
		name := filepath.Join(dir(sessionDir(root, i, workspaces), dirs), "000003.log")
		f, err := os.OpenFile(name, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return err
		}
		defer f.Close()
		files[i] = f
	}
	record := []byte("0123456789abcdef0123456789abcdef\n")
	start := time.Now()
	ticker := time.NewTicker(tick)
	defer ticker.Stop()
	writes, late := 0, 0
	for now := range ticker.C {
		if now.Sub(start) >= d {
			break
		}
		for _, f := range files {
			if _, err := f.Write(record); err != nil {
				return err
			}
			writes++
		}
		if time.Since(now) > tick {
			late++
		}
	}
	stopped := time.Now()
	return json.NewEncoder(stdout).Encode(map[string]any{
		"phase": "load", "sessions": sessions, "writes": writes, "late_ticks": late,
		"seconds": stopped.Sub(start).Seconds(), "stopped_unix": float64(stopped.UnixNano()) / 1e9,
	})
}
