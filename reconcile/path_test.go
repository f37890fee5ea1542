package reconcile_test

import (
	"errors"
	"strings"
	"testing"

	"sessaudit/reconcile"
	"sessaudit/scanner"
)

func TestMapPath(t *testing.T) {
	tests := []struct {
		name, prefix, stored string
		want                 string // "" means rejected as unsafe
	}{
		{"plain", "/mnt/efs", "/mnt/efs/workspace_7/session_abc", "workspace_7/session_abc"},
		{"double slash", "/mnt/efs", "/mnt/efs//workspace_7//session_abc", "workspace_7/session_abc"},
		{"dot element", "/mnt/efs", "/mnt/efs/./workspace_7/./session_abc", "workspace_7/session_abc"},
		{"trailing slash", "/mnt/efs", "/mnt/efs/workspace_7/session_abc/", "workspace_7/session_abc"},
		{"prefix with trailing slash", "/mnt/efs/", "/mnt/efs/workspace_7/session_abc", "workspace_7/session_abc"},
		{"root prefix", "/", "/workspace_7/session_abc", "workspace_7/session_abc"},
		{"spaces and unicode in id", "/mnt/efs", "/mnt/efs/workspace_7/session_ä b", "workspace_7/session_ä b"},
		{"dot-dot inside", "/mnt/efs", "/mnt/efs/workspace_7/../workspace_7/session_abc", ""},
		{"dot-dot escape", "/mnt/efs", "/mnt/efs/../etc/passwd", ""},
		{"relative", "/mnt/efs", "mnt/efs/workspace_7/session_abc", ""},
		{"other prefix", "/mnt/efs", "/mnt/other/workspace_7/session_abc", ""},
		{"prefix as a name prefix", "/mnt/efs", "/mnt/efs2/workspace_7/session_abc", ""},
		{"prefix itself", "/mnt/efs", "/mnt/efs", ""},
		{"workspace only", "/mnt/efs", "/mnt/efs/workspace_7", ""},
		{"too deep", "/mnt/efs", "/mnt/efs/workspace_7/session_abc/Default", ""},
		{"bad workspace", "/mnt/efs", "/mnt/efs/workspace_x/session_abc", ""},
		{"leading zero workspace", "/mnt/efs", "/mnt/efs/workspace_07/session_abc", ""},
		{"empty session id", "/mnt/efs", "/mnt/efs/workspace_7/session_", ""},
		{"NUL byte", "/mnt/efs", "/mnt/efs/workspace_7/session_a\x00b", ""},
		{"invalid UTF-8", "/mnt/efs", "/mnt/efs/workspace_7/session_\xff", ""},
		{"long name", "/mnt/efs", "/mnt/efs/workspace_7/session_" + strings.Repeat("a", 250), ""},
		{"empty", "/mnt/efs", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := reconcile.MapPath(tc.prefix, tc.stored)
			if tc.want == "" {
				if err == nil {
					t.Fatalf("MapPath(%q, %q) = %q, want unsafe", tc.prefix, tc.stored, got)
				}
				if !errors.Is(err, reconcile.ErrUnsafePath) {
					t.Fatalf("error %v does not wrap ErrUnsafePath", err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("MapPath(%q, %q) = %q, %v; want %q", tc.prefix, tc.stored, got, err, tc.want)
			}
		})
	}
}

// FuzzMapPath checks that whatever a row stores, a path MapPath accepts is
// a plain workspace/session path that stays under the root.
func FuzzMapPath(f *testing.F) {
	for _, s := range []string{
		"/mnt/efs/workspace_7/session_abc", "/mnt/efs//workspace_1/./session_x/", "/mnt/efs/../etc",
		"workspace_1/session_a", "/mnt/efs/workspace_1/session_a/../../..", "/mnt/efs/workspace_1/session_\x00",
	} {
		f.Add("/mnt/efs", s)
	}
	f.Fuzz(func(t *testing.T, prefix, stored string) {
		rel, err := reconcile.MapPath(prefix, stored)
		if err != nil {
			if !errors.Is(err, reconcile.ErrUnsafePath) {
				t.Fatalf("error %v does not wrap ErrUnsafePath", err)
			}
			return
		}
		if strings.Contains(stored, "..") && strings.Contains(stored, "/../") || strings.HasSuffix(stored, "/..") {
			t.Fatalf("accepted a path with a .. element: %q", stored)
		}
		ws, id, ok := scanner.ParseSessionPath(rel)
		if !ok {
			t.Fatalf("accepted %q as %q, which is not a session path", stored, rel)
		}
		if rel != scanner.SessionPath(ws, id) {
			t.Fatalf("%q is not canonical (%q)", rel, scanner.SessionPath(ws, id))
		}
		if strings.Contains(rel, "\x00") || strings.HasPrefix(rel, "/") {
			t.Fatalf("unsafe result %q", rel)
		}
	})
}
