package systemd

import (
	"regexp"
	"slices"
	"strings"
	"testing"
)

// flagValue returns the value of --name in an ExecStart line.
func flagValue(exec, name string) string {
	m := regexp.MustCompile(`--` + name + `[ =](\S+)`).FindStringSubmatch(exec)
	if m == nil {
		return ""
	}
	return m[1]
}

// TestReclaimAndPurgeUnits: who may write the share. The audit's unit
// reads it; reclaim's may rename in it (the whole share: a move is a
// rename on one filesystem); purge's writes inside the quarantine only.
// The three run as one user, reclaim reads the report the audit writes,
// reclaim and purge name one quarantine, and each command has a metrics
// file of its own in the collector's directory.
func TestReclaimAndPurgeUnits(t *testing.T) {
	audit := directives(t, "sessaudit.service")
	reclaim := directives(t, "sessaudit-reclaim.service")
	purge := directives(t, "sessaudit-purge.service")
	for name, d := range map[string]map[string][]string{"sessaudit-reclaim.service": reclaim, "sessaudit-purge.service": purge} {
		if !slices.Equal(d["User"], audit["User"]) {
			t.Errorf("%s: User=%v, sessaudit.service's is %v: the owner of the session directories moves and deletes them", name, d["User"], audit["User"])
		}
		if !strings.Contains(d["ExecStart"][0], " --yes") {
			t.Errorf("%s: ExecStart lacks --yes, so it would only print its plan: %s", name, d["ExecStart"][0])
		}
	}
	if slices.ContainsFunc(audit["ReadWritePaths"], func(p string) bool { return strings.HasPrefix(p, "/mnt/efs") }) {
		t.Errorf("sessaudit.service may write the share: ReadWritePaths=%v", audit["ReadWritePaths"])
	}
	if !slices.Contains(reclaim["ReadWritePaths"], "/mnt/efs") {
		t.Errorf("sessaudit-reclaim.service cannot rename in the share: ReadWritePaths=%v", reclaim["ReadWritePaths"])
	}
	if !slices.Contains(purge["ReadOnlyPaths"], "/mnt/efs") || slices.Contains(purge["ReadWritePaths"], "/mnt/efs") {
		t.Errorf("sessaudit-purge.service may write beyond the quarantine: ReadOnlyPaths=%v ReadWritePaths=%v", purge["ReadOnlyPaths"], purge["ReadWritePaths"])
	}
	q := flagValue(reclaim["ExecStart"][0], "quarantine")
	if q == "" || q != flagValue(purge["ExecStart"][0], "quarantine") || !slices.Contains(purge["ReadWritePaths"], q) {
		t.Errorf("quarantine: reclaim %q, purge %q, purge may write %v", q, flagValue(purge["ExecStart"][0], "quarantine"), purge["ReadWritePaths"])
	}
	if got, want := flagValue(reclaim["ExecStart"][0], "report"), flagValue(audit["ExecStart"][0], "output"); got != want || !slices.Equal(reclaim["StateDirectory"], audit["StateDirectory"]) {
		t.Errorf("reclaim reads %q in StateDirectory %v; the audit writes %q in %v", got, reclaim["StateDirectory"], want, audit["StateDirectory"])
	}
	files := map[string]bool{}
	for _, d := range []map[string][]string{audit, reclaim, purge} {
		f := flagValue(d["ExecStart"][0], "metrics-file")
		if f == "" || files[f] || !strings.HasPrefix(f, "/var/lib/prometheus/node-exporter/") {
			t.Errorf("metrics file %q: want one of its own per command, in node_exporter's directory", f)
		}
		files[f] = true
	}
}
