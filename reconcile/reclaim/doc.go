// Package reclaim decides which orphaned and soft-deleted session
// directories of an audit's report may be moved into quarantine now, and
// moves them.
//
// The report is only where to look. Just before each move the directory and
// the rows are read again: it must still be a real directory reached
// without a link, untouched for the audit's grace period, and no row may
// refer to it but soft-deleted ones (none at all for an orphan), by the same
// mapping of stored paths as the audit. Just after the move the rows are
// read once more, and it goes back at once if one appeared meanwhile.
//
// ReclaimCaches moves instead the regenerable parts of the whatsapp-web.js
// sessions that are not running (a live row, none connected, authenticated
// or qr_scanning; no SingletonLock; quiet for the grace period), as package
// scanner/anatomy names them, and moves them back at once if the session
// started while they moved.
//
// The move itself, its manifest, restore and purge belong to package
// scanner/quarantine.
package reclaim
