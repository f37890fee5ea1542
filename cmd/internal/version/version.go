package version

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
)

// Current describes the running binary.
func Current() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		info = nil
	}
	return Describe(info)
}

// Describe describes a build: the version on the first line, then the
// revision and when it was committed, whether the tree had uncommitted
// changes, and the Go toolchain. A nil info (a binary built without module
// support) gives "unknown".
func Describe(info *debug.BuildInfo) string {
	var b strings.Builder
	if info == nil {
		fmt.Fprintf(&b, "sessaudit unknown\ngo: %s %s/%s\n", runtime.Version(), runtime.GOOS, runtime.GOARCH)
		return b.String()
	}
	build := BuildOf(info)
	fmt.Fprintf(&b, "sessaudit %s\n", build.Version)
	settings := map[string]string{}
	for _, s := range info.Settings {
		settings[s.Key] = s.Value
	}
	if rev := settings["vcs.revision"]; rev != "" {
		fmt.Fprintf(&b, "revision: %s", rev)
		if settings["vcs.modified"] == "true" {
			b.WriteString(" (with uncommitted changes)")
		}
		b.WriteString("\n")
	} else {
		b.WriteString("revision: unknown (built without VCS information)\n")
	}
	if t := settings["vcs.time"]; t != "" {
		fmt.Fprintf(&b, "committed: %s\n", t)
	}
	fmt.Fprintf(&b, "go: %s %s/%s\n", build.GoVersion, settings["GOOS"], settings["GOARCH"])
	return b.String()
}

// Build is what a binary says of itself in its metrics
// (sessaudit_build_info).
type Build struct {
	Version   string // the module version, (devel) for a checkout
	Revision  string // the VCS revision, "unknown" without VCS information
	GoVersion string
}

// CurrentBuild is the Build of the running binary.
func CurrentBuild() Build {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		info = nil
	}
	return BuildOf(info)
}

// BuildOf is the Build of info; a nil info gives "unknown" for what it
// cannot tell.
func BuildOf(info *debug.BuildInfo) Build {
	b := Build{Version: "unknown", Revision: "unknown", GoVersion: runtime.Version()}
	if info == nil {
		return b
	}
	b.Version = info.Main.Version
	if b.Version == "" {
		b.Version = "(devel)"
	}
	if info.GoVersion != "" {
		b.GoVersion = info.GoVersion
	}
	for _, s := range info.Settings {
		if s.Key == "vcs.revision" && s.Value != "" {
			b.Revision = s.Value
		}
	}
	return b
}
