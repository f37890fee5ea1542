// Package scantest builds session trees for tests and benchmarks of the
// scanner: ROOT/workspace_<id>/session_<id>, each session either a
// Chromium-profile-like tree (whatsapp-web.js LocalAuth: nested leveldb,
// Service Worker and cache folders, dangling Singleton* links) or a flat
// Baileys auth folder (creds.json, pre-key-*.json, session-*.json, ...).
//
// Generate writes such a tree on any afero.Fs: afero.NewMemMapFs() for fast
// in-memory trees, afero.NewOsFs() for real ones (cmd/sessaudit-gentree).
// The output depends only on the Spec: the same Spec and seed give the same
// names, sizes and contents, however the writes are scheduled.
//
// It imports no other package of the project, so that tests of any package,
// scanner's own included, can use it.
package scantest
