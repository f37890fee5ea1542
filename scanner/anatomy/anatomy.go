package anatomy

import (
	"io/fs"
	"slices"
	"strings"
)

// Kind is what wrote a session directory, recognized from the names at its
// top.
type Kind string

const (
	Webjs   Kind = "webjs"   // a Chromium profile: Default/ or "Local State" at the top
	Baileys Kind = "baileys" // creds.json and/or <type>-<id>.json key files at the top
	Empty   Kind = "empty"
	Unknown Kind = "unknown"
)

// Kinds returns every kind, in the order of the constants.
func Kinds() []Kind { return []Kind{Webjs, Baileys, Empty, Unknown} }

// Names of entries that the rules below turn on.
const (
	// Profile is the directory of a Chromium profile under its user data
	// directory; whatsapp-web.js uses the default one.
	Profile = "Default"
	// LocalState is the user data directory's own state file.
	LocalState = "Local State"
	// IndexedDB and LocalStorage are, under Profile, what RemoteAuth keeps.
	IndexedDB    = "IndexedDB"
	LocalStorage = "Local Storage"
	// Creds is Baileys' credentials file, rewritten in place by saveCreds.
	Creds = "creds.json"
	// singletonPrefix starts the names of Chromium's process lock files at
	// the top of a user data directory (SingletonLock, SingletonSocket,
	// SingletonCookie): symbolic links that tell a running browser.
	singletonPrefix = "Singleton"
	// SingletonLock is present while a Chromium uses the profile.
	SingletonLock = "SingletonLock"
)

// StateDirs are the slash-separated paths of a webjs session that restore
// it, in the order RemoteAuth copies them.
var StateDirs = []string{Profile + "/" + IndexedDB, Profile + "/" + LocalStorage}

// Of recognizes the kind of a session directory from the names of the
// entries at its top: Webjs when Chromium's markers are there, Baileys when
// creds.json or key files are, Empty when there is nothing, and Unknown
// otherwise, including a directory holding the markers of both (no program
// writes such a thing, so nothing in it is taken for cache).
func Of(top []string) Kind {
	var m Marks
	for _, name := range top {
		m.Add(name)
	}
	return m.Kind()
}

// Marks gathers what Of looks at in a session's top-level names one name at
// a time, for a walk that lists a directory in parts. The zero value has
// seen nothing.
type Marks struct {
	any, webjs, baileys bool
}

// Add notes one top-level name.
func (m *Marks) Add(name string) {
	m.any = true
	switch {
	case name == Profile || name == LocalState:
		m.webjs = true
	case name == Creds:
		m.baileys = true
	default:
		if _, ok := KeyType(name); ok {
			m.baileys = true
		}
	}
}

// Merge adds the names o saw.
func (m *Marks) Merge(o Marks) {
	m.any = m.any || o.any
	m.webjs = m.webjs || o.webjs
	m.baileys = m.baileys || o.baileys
}

// Kind is the kind of a session whose top-level names were added.
func (m Marks) Kind() Kind {
	switch {
	case !m.any:
		return Empty
	case m.webjs && !m.baileys:
		return Webjs
	case m.baileys && !m.webjs:
		return Baileys
	}
	return Unknown
}

// keyTypes are the key types of Baileys' SignalDataTypeMap
// (lib/Types/Auth.d.ts), longest first so that a type that starts another
// ("sender-key-memory", "sender-key") is matched whole. lid-mapping is
// Baileys 7's.
var keyTypes = []string{
	"app-state-sync-version",
	"app-state-sync-key",
	"sender-key-memory",
	"lid-mapping",
	"sender-key",
	"pre-key",
	"session",
}

// KeyTypes returns Baileys' key types that KeyType recognizes, sorted.
func KeyTypes() []string {
	types := slices.Clone(keyTypes)
	slices.Sort(types)
	return types
}

// KeyType returns the type of a Baileys key file name as useMultiFileAuthState
// writes it, "<type>-<id>.json" with a non-empty id ("pre-key-12.json",
// "app-state-sync-key-AAAAAOVd.json"), and false for any other name,
// creds.json included.
func KeyType(name string) (typ string, ok bool) {
	base, ok := strings.CutSuffix(name, ".json")
	if !ok || strings.ContainsRune(base, '/') {
		return "", false
	}
	for _, t := range keyTypes {
		if id, ok := strings.CutPrefix(base, t+"-"); ok && id != "" {
			return t, true
		}
	}
	return "", false
}

// Regenerable reports whether the entry at rel (slash-separated, relative to
// the session directory, no leading slash) of a session of kind k is
// regenerable cache that the program rebuilds. For webjs it follows
// whatsapp-web.js RemoteAuth, which keeps only Default/IndexedDB and
// Default/Local Storage (every other top-level entry and every other entry of
// Default/ is regenerable, except the Chromium lock files Singleton*, which are
// neither moved nor counted as regenerable). For baileys nothing is regenerable.
// A path that is not a valid relative path (empty, ".", "..", a leading or
// doubled slash) is not regenerable.
func Regenerable(k Kind, rel string) bool {
	if k != Webjs || rel == "." || !fs.ValidPath(rel) {
		return false
	}
	top, rest, nested := strings.Cut(rel, "/")
	switch {
	case strings.HasPrefix(top, singletonPrefix):
		return false
	case top != Profile:
		return true
	case !nested:
		return false // Default itself holds the state
	}
	second, _, _ := strings.Cut(rest, "/")
	return second != IndexedDB && second != LocalStorage
}

// CacheRoots returns, of the names listed in a webjs session's top directory
// (top) and in its Default/ directory (dflt), the slash-separated relative paths
// whose whole subtrees are regenerable, for reclaim --caches to move. They
// are sorted; for any other kind there are none. A name that is not one
// entry's (empty, ".", "..", holding a slash) is left out.
func CacheRoots(k Kind, top, dflt []string) []string {
	if k != Webjs {
		return nil
	}
	var roots []string
	add := func(rel string) {
		if Regenerable(k, rel) {
			roots = append(roots, rel)
		}
	}
	for _, name := range top {
		if entryName(name) && name != Profile {
			add(name)
		}
	}
	for _, name := range dflt {
		if entryName(name) {
			add(Profile + "/" + name)
		}
	}
	slices.Sort(roots)
	return slices.Compact(roots)
}

// entryName reports whether name can be the name of one directory entry.
func entryName(name string) bool {
	return name != "" && name != "." && name != ".." && !strings.ContainsAny(name, "/\x00")
}
