package kubernetes

import (
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// doc is one parsed YAML document.
type doc = map[string]any

// readDocs parses every document of a YAML file.
func readDocs(t *testing.T, name string) []doc {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var docs []doc
	dec := yaml.NewDecoder(f)
	for {
		var d doc
		err := dec.Decode(&d)
		if errors.Is(err, io.EOF) {
			return docs
		}
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		docs = append(docs, d)
	}
}

// get follows a path of map keys and list indexes ("0") through v.
func get(v any, path ...string) any {
	for _, p := range path {
		switch x := v.(type) {
		case map[string]any:
			v = x[p]
		case []any:
			i, err := strconv.Atoi(p)
			if err != nil || i < 0 || i >= len(x) {
				return nil
			}
			v = x[i]
		default:
			return nil
		}
	}
	return v
}

func byKind(docs []doc, kind string) doc {
	for _, d := range docs {
		if d["kind"] == kind {
			return d
		}
	}
	return nil
}

// named returns the element of a list of maps whose "name" is name.
func named(list any, name string) any {
	l, _ := list.([]any)
	for _, e := range l {
		if get(e, "name") == name {
			return e
		}
	}
	return nil
}

var shardArg = regexp.MustCompile(`^--shard=\$\(JOB_COMPLETION_INDEX\)/([0-9]+)$`)

// check returns what is wrong with the CronJob cj and the volume claim it
// mounts, pvc and pv: every pod of the Indexed Job must audit its own shard
// of the same N, mount the share read-only where it audits it, and take
// the DSN from a Secret.
func check(cj, pvc, pv doc) []string {
	var bad []string
	wrong := func(format string, a ...any) { bad = append(bad, fmt.Sprintf(format, a...)) }

	if get(cj, "spec", "concurrencyPolicy") != "Forbid" {
		wrong("concurrencyPolicy is %v, want Forbid", get(cj, "spec", "concurrencyPolicy"))
	}
	job := get(cj, "spec", "jobTemplate", "spec")
	if get(job, "completionMode") != "Indexed" {
		wrong("completionMode is %v, want Indexed", get(job, "completionMode"))
	}
	completions, _ := get(job, "completions").(int)
	parallelism, _ := get(job, "parallelism").(int)
	if completions < 1 || parallelism != completions {
		wrong("completions %v and parallelism %v: want the same N >= 1, every shard at once", get(job, "completions"), get(job, "parallelism"))
	}
	if n, ok := get(job, "backoffLimitPerIndex").(int); !ok || n < 0 {
		wrong("backoffLimitPerIndex is %v, want a retry count per shard", get(job, "backoffLimitPerIndex"))
	}
	pod := get(job, "template", "spec")
	if get(pod, "restartPolicy") != "Never" {
		wrong("restartPolicy is %v, want Never (backoffLimitPerIndex needs it)", get(pod, "restartPolicy"))
	}
	if get(pod, "securityContext", "runAsNonRoot") != true {
		wrong("the pod does not set runAsNonRoot")
	}
	containers, _ := get(pod, "containers").([]any)
	if len(containers) != 1 {
		return append(bad, fmt.Sprintf("%d containers, want 1", len(containers)))
	}
	c := containers[0]

	var args []string
	for _, a := range get(c, "args").([]any) {
		args = append(args, fmt.Sprint(a))
	}
	if len(args) == 0 || args[0] != "audit" {
		wrong("args %q do not start with audit", args)
	}
	shards := 0
	root := ""
	for _, a := range args {
		if m := shardArg.FindStringSubmatch(a); m != nil {
			shards++
			if n, _ := strconv.Atoi(m[1]); n != completions {
				wrong("%s: N is %d but completions is %d: shards would be missed or run twice", a, n, completions)
			}
		} else if strings.HasPrefix(a, "--shard") {
			wrong("%s: want --shard=$(JOB_COMPLETION_INDEX)/N", a)
		}
		if v, ok := strings.CutPrefix(a, "--root="); ok {
			root = v
		}
		if strings.HasPrefix(a, "--dsn") {
			wrong("%s: the DSN must come from the Secret, not the command line", a)
		}
	}
	if shards != 1 {
		wrong("%d --shard=$(JOB_COMPLETION_INDEX)/N arguments, want 1", shards)
	}
	// $(JOB_COMPLETION_INDEX) is expanded only from a variable declared in
	// the container's env: from the Job's completion index.
	env := get(c, "env")
	if get(named(env, "JOB_COMPLETION_INDEX"), "valueFrom", "fieldRef", "fieldPath") != "metadata.annotations['batch.kubernetes.io/job-completion-index']" {
		wrong("JOB_COMPLETION_INDEX is not taken from the completion index annotation")
	}
	if get(named(env, "SESSAUDIT_DSN"), "valueFrom", "secretKeyRef", "name") == nil {
		wrong("SESSAUDIT_DSN does not come from a Secret")
	}
	for _, r := range []string{"cpu", "memory"} {
		if get(c, "resources", "requests", r) == nil {
			wrong("no %s request", r)
		}
	}

	// The share: mounted read-only at --root, from the claim of the EFS
	// volume, read-only at every level.
	mount := named(get(c, "volumeMounts"), "share")
	if mount == nil || get(mount, "mountPath") != root || root == "" {
		wrong("the share is not mounted at --root (%q): %v", root, mount)
	}
	if get(mount, "readOnly") != true {
		wrong("the share's volumeMount is not readOnly")
	}
	vol := named(get(pod, "volumes"), "share")
	if get(vol, "persistentVolumeClaim", "readOnly") != true {
		wrong("the share's volume is not a read-only persistentVolumeClaim: %v", vol)
	}
	claim := get(vol, "persistentVolumeClaim", "claimName")
	if claim == nil || claim != get(pvc, "metadata", "name") {
		wrong("the pod claims %v, the claim is %v", claim, get(pvc, "metadata", "name"))
	}
	if get(pvc, "spec", "volumeName") != get(pv, "metadata", "name") {
		wrong("the claim binds %v, the volume is %v", get(pvc, "spec", "volumeName"), get(pv, "metadata", "name"))
	}
	for _, d := range []doc{pvc, pv} {
		if modes := get(d, "spec", "accessModes"); fmt.Sprint(modes) != "[ReadOnlyMany]" {
			wrong("%v accessModes %v, want [ReadOnlyMany]", d["kind"], modes)
		}
	}
	if get(pv, "spec", "csi", "driver") != "efs.csi.aws.com" || get(pv, "spec", "csi", "readOnly") != true {
		wrong("the volume is not a read-only EFS CSI volume: %v", get(pv, "spec", "csi"))
	}
	return bad
}

func manifests(t *testing.T) (cj, pvc, pv doc) {
	t.Helper()
	share := readDocs(t, "share.yaml")
	return byKind(readDocs(t, "cronjob.yaml"), "CronJob"), byKind(share, "PersistentVolumeClaim"), byKind(share, "PersistentVolume")
}

func TestManifests(t *testing.T) {
	cj, pvc, pv := manifests(t)
	if cj == nil || pvc == nil || pv == nil {
		t.Fatalf("want a CronJob in cronjob.yaml and a PersistentVolume and its claim in share.yaml")
	}
	for _, p := range check(cj, pvc, pv) {
		t.Error(p)
	}
}

// TestCheckFindsMiswiring makes sure that check refuses what it is for:
// each case breaks the manifests in one way.
func TestCheckFindsMiswiring(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(cj, pvc, pv doc)
		want   string
	}{
		{"completions apart from the shard count", func(cj, _, _ doc) {
			get(cj, "spec", "jobTemplate", "spec").(map[string]any)["completions"] = 3
		}, "N is 4 but completions is 3"},
		{"a fixed shard", func(cj, _, _ doc) {
			c := get(cj, "spec", "jobTemplate", "spec", "template", "spec", "containers", "0").(map[string]any)
			args := c["args"].([]any)
			for i, a := range args {
				if strings.HasPrefix(fmt.Sprint(a), "--shard") {
					args[i] = "--shard=0/4"
				}
			}
		}, "want --shard=$(JOB_COMPLETION_INDEX)/N"},
		{"a writable mount", func(cj, _, _ doc) {
			m := named(get(cj, "spec", "jobTemplate", "spec", "template", "spec", "containers", "0", "volumeMounts"), "share").(map[string]any)
			delete(m, "readOnly")
		}, "volumeMount is not readOnly"},
		{"a read-write claim", func(_, pvc, _ doc) {
			get(pvc, "spec").(map[string]any)["accessModes"] = []any{"ReadWriteMany"}
		}, "PersistentVolumeClaim accessModes [ReadWriteMany]"},
		{"serial pods", func(cj, _, _ doc) {
			get(cj, "spec", "jobTemplate", "spec").(map[string]any)["parallelism"] = 1
		}, "every shard at once"},
		{"overlapping runs", func(cj, _, _ doc) {
			get(cj, "spec").(map[string]any)["concurrencyPolicy"] = "Allow"
		}, "want Forbid"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cj, pvc, pv := manifests(t)
			tc.mutate(cj, pvc, pv)
			got := check(cj, pvc, pv)
			if !slices.ContainsFunc(got, func(p string) bool { return strings.Contains(p, tc.want) }) {
				t.Errorf("check found %q, want a problem containing %q", got, tc.want)
			}
		})
	}
}

