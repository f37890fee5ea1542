package version_test

import (
	"runtime"
	"runtime/debug"
	"strings"
	"testing"

	"sessaudit/cmd/internal/version"
)

func TestDescribe(t *testing.T) {
	for _, tc := range []struct {
		name string
		info *debug.BuildInfo
		want string
	}{
		{
			name: "a tagged, clean build",
			info: &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "sessaudit", Version: "v1.2.0"}, Settings: []debug.BuildSetting{
				{Key: "GOOS", Value: "linux"}, {Key: "GOARCH", Value: "amd64"},
				{Key: "vcs.revision", Value: "9eadec97aa9357d62d22bd530254603e2dde0b5b"},
				{Key: "vcs.time", Value: "2026-11-29T17:21:04Z"}, {Key: "vcs.modified", Value: "false"},
			}},
			want: "sessaudit v1.2.0\nrevision: 9eadec97aa9357d62d22bd530254603e2dde0b5b\ncommitted: 2026-11-29T17:21:04Z\ngo: go1.26.8 linux/amd64\n",
		},
		{
			name: "a modified tree",
			info: &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "sessaudit", Version: "v0.0.0-20261129172104-9eadec97aa93+dirty"}, Settings: []debug.BuildSetting{
				{Key: "GOOS", Value: "linux"}, {Key: "GOARCH", Value: "arm64"},
				{Key: "vcs.revision", Value: "9eadec97aa93"}, {Key: "vcs.modified", Value: "true"},
			}},
			want: "sessaudit v0.0.0-20261129172104-9eadec97aa93+dirty\nrevision: 9eadec97aa93 (with uncommitted changes)\ngo: go1.26.8 linux/arm64\n",
		},
		{
			name: "no VCS information",
			info: &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "sessaudit", Version: "(devel)"}, Settings: []debug.BuildSetting{
				{Key: "GOOS", Value: "linux"}, {Key: "GOARCH", Value: "amd64"},
			}},
			want: "sessaudit (devel)\nrevision: unknown (built without VCS information)\ngo: go1.26.8 linux/amd64\n",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := version.Describe(tc.info); got != tc.want {
				t.Errorf("Describe =\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
	if got := version.Describe(nil); !strings.HasPrefix(got, "sessaudit unknown\n") || !strings.Contains(got, runtime.Version()) {
		t.Errorf("Describe(nil) = %q", got)
	}
}
