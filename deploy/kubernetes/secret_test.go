package kubernetes

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// secretRefs collects the name of every secretKeyRef under v.
func secretRefs(v any, into map[string]bool) {
	switch x := v.(type) {
	case map[string]any:
		if ref, ok := x["secretKeyRef"].(map[string]any); ok {
			into[fmt.Sprint(ref["name"])] = true
		}
		for _, e := range x {
			secretRefs(e, into)
		}
	case []any:
		for _, e := range x {
			secretRefs(e, into)
		}
	}
}

// TestSecretsCreatedInDocs: every Secret a manifest reads is created, by
// name, in the documentation an operator follows (a sidecar once read a
// Secret no page created), and the CronJob and the sidecar read one.
func TestSecretsCreatedInDocs(t *testing.T) {
	files, err := filepath.Glob("*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, f := range files {
		for _, d := range readDocs(t, f) {
			secretRefs(d, names)
		}
	}
	if len(names) != 1 {
		t.Errorf("the manifests read the Secrets %v: want the one Secret sessaudit-db", names)
	}
	var docs strings.Builder
	for _, page := range []string{"../../docs/deploy.md", "../../docs/watch.md"} {
		b, err := os.ReadFile(page)
		if err != nil {
			t.Fatal(err)
		}
		docs.Write(b)
	}
	for name := range names {
		if !strings.Contains(docs.String(), "kubectl create secret generic "+name+" ") {
			t.Errorf("no page of docs/ creates the Secret %s the manifests read", name)
		}
	}
}
