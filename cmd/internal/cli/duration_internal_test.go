package cli

import (
	"flag"
	"strings"
	"testing"
	"time"
)

// Issue 18, an operator's trial: 2d worked only for purge --older-than.
// Every duration flag of every command takes days, alone or before a
// duration; a flag added with flag.DurationVar fails here.
func TestEveryDurationFlagTakesDays(t *testing.T) {
	commands := [][]string{{"scan"}, {"audit"}, {"watch"}, {"schema", "check"}, {"schema", "sql"}, {"reclaim"}, {"restore"}, {"purge"}}
	seen := 0
	for _, args := range commands {
		cmd, name, _, err := newCommand(Env{}, args)
		if err != nil {
			t.Fatal(err)
		}
		cmd.flags().VisitAll(func(f *flag.Flag) {
			g, ok := f.Value.(flag.Getter)
			if !ok {
				return
			}
			if _, ok := g.Get().(time.Duration); !ok {
				return
			}
			seen++
			for in, want := range map[string]time.Duration{"2d": 48 * time.Hour, "1d12h": 36 * time.Hour, "90m": 90 * time.Minute, "0": 0} {
				if err := f.Value.Set(in); err != nil {
					t.Errorf("%s --%s %s: %v", name, f.Name, in, err)
					continue
				}
				if got := g.Get().(time.Duration); got != want {
					t.Errorf("%s --%s %s = %v, want %v", name, f.Name, in, got, want)
				}
			}
			for _, bad := range []string{"2", "d", "1.5d", "2dd", "-1d", "1d-2h"} {
				if err := f.Value.Set(bad); err == nil {
					t.Errorf("%s --%s %s accepted", name, f.Name, bad)
				}
			}
		})
	}
	if seen < 10 {
		t.Errorf("only %d duration flags found", seen)
	}
}

// A bad duration's message names days too.
func TestDurationFlagError(t *testing.T) {
	var stdout, stderr strings.Builder
	code := Run(t.Context(), []string{"audit", "--min-age", "soon"}, Env{Stdout: &stdout, Stderr: &stderr, Getenv: func(string) string { return "" }})
	want := `sessaudit audit: --min-age "soon": want a duration with a unit, such as 2d, 48h or 30m; see 'sessaudit audit -h'` + "\n"
	if code != ExitFailed || stderr.String() != want {
		t.Errorf("exit %d, stderr %q, want %q", code, stderr.String(), want)
	}
}
