package systemd

import (
	"bufio"
	"os"
	"slices"
	"strings"
	"testing"
)

// directives returns the values of each directive of a unit file, in
// order, with continuation lines joined.
func directives(t *testing.T, name string) map[string][]string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	var line string
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if line == "" && (l == "" || strings.HasPrefix(l, "#") || strings.HasPrefix(l, "[")) {
			continue
		}
		if cont, ok := strings.CutSuffix(l, "\\"); ok {
			line += cont + " "
			continue
		}
		line += l
		if k, v, ok := strings.Cut(line, "="); ok {
			out[k] = append(out[k], v)
		}
		line = ""
	}
	return out
}

// checkUser returns what is wrong with the user sessaudit.service runs as.
// whatsapp-web.js runs Chromium, which makes a session's directories 0700
// and its files 0600 (reconcile's TestChromiumSessionReadableOnlyByItsUser):
// only their owner reads them, no group does. So the audit runs as the
// user the Node.js instances run as, named by User=, and needs no
// capability; or as root, which reads them on a local disk only with
// CAP_DAC_READ_SEARCH, and then with the share read-only. Which user the
// instances run as is the host's to say: the unit names them whatsapp, a
// placeholder the docs say to replace.
func checkUser(d map[string][]string) []string {
	var bad []string
	user := ""
	if us := d["User"]; len(us) > 0 {
		user = us[len(us)-1]
	}
	caps := strings.Join(d["CapabilityBoundingSet"], " ")
	root := user == "" || user == "root" || user == "0"
	switch {
	case root && !strings.Contains(caps, "CAP_DAC_READ_SEARCH"):
		bad = append(bad, "runs as root without CAP_DAC_READ_SEARCH: Chromium's 0700 directories of the instances' user would be unreadable; set User= to the user the Node.js instances run as")
	case !root && caps != "":
		bad = append(bad, "runs as "+user+" with capabilities "+caps+": as the instances' user it needs none")
	}
	share := ""
	f := strings.Fields(strings.Join(d["ExecStart"], " "))
	for i, arg := range f {
		if v, ok := strings.CutPrefix(arg, "--root="); ok {
			share = v
		} else if arg == "--root" && i+1 < len(f) {
			share = f[i+1]
		}
	}
	if share == "" || !slices.Contains(strings.Fields(strings.Join(d["ReadOnlyPaths"], " ")), share) {
		bad = append(bad, "the share (--root "+share+") is not in ReadOnlyPaths=: the audit reads it and never writes it")
	}
	return bad
}

// TestServiceUser: the nightly audit runs as the instances' user, with no
// capability and the share read-only (issue 17).
func TestServiceUser(t *testing.T) {
	d := directives(t, "sessaudit.service")
	if got := d["User"]; !slices.Equal(got, []string{"whatsapp"}) {
		t.Errorf("User=%q, want the placeholder whatsapp the docs name as the instances' user", got)
	}
	for _, p := range checkUser(d) {
		t.Error(p)
	}
}

// TestCheckUserFindsAnotherUser: checkUser refuses the ways of running as
// a user that reads nothing of Chromium's.
func TestCheckUserFindsAnotherUser(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(d map[string][]string)
		want   string
	}{
		{"root without capabilities", func(d map[string][]string) { delete(d, "User") }, "runs as root without CAP_DAC_READ_SEARCH"},
		{"the share writable", func(d map[string][]string) { delete(d, "ReadOnlyPaths") }, "not in ReadOnlyPaths="},
		{"capabilities for a user", func(d map[string][]string) { d["CapabilityBoundingSet"] = []string{"CAP_DAC_OVERRIDE"} }, "as the instances' user it needs none"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := directives(t, "sessaudit.service")
			tc.mutate(d)
			got := checkUser(d)
			if !slices.ContainsFunc(got, func(p string) bool { return strings.Contains(p, tc.want) }) {
				t.Errorf("checkUser found %q, want a problem containing %q", got, tc.want)
			}
		})
	}
	d := directives(t, "sessaudit.service")
	d["User"], d["CapabilityBoundingSet"] = []string{"root"}, []string{"CAP_DAC_READ_SEARCH"}
	if got := checkUser(d); len(got) != 0 {
		t.Errorf("root with CAP_DAC_READ_SEARCH and the share read-only: %q, want it accepted", got)
	}
}
