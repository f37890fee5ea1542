// Package watch turns filesystem events under the share into the keys of the
// sessions they touched ("workspace_<id>/session_<id>"), and debounces them.
//
// Watcher keeps inotify watches (through fsnotify) on the root, on each
// workspace it is told to cover, on each session directory and on every
// directory inside a session, adding them as directories appear and
// dropping them as they go. It never opens anything through a symbolic link
// and never opens a workspace outside its scope. An event carries only the
// key of the session it touched: what changed is read again by whoever
// reconciles the key, so an event that was lost, merged or duplicated costs
// nothing (level-based, as controller-runtime reconciles). What events
// cannot tell (a queue overflow, directories left unwatched once the watch
// budget is spent, writes made on another host of a network filesystem) is
// left to rescans.
//
// Queue holds the keys until their session has been quiet for a while, so a
// directory written hundreds of times is measured once, with a cap so that a
// session written without pause is still measured regularly.
package watch
