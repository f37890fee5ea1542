package reconcile

import (
	"errors"
	"path"
	"strings"
	"unicode/utf8"

	"sessaudit/scanner"
)

// maxStoredPath bounds a stored path; longer values are not real paths here.
const (
	maxStoredPath = 4096
	maxNameBytes  = 255
)

// ErrUnsafePath is wrapped by every reason MapPath rejects a stored path.
var ErrUnsafePath = errors.New("unsafe path")

// MapPath maps a path as the application stores it onto the share: stored
// must be prefix/workspace_<digits>/session_<name> after lexical cleaning
// (doubled slashes, "." elements and a trailing slash are harmless). It
// returns the slash-separated path relative to the root. A relative path, a
// ".." element, a NUL byte, invalid UTF-8, an over-long name, a path outside
// prefix or any other shape is rejected with an error wrapping ErrUnsafePath;
// such a path must never be opened.
func MapPath(prefix, stored string) (string, error) {
	switch {
	case stored == "":
		return "", unsafe("empty path")
	case len(stored) > maxStoredPath:
		return "", unsafe("path longer than 4096 bytes")
	case strings.IndexByte(stored, 0) >= 0:
		return "", unsafe("path contains a NUL byte")
	case !utf8.ValidString(stored):
		return "", unsafe("path is not valid UTF-8")
	case !strings.HasPrefix(stored, "/"):
		return "", unsafe("relative path")
	}
	// MapPath runs once per row: written so that a clean stored path under
	// a clean prefix allocates nothing.
	for elem := range strings.SplitSeq(stored, "/") {
		if elem == ".." {
			return "", unsafe(`path contains a ".." element`)
		}
		if len(elem) > maxNameBytes {
			return "", unsafe("path element longer than 255 bytes")
		}
	}
	if !strings.HasPrefix(prefix, "/") {
		prefix = "/" + prefix
	}
	prefix = path.Clean(prefix)
	clean := path.Clean(stored)
	var rel string
	if prefix == "/" {
		rel = strings.TrimPrefix(clean, "/")
	} else {
		rest, ok := strings.CutPrefix(clean, prefix)
		if !ok || !strings.HasPrefix(rest, "/") {
			return "", unsafe("path is outside " + prefix)
		}
		rel = rest[1:]
	}
	if _, _, ok := scanner.ParseSessionPath(rel); !ok {
		return "", unsafe("path is not " + prefix + "/" + scanner.SessionPathPattern)
	}
	return rel, nil
}

type unsafeError string

func (e unsafeError) Error() string { return string(e) }
func (e unsafeError) Is(target error) bool {
	return target == ErrUnsafePath
}

func unsafe(reason string) error { return unsafeError(reason) }