// TestNoTokenPinnedImagesMetricsPushed: the pods of every manifest get no
// service account token (they call no Kubernetes API), every image names a
// tag other than latest, and the CronJob's audits push their metrics to the
// Service of pushgateway.yaml, on its port.
func TestNoTokenPinnedImagesMetricsPushed(t *testing.T) {
	for _, file := range []string{"cronjob.yaml", "pushgateway.yaml"} {
		docs := readDocs(t, file)
		for _, d := range docs {
			spec := podSpec(d)
			if spec == nil {
				continue
			}
			name := get(d, "metadata", "name")
			if get(spec, "automountServiceAccountToken") != false {
				t.Errorf("%s: %v %v: automountServiceAccountToken is not false", file, d["kind"], name)
			}
			sa := byName(docs, "ServiceAccount", fmt.Sprint(get(spec, "serviceAccountName")))
			if sa == nil || sa["automountServiceAccountToken"] != false {
				t.Errorf("%s: %v %v: its service account %v is not in the file with automountServiceAccountToken: false", file, d["kind"], name, get(spec, "serviceAccountName"))
			}
			containers, _ := get(spec, "containers").([]any)
			for _, c := range containers {
				image := fmt.Sprint(get(c, "image"))
				i := strings.LastIndex(image, ":")
				if i < 0 || strings.Contains(image[i:], "/") || image[i+1:] == "latest" {
					t.Errorf("%s: image %s is not pinned to a tag", file, image)
				}
			}
		}
	}
	cj, _, _ := manifests(t)
	svc := byKind(readDocs(t, "pushgateway.yaml"), "Service")
	want := fmt.Sprintf("--pushgateway=http://%v:%v", get(svc, "metadata", "name"), get(svc, "spec", "ports", "0", "port"))
	args := get(cj, "spec", "jobTemplate", "spec", "template", "spec", "containers", "0", "args")
	if !slices.Contains(args.([]any), any(want)) {
		t.Errorf("the CronJob's args %v lack %s", args, want)
	}
}

// podSpec is the pod template's spec of a workload (a Deployment, a
// CronJob), or nil.
func podSpec(d doc) any {
	switch d["kind"] {
	case "CronJob":
		return get(d, "spec", "jobTemplate", "spec", "template", "spec")
	case "Deployment", "StatefulSet", "Job", "DaemonSet":
		return get(d, "spec", "template", "spec")
	}
	return nil
}

func byName(docs []doc, kind, name string) doc {
	for _, d := range docs {
		if d["kind"] == kind && get(d, "metadata", "name") == name {
			return d
		}
	}
	return nil
}
