// Package writers runs the real writers of session directories for tests: a
// headless Chromium whose profile is the session directory (as
// whatsapp-web.js's LocalAuth runs it) on a page that writes Cache Storage,
// IndexedDB blobs and localStorage without pause; Baileys' own
// useMultiFileAuthState under Node; a Go writer that churns as Chromium's
// LevelDB and caches do; and a file rewritten in place as Node's writeFile
// does. LstatSize is an independent measurement to hold sizes against.
//
// A writer that is not installed (Debian's chromium; node and
// @whiskeysockets/baileys, which .ci/run installs and names in
// SESSAUDIT_TEST_NODE_MODULES) skips the test with a message saying so.
//
// It imports no other package of the project.
package writers
