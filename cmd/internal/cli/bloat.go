package cli

import (
	"flag"

	"sessaudit/reconcile"
)

// The thresholds of the bloated finding, from the figures operators report
// (see docs/anatomy.md): a Baileys account was seen with 5,241 pre-keys
// minted for 52 used, and sessions past 7,000 key files corrupting; a
// whatsapp-web.js profile's caches are rebuilt by Chromium, and past half
// a GiB they are most of what the profile holds.
const (
	defaultBloatedKeyFiles = 5000
	defaultBloatedCacheMiB = 512
)

// bloat is the --bloated-* flags of audit and watch.
type bloat struct {
	keyFiles, cacheMiB int64
}

// register defines the flags on fs.
func (b *bloat) register(fs *flag.FlagSet) {
	fs.Int64Var(&b.keyFiles, "bloated-key-files", defaultBloatedKeyFiles,
		"report a Baileys session with at least this many key files (pre-key-*.json, session-*.json, ...) as bloated (0: never)")
	fs.Int64Var(&b.cacheMiB, "bloated-cache-mib", defaultBloatedCacheMiB,
		"report a whatsapp-web.js session with at least this many MiB of regenerable Chromium cache (all but Default/IndexedDB and Default/Local Storage) as bloated (0: never)")
}

// check returns a usage error for a negative threshold.
func (b bloat) check() error {
	switch {
	case b.keyFiles < 0:
		return usageError("--bloated-key-files %d must not be negative (0 turns it off)", b.keyFiles)
	case b.cacheMiB < 0 || b.cacheMiB > 1<<40:
		return usageError("--bloated-cache-mib %d must be between 0 (off) and 2^40", b.cacheMiB)
	}
	return nil
}

// config returns the thresholds as the reconciler takes them.
func (b bloat) config() reconcile.Bloat {
	return reconcile.Bloat{KeyFiles: b.keyFiles, CacheBytes: b.cacheMiB << 20}
}
