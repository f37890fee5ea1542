package systemd

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// assignment is a line of sessaudit.env that systemd's EnvironmentFile= and
// a POSIX shell read alike: a single-quoted value with none of the
// characters the two treat apart.
var assignment = regexp.MustCompile("^(SESSAUDIT_[A-Z0-9_]+)='([^'$`\\\\\"]*)'$")

// TestEnvFileShellSafe: every setting of sessaudit.env, the commented
// examples too once uncommented, is an assignment both read alike, and a
// shell that sources the file gets exactly those values (it once held a DSN
// whose parentheses a shell refused).
func TestEnvFileShellSafe(t *testing.T) {
	b, err := os.ReadFile("sessaudit.env")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	var file strings.Builder
	for n, line := range strings.Split(string(b), "\n") {
		setting := strings.TrimPrefix(line, "#")
		if !strings.HasPrefix(setting, "SESSAUDIT_") {
			file.WriteString(line + "\n")
			continue
		}
		m := assignment.FindStringSubmatch(setting)
		if m == nil {
			t.Errorf("sessaudit.env:%d: %q is not NAME='value' without ' $ ` \\ \"", n+1, line)
			continue
		}
		want[m[1]] = m[2]
		file.WriteString(setting + "\n")
	}
	if want["SESSAUDIT_DSN"] == "" {
		t.Fatal("sessaudit.env sets no SESSAUDIT_DSN")
	}
	path := filepath.Join(t.TempDir(), "sessaudit.env")
	if err := os.WriteFile(path, []byte(file.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("sh", "-c", `set -a; . "$1" && env`, "sh", path).CombinedOutput()
	if err != nil {
		t.Fatalf("sh cannot source sessaudit.env: %v\n%s", err, out)
	}
	got := map[string]string{}
	for _, line := range strings.Split(string(out), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && strings.HasPrefix(k, "SESSAUDIT_") {
			got[k] = v
		}
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("sh reads %s as %q, systemd as %q", k, got[k], v)
		}
	}
}
