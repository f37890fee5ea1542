// Package anatomy knows what a session directory is made of: which program
// wrote it (a whatsapp-web.js Chromium profile or a Baileys multi-file auth
// state), which of its entries are the state that restores it and which are
// regenerable cache, and the types of Baileys' key files.
//
// It is pure: every function takes names the walk already listed and makes
// no filesystem call, so the walk, the findings and reclaim --caches share
// one answer for each path.
//
// The webjs rules follow whatsapp-web.js's RemoteAuth, which restores a
// session from Default/IndexedDB and Default/Local Storage alone
// (requiredDirs in src/authStrategies/RemoteAuth.js): everything else in the
// profile is rebuilt by Chromium. The Baileys rules follow
// useMultiFileAuthState (lib/Utils/use-multi-file-auth-state.js), which
// writes creds.json and one <type>-<id>.json file per key.
//
// It imports no other package of the project.
package anatomy
