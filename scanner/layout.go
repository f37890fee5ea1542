package scanner

import (
	"slices"
	"strconv"
	"strings"
)

// WorkspacePrefix and SessionPrefix begin the name of every workspace
// directory ("workspace_<decimal id>") and of every session directory in
// it ("session_<id>"). This file is the one place that spells the layout:
// db builds its SQL patterns, reconcile its checks of stored paths and cmd
// its labels from these constants and the functions below.
const (
	WorkspacePrefix = "workspace_"
	SessionPrefix   = "session_"
)

// SessionPathPattern is how a message writes a session path, relative to
// the root.
const SessionPathPattern = WorkspacePrefix + "<id>/" + SessionPrefix + "<id>"

// QuarantineName is the one name a quarantine directory of sessaudit reclaim
// may have when it lives directly under the root (on EFS it must, to be on
// the same filesystem as the sessions it takes in). Walk passes a directory
// of that name at the root over: it is neither sized nor reported.
const QuarantineName = ".sessaudit-quarantine"

// DefaultIgnore are the entries of a root that a filesystem, not the
// application, puts there: ext4's lost+found and the .snapshot directory
// of NetApp and other NFS servers. The command line's --ignore defaults to
// them; Config's zero value ignores nothing.
var DefaultIgnore = []string{"lost+found", ".snapshot"}

// ignoredAtRoot reports whether the root's entry name is one a walk
// passes over: reclaim's quarantine (a directory), or a name of ignore
// (Config.Ignore).
func ignoredAtRoot(name string, isDir bool, ignore []string) bool {
	if _, ok := ParseWorkspace(name); ok {
		return false
	}
	return name == QuarantineName && isDir || slices.Contains(ignore, name)
}

// ParseWorkspace returns the id of a workspace directory name
// ("workspace_<decimal id>"). The id must be written canonically: digits
// only, no sign, no leading zero (except "0"), no overflow.
func ParseWorkspace(name string) (uint64, bool) {
	digits, ok := strings.CutPrefix(name, WorkspacePrefix)
	if !ok || digits == "" || (len(digits) > 1 && digits[0] == '0') {
		return 0, false
	}
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return 0, false
		}
	}
	id, err := strconv.ParseUint(digits, 10, 64)
	if err != nil {
		return 0, false
	}
	return id, true
}

// ParseSession returns the session id of a session directory name
// ("session_<id>", id non-empty). A name holding a slash or a NUL byte is
// never a directory entry and is rejected.
func ParseSession(name string) (string, bool) {
	id, ok := strings.CutPrefix(name, SessionPrefix)
	if !ok || id == "" || strings.ContainsAny(id, "/\x00") {
		return "", false
	}
	return id, true
}

// WorkspaceName returns the directory name of workspace id.
func WorkspaceName(id uint64) string {
	return WorkspacePrefix + strconv.FormatUint(id, 10)
}

// SessionName returns the directory name of session id.
func SessionName(id string) string {
	return SessionPrefix + id
}

// SessionPath returns the slash-separated path, relative to the root, of the
// conventional directory of a session: "workspace_<ws>/session_<id>".
func SessionPath(workspace uint64, id string) string {
	return WorkspaceName(workspace) + "/" + SessionName(id)
}

// ParseSessionPath splits a relative path "workspace_<ws>/session_<id>" into
// its parts. Anything else, including extra or empty elements, is rejected.
func ParseSessionPath(rel string) (workspace uint64, id string, ok bool) {
	ws, sess, found := strings.Cut(rel, "/")
	if !found {
		return 0, "", false
	}
	workspace, ok = ParseWorkspace(ws)
	if !ok {
		return 0, "", false
	}
	id, ok = ParseSession(sess)
	if !ok {
		return 0, "", false
	}
	return workspace, id, true
}
