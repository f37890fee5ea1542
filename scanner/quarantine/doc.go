// Package quarantine moves session directories aside instead of deleting
// them, records every move so that it can be undone, and deletes only what
// has sat in quarantine long enough.
//
// A quarantine is a directory on the same filesystem as the share's root,
// outside it or directly under it as scanner.QuarantineName. Each run of
// sessaudit reclaim is a subdirectory named for the time it started,
// holding the moved directories at their paths relative to the root
// (workspace_<id>/session_<id>) and manifest.json, a journal of what
// happened to each of them, written and fsync-ed as it happens.
//
// Everything is done through directory file descriptors: a workspace is
// opened with O_NOFOLLOW and the session directory is looked at and renamed
// relative to it, so no symbolic link is ever followed below the root or the
// quarantine, and nothing is reached outside them. A directory is moved with
// rename only, never copied, and only when it is still the very directory
// (device and inode) that was looked at before. Restore never replaces an
// existing directory. Purge is the only code in sessaudit that deletes, and
// it deletes only the directories a manifest lists, with the identity it
// recorded, never through another mount (a bind mount included).
//
// A run is worked on by one process at a time: Run holds an exclusive
// flock(2) on its manifest, and Restore and Purge (with Yes) take it
// without waiting (ErrBusy). Where locks are not shared, Purge still keeps
// Restore away from what it deletes: it records EventPurging and renames
// the directory aside before deleting it, and Restore refuses a directory
// so recorded.
//
// It works on Linux; elsewhere every operation fails with
// errors.ErrUnsupported.
package quarantine
