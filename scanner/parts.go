package scanner

import (
	"maps"
	"strings"

	"sessaudit/scanner/anatomy"
)

// Anatomy is what a session directory is made of, from the same walk as its
// Usage: no filesystem call is made for it (package anatomy has the rules).
type Anatomy struct {
	// Kind is what wrote the session, recognized from its top-level names;
	// "" when the session was not measured.
	Kind anatomy.Kind
	// Regenerable is the part of Usage that the program rebuilds: a webjs
	// profile's every entry but Default/IndexedDB, Default/Local Storage,
	// Default itself and the Singleton* lock files (anatomy.Regenerable);
	// zero for any other kind. The rest of Usage is state (State).
	Regenerable Usage
	// Keys are a baileys session's key files at its top by type
	// (anatomy.KeyType): their count (Files) and bytes; nil for any other
	// kind.
	Keys map[string]Usage
	// Creds is creds.json at the top of the session, a regular file: its
	// size in bytes, or -1 when there is none.
	Creds int64
	// IndexedDB and LocalStorage report whether Default/IndexedDB and
	// Default/Local Storage are directories of the session: what a webjs
	// session is restored from.
	IndexedDB, LocalStorage bool
}

// State is the part of u, the session's Usage, that is not regenerable.
func (a Anatomy) State(u Usage) Usage {
	return Usage{
		Size:      u.Size - a.Regenerable.Size,
		Allocated: u.Allocated - a.Regenerable.Allocated,
		Metered:   u.Metered - a.Regenerable.Metered,
		Files:     u.Files - a.Regenerable.Files,
		Dirs:      u.Dirs - a.Regenerable.Dirs,
	}
}

// KeyFiles is the number of the session's key files, of every type.
func (a Anatomy) KeyFiles() int64 {
	var n int64
	for _, u := range a.Keys {
		n += u.Files
	}
	return n
}

// place is where a directory stands in a session, which decides what its
// entries are part of.
type place uint8

const (
	placeKept    place = iota // state, or a directory of a kind with no cache
	placeTop                  // the session directory: entries told apart by name
	placeProfile              // Default: entries told apart by name
	placeCache                // under a regenerable entry of a webjs profile
)

// placeOf returns the place of the directory rel (relative to the root) in
// the session s. The kind is not known until the top directory is listed
// whole: the parts of every kind are counted, and result keeps the one of
// the kind.
func (s *session) placeOf(rel string) place {
	in, ok := strings.CutPrefix(rel, s.entry.Path)
	switch {
	case !ok:
		return placeKept
	case in == "":
		return placeTop
	case in == "/"+anatomy.Profile:
		return placeProfile
	case strings.HasPrefix(in, "/") && anatomy.Regenerable(anatomy.Webjs, in[1:]):
		return placeCache
	}
	return placeKept
}

// tallyIn returns a new tally for the entries of the directory rel of s.
func (s *session) tallyIn(rel string) tally {
	t := newTally()
	t.place = s.placeOf(rel)
	return t
}

// entryName returns name as add needs it, converted only in the directories
// whose entries are told apart by name, so that the deep ones cost no
// allocation per entry.
func (t *tally) entryName(name []byte) string {
	if t.place == placeTop || t.place == placeProfile {
		return string(name)
	}
	return ""
}

// parts accumulates a session's Anatomy as its directories are sized.
type parts struct {
	marks                   anatomy.Marks
	regen                   Usage
	keys                    map[string]Usage
	creds                   int64 // -1: none seen
	indexedDB, localStorage bool
}

func newParts() parts { return parts{creds: -1} }

// note adds the entry name of a directory at p, whose sizing added delta.
func (ps *parts) note(p place, name string, st *stat, delta Usage) {
	switch p {
	case placeTop:
		ps.marks.Add(name)
		if anatomy.Regenerable(anatomy.Webjs, name) {
			ps.regen.Add(delta)
		}
		if !st.mode.IsRegular() {
			return
		}
		if name == anatomy.Creds {
			ps.creds = st.size
		} else if typ, ok := anatomy.KeyType(name); ok {
			if ps.keys == nil {
				ps.keys = make(map[string]Usage)
			}
			u := ps.keys[typ]
			u.Add(delta)
			ps.keys[typ] = u
		}
	case placeProfile:
		switch {
		case name == anatomy.IndexedDB:
			ps.indexedDB = ps.indexedDB || st.mode.IsDir()
		case name == anatomy.LocalStorage:
			ps.localStorage = ps.localStorage || st.mode.IsDir()
		default:
			ps.regen.Add(delta)
		}
	case placeCache:
		ps.regen.Add(delta)
	}
}

// merge adds what o counted.
func (ps *parts) merge(o *parts) {
	ps.marks.Merge(o.marks)
	ps.regen.Add(o.regen)
	for typ, u := range o.keys {
		if ps.keys == nil {
			ps.keys = make(map[string]Usage, len(o.keys))
		}
		v := ps.keys[typ]
		v.Add(u)
		ps.keys[typ] = v
	}
	ps.creds = max(ps.creds, o.creds)
	ps.indexedDB = ps.indexedDB || o.indexedDB
	ps.localStorage = ps.localStorage || o.localStorage
}

// anatomy returns what was counted as the Anatomy of the session's kind.
func (ps *parts) anatomy() Anatomy {
	a := Anatomy{Kind: ps.marks.Kind(), Creds: ps.creds, IndexedDB: ps.indexedDB, LocalStorage: ps.localStorage}
	switch a.Kind {
	case anatomy.Webjs:
		a.Regenerable = ps.regen
	case anatomy.Baileys:
		a.Keys = maps.Clone(ps.keys)
	}
	return a
}

// minus returns u - o, the usage one entry added.
func (u Usage) minus(o Usage) Usage {
	return Usage{Size: u.Size - o.Size, Allocated: u.Allocated - o.Allocated, Metered: u.Metered - o.Metered,
		Files: u.Files - o.Files, Dirs: u.Dirs - o.Dirs}
}
