package cli_test

import (
	"strings"
	"testing"

	"sessaudit/cmd/internal/cli"
)

// Defect 12 of issue 9: a flag error is one line that says what a value
// must look like and where the help is, not flag's "parse error" and a
// usage dump.
func TestFlagErrorsOneLine(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"audit", "--min-age", "x"}, `sessaudit audit: --min-age "x": want a duration with a unit, such as 2d, 48h or 30m; see 'sessaudit audit -h'`},
		{[]string{"audit", "--min-age", "48"}, `sessaudit audit: --min-age "48": want a duration with a unit, such as 2d, 48h or 30m; see 'sessaudit audit -h'`},
		{[]string{"scan", "--io-timeout", "soon"}, `sessaudit scan: --io-timeout "soon": want a duration with a unit, such as 2d, 48h or 30m; see 'sessaudit scan -h'`},
		{[]string{"audit", "--workers", "many"}, `sessaudit audit: --workers "many": want a whole number; see 'sessaudit audit -h'`},
		{[]string{"audit", "--max-missing-ratio", "half"}, `sessaudit audit: --max-missing-ratio "half": want a number, such as 0.5; see 'sessaudit audit -h'`},
		{[]string{"audit", "--dry-run=maybe"}, `sessaudit audit: --dry-run "maybe": want true or false; see 'sessaudit audit -h'`},
		{[]string{"audit", "--format", "xml"}, `sessaudit audit: --format "xml": want text, json or html; see 'sessaudit audit -h'`},
		{[]string{"scan", "--workspace", "x"}, `sessaudit scan: --workspace "x": workspace id "x" is not a non-negative integer; see 'sessaudit scan -h'`},
		{[]string{"audit", "--nope"}, `sessaudit audit: unknown flag --nope; see 'sessaudit audit -h'`},
		{[]string{"audit", "--root"}, `sessaudit audit: --root needs a value; see 'sessaudit audit -h'`},
		{[]string{"scan", "--root", "/x", "extra"}, `sessaudit scan: unexpected argument "extra"; see 'sessaudit scan -h'`},
		{[]string{"scan"}, `sessaudit scan: --root is required; see 'sessaudit scan -h'`},
		{[]string{"schema", "check", "--format", "yaml"}, `sessaudit schema check: --format "yaml": want text or json; see 'sessaudit schema check -h'`},
		{[]string{"bogus"}, `sessaudit bogus: unknown command "bogus": want scan, audit, watch, schema, report, reclaim, restore, purge, version or help; see 'sessaudit help'`},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			res := run(t, nil, tc.args...)
			if res.code != cli.ExitFailed {
				t.Errorf("exit %d, want 2", res.code)
			}
			if res.stderr != tc.want+"\n" || res.stdout != "" {
				t.Errorf("stderr:\n%s\nwant one line:\n%s\nstdout: %q", res.stderr, tc.want, res.stdout)
			}
		})
	}
}

// Every command's help has a synopsis, an example, its flags and its exit
// statuses, on stdout with exit 0, whether asked as -h or as help <command>.
func TestHelp(t *testing.T) {
	for _, name := range []string{"scan", "audit", "schema check", "schema sql", "reclaim", "restore", "purge"} {
		words := strings.Fields(name)
		for _, args := range [][]string{append(words, "-h"), append(words, "--help"), append([]string{"help"}, words...)} {
			t.Run(strings.Join(args, " "), func(t *testing.T) {
				res := run(t, nil, args...)
				if res.code != cli.ExitClean || res.stderr != "" {
					t.Fatalf("exit %d stderr %q", res.code, res.stderr)
				}
				for _, want := range []string{"usage: sessaudit " + name + " ", "\nexample:\n  ", "sessaudit " + name, "\nflags:\n  --", "\nexit status: 0 "} {
					if !strings.Contains(res.stdout, want) {
						t.Errorf("help lacks %q:\n%s", want, res.stdout)
					}
				}
			})
		}
	}
	for _, args := range [][]string{{"help"}, {"-h"}, {"help", "schema"}, {"schema", "-h"}} {
		if res := run(t, nil, args...); res.code != cli.ExitClean || !strings.HasPrefix(res.stdout, "usage: sessaudit ") {
			t.Errorf("%q: exit %d stdout %q", args, res.code, res.stdout)
		}
	}
}
