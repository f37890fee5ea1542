package kubernetes

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// runsAs returns the uid container c of pod runs as: its own
// securityContext's runAsUser, else its pod's; ok is false when neither
// sets one (the image's user, which the manifest does not say).
func runsAs(pod, c any) (uid int, ok bool) {
	if u, ok := get(c, "securityContext", "runAsUser").(int); ok {
		return u, true
	}
	u, ok := get(pod, "securityContext", "runAsUser").(int)
	return u, ok
}

// checkUser returns what is wrong with the user the audit's pods (CronJob
// cj) and the watch sidecar (in the instance's StatefulSet sts) run as.
// whatsapp-web.js runs Chromium, which makes a session's directories 0700
// and its files 0600: only their owner reads them, no group does, and root
// only with CAP_DAC_READ_SEARCH, which every container here drops (see
// reconcile's TestChromiumSessionReadableOnlyByItsUser). So both must run
// as the uid the instance's container writes the sessions as.
func checkUser(cj, sts doc) []string {
	var bad []string
	wrong := func(format string, a ...any) { bad = append(bad, fmt.Sprintf(format, a...)) }
	pod := podSpec(sts)
	instance, ok := runsAs(pod, named(get(pod, "containers"), "node"))
	if !ok {
		return []string{"the instance's container (node) sets no runAsUser: the uid the sessions are written as is not said"}
	}
	side := named(get(pod, "containers"), "sessaudit-watch")
	if side == nil {
		wrong("the StatefulSet has no sessaudit-watch container")
	} else if uid, ok := runsAs(pod, side); !ok || uid != instance {
		wrong("the watch sidecar runs as uid %v, the instance writes the sessions as uid %d: it could read no Chromium session (0700/0600)", get(side, "securityContext", "runAsUser"), instance)
	}
	audit := podSpec(cj)
	containers, _ := get(audit, "containers").([]any)
	for _, c := range containers {
		if uid, ok := runsAs(audit, c); !ok || uid != instance {
			shown := any("the image's user")
			if ok {
				shown = uid
			}
			wrong("the CronJob's %v runs as uid %v, the instance writes the sessions as uid %d: every Chromium session would be unreadable (0700/0600)", get(c, "name"), shown, instance)
		}
	}
	for _, c := range append(containers, side) {
		if c == nil {
			continue
		}
		caps, _ := get(c, "securityContext", "capabilities", "drop").([]any)
		if !slices.Contains(caps, any("ALL")) {
			wrong("%v does not drop every capability: it reads the share as its uid, and needs none", get(c, "name"))
		}
	}
	return bad
}

func userManifests(t *testing.T) (cj, sts doc) {
	t.Helper()
	return byKind(readDocs(t, "cronjob.yaml"), "CronJob"), byKind(readDocs(t, "watch-sidecar.yaml"), "StatefulSet")
}

// TestRunAsTheInstancesUser: the audit's pods and the watch sidecar run as
// the uid of the Node.js instance that writes the sessions (issue 17).
func TestRunAsTheInstancesUser(t *testing.T) {
	cj, sts := userManifests(t)
	if cj == nil || sts == nil {
		t.Fatal("want a CronJob in cronjob.yaml and a StatefulSet in watch-sidecar.yaml")
	}
	for _, p := range checkUser(cj, sts) {
		t.Error(p)
	}
}

// TestCheckUserFindsAnotherUser: checkUser refuses each way of running as
// someone else.
func TestCheckUserFindsAnotherUser(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(cj, sts doc)
		want   string
	}{
		{"the audit as a user of its own", func(cj, _ doc) {
			get(podSpec(cj), "securityContext").(map[string]any)["runAsUser"] = 65532
		}, "the CronJob's sessaudit runs as uid 65532"},
		{"the audit as the image's user", func(cj, _ doc) {
			delete(get(podSpec(cj), "securityContext").(map[string]any), "runAsUser")
		}, "the image's user"},
		{"the sidecar as another user of the instance's group", func(_, sts doc) {
			c := named(get(podSpec(sts), "containers"), "sessaudit-watch").(map[string]any)
			c["securityContext"].(map[string]any)["runAsUser"] = 1001
		}, "the watch sidecar runs as uid 1001"},
		{"the instance's uid unsaid", func(_, sts doc) {
			delete(get(podSpec(sts), "securityContext").(map[string]any), "runAsUser")
		}, "sets no runAsUser"},
		{"capabilities kept", func(cj, _ doc) {
			c := get(podSpec(cj), "containers", "0").(map[string]any)
			delete(c["securityContext"].(map[string]any), "capabilities")
		}, "does not drop every capability"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cj, sts := userManifests(t)
			tc.mutate(cj, sts)
			got := checkUser(cj, sts)
			if !slices.ContainsFunc(got, func(p string) bool { return strings.Contains(p, tc.want) }) {
				t.Errorf("checkUser found %q, want a problem containing %q", got, tc.want)
			}
		})
	}
}
