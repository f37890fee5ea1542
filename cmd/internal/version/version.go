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
	v := info.Main.Version
	if v == "" {
		v = "(devel)"
	}
	fmt.Fprintf(&b, "sessaudit %s\n", v)
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
	goVersion := info.GoVersion
	if goVersion == "" {
		goVersion = runtime.Version()
	}
	fmt.Fprintf(&b, "go: %s %s/%s\n", goVersion, settings["GOOS"], settings["GOARCH"])
	return b.String()
}
