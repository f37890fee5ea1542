// Package scanner is the filesystem side of sessaudit: it knows the layout of
// the share (root/workspace_<id>/session_<id>), walks it concurrently and
// measures every session directory without following symbolic links, leaving
// the root, or crossing into another mounted filesystem.
//
// It imports no other package of the project.
package scanner
