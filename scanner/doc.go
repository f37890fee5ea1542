// Package scanner is the filesystem side of sessaudit: it knows the layout of
// the share (root/workspace_<id>/session_<id>), walks it concurrently and
// measures every session directory without following symbolic links, leaving
// the root, or crossing into another mounted filesystem.
//
// Walk reads the host filesystem natively on Linux (directory file
// descriptors, getdents, statx relative to each directory) and any other
// afero.Fs through afero; both size entries with the same code (size.go) and
// share the layout, the sessions and the bounded concurrency (engine.go).
// Every filesystem call of a walk is bounded by Config.IOTimeout and by the
// context through the walk's watchdog: it is made through slot.do, and
// every call outside a walk through bounded (slot.go, timeout.go).
//
// Each session's Anatomy (kind, regenerable bytes, Baileys key files by
// type) is counted by the same per-entry function as its Usage (parts.go),
// from names the walk lists anyway, with the rules of package
// scanner/anatomy.
//
// It imports no other package of the project but its own leaf
// scanner/anatomy.
package scanner
