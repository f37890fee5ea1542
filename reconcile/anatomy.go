package reconcile

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"time"

	"sessaudit/db"
	"sessaudit/scanner"
	"sessaudit/scanner/anatomy"
)

// Bloat holds the thresholds of the Bloated finding. A zero field reports
// no session of its kind as bloated.
type Bloat struct {
	// KeyFiles: a baileys session with at least this many key files.
	KeyFiles int64
	// CacheBytes: a webjs session with at least this many regenerable
	// bytes (apparent size).
	CacheBytes int64
}

// credsLimit is the most of a creds.json the audit reads: Baileys writes
// one of 1 to 3 KB; one larger than this is not read, and not judged.
const credsLimit = 1 << 20

// parts is what a measured session is made of, as the audit keeps it for
// every session: scanner.Anatomy without its key files by type (only the
// pre-keys, which a known bug piles up, are kept apart), 48 bytes.
type parts struct {
	regen, regenMetered int64
	// creds is creds.json's size, -1 when there is none.
	creds int64
	// newest is the entry's Newest in Unix nanoseconds: the grace period
	// is judged on it.
	newest        int64
	keys, preKeys int32
	kind          kindCode
	indexedDB     bool
	localStorage  bool
	// changed: the session changed while it was measured.
	changed bool
}

// kindCode is an anatomy.Kind in one byte; 0 is "not measured".
type kindCode uint8

var kindCodes = []anatomy.Kind{"", anatomy.Webjs, anatomy.Baileys, anatomy.Empty, anatomy.Unknown}

func codeOf(k anatomy.Kind) kindCode {
	for i, c := range kindCodes {
		if c == k {
			return kindCode(i)
		}
	}
	return 0
}

func (c kindCode) kind() anatomy.Kind { return kindCodes[c] }

// partsOf returns what the audit keeps of e's anatomy.
func partsOf(e *scanner.Entry) parts {
	a := &e.Anatomy
	p := parts{regen: a.Regenerable.Size, regenMetered: a.Regenerable.Metered, creds: a.Creds,
		kind: codeOf(a.Kind), indexedDB: a.IndexedDB, localStorage: a.LocalStorage, changed: e.Changed != ""}
	if !e.Newest.IsZero() {
		p.newest = e.Newest.UnixNano()
	}
	p.keys = int32(min(a.KeyFiles(), 1<<31-1))
	p.preKeys = int32(min(a.Keys["pre-key"].Files, 1<<31-1))
	return p
}

// settled reports whether the session's anatomy may be judged: it was
// measured, did not change while it was, and nothing in it changed after
// cutoff (the grace period).
func (p *parts) settled(cutoff time.Time) bool {
	return p.kind != 0 && !p.changed && p.newest != 0 && p.newest <= cutoff.UnixNano()
}

// appendAnatomy adds to vs an Incomplete and a Bloated verdict for each
// session directory measured whose anatomy says so, besides its outcome:
// only for a directory that stood (measured without change, nothing in it
// changed after cutoff) and whose outcome is not recent. A baileys
// session's creds.json is read for it (one small read, counted in
// fs_ops); one that changed since the walk is not judged. It returns, for
// the same directories, what their rows' provider_type says that the
// directory contradicts (see providerMismatch).
func (r *Reconciler) appendAnatomy(ctx context.Context, vs *verdictSet, cutoff time.Time) ([]string, error) {
	var add []Verdict
	var mismatches []string
	for v := range vs.all() {
		m := v.measured
		if m == nil || v.Kind == Recent || v.Kind == Deferred || !m.parts.settled(cutoff) {
			continue
		}
		p := &m.parts
		if why := providerMismatch(v.Path, p, v.Rows); why != "" {
			mismatches = append(mismatches, why)
		}
		detail, err := r.missingState(ctx, v.Path, p, cutoff)
		if err != nil {
			return nil, err
		}
		if detail != "" {
			add = append(add, anatomyVerdict(v, Incomplete, detail, nil))
		}
		if detail, reclaimable := r.cfg.Bloat.judge(p); detail != "" {
			add = append(add, anatomyVerdict(v, Bloated, detail, reclaimable))
		}
	}
	vs.listed = append(vs.listed, add...)
	slices.Sort(mismatches)
	return mismatches, nil
}

// providerMismatch says how the live rows of a session directory disagree
// with what it holds, or "". provider_type has two values: meta, the Cloud
// API, which keeps no session files, and webjs, for every program that
// does (the ENUM has no value for Baileys, whose fleets store webjs). So a
// directory holding a webjs or baileys session is a contradiction only for
// a meta row: an account switched to the Cloud API whose old files stayed,
// or a row that says the wrong provider.
func providerMismatch(path string, p *parts, rows []db.Row) string {
	k := p.kind.kind()
	if k != anatomy.Webjs && k != anatomy.Baileys {
		return ""
	}
	for _, row := range rows {
		if row.Live() && row.ProviderType != nil && *row.ProviderType == "meta" {
			return fmt.Sprintf("row %d is provider_type meta, which keeps no session files, but %s holds a %s session", row.ID, path, k)
		}
	}
	return ""
}

// maxProviderWarnings is how many provider_type mismatches the summary's
// warnings name; the rest are counted.
const maxProviderWarnings = 10

// providerWarnings returns the warnings that name the mismatches.
func providerWarnings(mismatches []string) []string {
	var out []string
	for i, m := range mismatches {
		if i == maxProviderWarnings {
			out = append(out, fmt.Sprintf("and %d more rows whose provider_type disagrees with their session directory (summary.anatomy.provider_mismatches)", len(mismatches)-i))
			break
		}
		out = append(out, m)
	}
	return out
}

// anatomyVerdict is a verdict of kind about the directory of v, its rows
// and its measurement, which stays v's.
func anatomyVerdict(v *Verdict, kind Outcome, detail string, reclaimable *int64) Verdict {
	a := Verdict{Finding: Finding{Kind: kind, Path: v.Path, Detail: detail, ReclaimableBytes: reclaimable,
		SessionKind: v.measured.parts.kind.kind()},
		Rows: v.Rows, there: true}
	u := &v.measured.usage
	a.SizeBytes, a.MeteredBytes, a.Files = &u.Size, &u.Metered, &u.Files
	a.complete()
	return a
}

// missingState says what restores the session that is missing, or "" when
// nothing is (or the session is of a kind that has nothing to miss).
func (r *Reconciler) missingState(ctx context.Context, path string, p *parts, cutoff time.Time) (string, error) {
	switch p.kind.kind() {
	case anatomy.Webjs:
		var missing []string
		if !p.indexedDB {
			missing = append(missing, anatomy.StateDirs[0])
		}
		if !p.localStorage {
			missing = append(missing, anatomy.StateDirs[1])
		}
		if len(missing) == 0 {
			return "", nil
		}
		return fmt.Sprintf("webjs profile without %s: whatsapp-web.js restores a session from %s and %s alone",
			joinAnd(missing), anatomy.StateDirs[0], anatomy.StateDirs[1]), nil
	case anatomy.Baileys:
		switch {
		case p.creds < 0:
			return fmt.Sprintf("baileys session without creds.json (%d key files): it cannot be restored without a new QR scan", p.keys), nil
		case p.creds == 0:
			return "creds.json is empty (a crash while Baileys rewrote it in place): the session cannot be restored without a new QR scan", nil
		case p.creds > credsLimit:
			return "", nil
		}
		b, mtime, err := scanner.ReadSessionFile(ctx, r.fsys, r.cfg.Root, path, anatomy.Creds, credsLimit, r.cfg.Walk)
		switch {
		case ctx.Err() != nil:
			return "", ctx.Err()
		case errors.Is(err, fs.ErrNotExist):
			return "", nil // removed since the walk: a later run judges what is there
		case err != nil:
			return "", nil // could not read: unknown, not incomplete
		case int64(len(b)) != p.creds || mtime.After(cutoff):
			return "", nil // rewritten since the walk
		}
		if why := credsProblem(b); why != "" {
			return "creds.json " + why + ": the session cannot be restored without a new QR scan", nil
		}
	}
	return "", nil
}

// credsProblem says what makes b, a creds.json, unusable to Baileys, or ""
// when it is a JSON object holding the two keys that make the session the
// one WhatsApp paired: noiseKey, which authenticates the connection, and
// signedIdentityKey, the Signal identity (both made by initAuthCreds; the
// rest can be renewed).
func credsProblem(b []byte) string {
	var creds map[string]json.RawMessage
	if err := json.Unmarshal(b, &creds); err != nil {
		return fmt.Sprintf("is not a JSON object (%d bytes: %v)", len(b), err)
	}
	var missing []string
	for _, k := range []string{"noiseKey", "signedIdentityKey"} {
		if v, ok := creds[k]; !ok || string(v) == "null" {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		return "lacks " + joinAnd(missing)
	}
	return ""
}

// judge says why a session is bloated, with the bytes that could be
// reclaimed (a webjs profile's regenerable cache), or "" when it is not.
func (b Bloat) judge(p *parts) (string, *int64) {
	switch p.kind.kind() {
	case anatomy.Baileys:
		if b.KeyFiles > 0 && int64(p.keys) >= b.KeyFiles {
			return fmt.Sprintf("%d Baileys key files (%d of them pre-keys), over the threshold of %d (--bloated-key-files): sessions with thousands of unreleased pre-keys were reported to corrupt",
				p.keys, p.preKeys, b.KeyFiles), nil
		}
	case anatomy.Webjs:
		if b.CacheBytes > 0 && p.regen >= b.CacheBytes {
			n := p.regen
			return fmt.Sprintf("%s of regenerable Chromium cache (%s metered), over the threshold of %s (--bloated-cache-mib): Chromium rebuilds it, so it can be reclaimed once the session is stopped",
				humanBytes(p.regen), humanBytes(p.regenMetered), humanBytes(b.CacheBytes)), &n
		}
	}
	return "", nil
}

// joinAnd joins words as prose: "a", "a and b", "a, b and c".
func joinAnd(words []string) string {
	switch len(words) {
	case 0:
		return ""
	case 1:
		return words[0]
	}
	s := words[0]
	for _, w := range words[1 : len(words)-1] {
		s += ", " + w
	}
	return s + " and " + words[len(words)-1]
}

// humanBytes prints n in binary units ("1.5 GiB").
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 5; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// Anatomy is what the session directories measured are made of, added up
// by kind (see docs/anatomy.md).
type Anatomy struct {
	// Kinds are the kinds with a session, in the order of anatomy's
	// constants: webjs, baileys, empty, unknown.
	Kinds []KindUsage `json:"kinds"`
	// StateBytes and RegenerableBytes split the size of every session
	// measured: regenerable is a webjs profile's cache, which Chromium
	// rebuilds; state is the rest.
	StateBytes              int64 `json:"state_bytes"`
	RegenerableBytes        int64 `json:"regenerable_bytes"`
	RegenerableMeteredBytes int64 `json:"regenerable_metered_bytes"`
	// KeyFiles are the Baileys key files of every session by type.
	KeyFiles map[string]KeyFiles `json:"key_files"`
	// ProviderMismatches counts the session directories that stood and
	// hold a webjs or baileys session although a live row of theirs is
	// provider_type meta (the Cloud API keeps no files); the warnings name
	// the first of them.
	ProviderMismatches int `json:"provider_mismatches"`
}

// KindUsage is what the sessions of one kind hold together.
type KindUsage struct {
	Kind             anatomy.Kind `json:"kind"`
	Sessions         int          `json:"sessions"`
	SizeBytes        int64        `json:"size_bytes"`
	MeteredBytes     int64        `json:"metered_bytes"`
	RegenerableBytes int64        `json:"regenerable_bytes"`
	KeyFiles         int64        `json:"key_files"`
}

// KeyFiles counts Baileys key files of one type.
type KeyFiles struct {
	Files int64 `json:"files"`
	Bytes int64 `json:"bytes"`
}

// keyFilesOf returns a's key files by type, nil when it has none.
func keyFilesOf(a *scanner.Anatomy) map[string]KeyFiles {
	if len(a.Keys) == 0 {
		return nil
	}
	out := make(map[string]KeyFiles, len(a.Keys))
	for typ, u := range a.Keys {
		out[typ] = KeyFiles{Files: u.Files, Bytes: u.Size}
	}
	return out
}

// anatomyTally adds up Anatomy as the walk finds the sessions.
type anatomyTally struct {
	a      Anatomy
	byKind map[anatomy.Kind]*KindUsage
}

// add counts e, a session directory measured without error.
func (t *anatomyTally) add(e *scanner.Entry) {
	a := &e.Anatomy
	if a.Kind == "" {
		return
	}
	if t.byKind == nil {
		t.byKind = map[anatomy.Kind]*KindUsage{}
		t.a.KeyFiles = map[string]KeyFiles{}
	}
	k := t.byKind[a.Kind]
	if k == nil {
		k = &KindUsage{Kind: a.Kind}
		t.byKind[a.Kind] = k
	}
	k.Sessions++
	k.SizeBytes += e.Usage.Size
	k.MeteredBytes += e.Usage.Metered
	k.RegenerableBytes += a.Regenerable.Size
	k.KeyFiles += a.KeyFiles()
	t.a.RegenerableBytes += a.Regenerable.Size
	t.a.RegenerableMeteredBytes += a.Regenerable.Metered
	t.a.StateBytes += e.Usage.Size - a.Regenerable.Size
	for typ, u := range a.Keys {
		f := t.a.KeyFiles[typ]
		f.Files += u.Files
		f.Bytes += u.Size
		t.a.KeyFiles[typ] = f
	}
}

// result returns the Anatomy counted, its kinds in kindCodes' order.
func (t *anatomyTally) result() Anatomy {
	a := t.a
	a.Kinds = []KindUsage{}
	for _, k := range kindCodes[1:] {
		if u := t.byKind[k]; u != nil {
			a.Kinds = append(a.Kinds, *u)
		}
	}
	if a.KeyFiles == nil {
		a.KeyFiles = map[string]KeyFiles{}
	}
	return a
}

// merge adds o, the Anatomy of another shard's run, to a.
func (a *Anatomy) merge(o *Anatomy) {
	if a.KeyFiles == nil {
		a.KeyFiles, a.Kinds = map[string]KeyFiles{}, []KindUsage{}
	}
	a.StateBytes += o.StateBytes
	a.ProviderMismatches += o.ProviderMismatches
	a.RegenerableBytes += o.RegenerableBytes
	a.RegenerableMeteredBytes += o.RegenerableMeteredBytes
	for typ, k := range o.KeyFiles {
		f := a.KeyFiles[typ]
		f.Files += k.Files
		f.Bytes += k.Bytes
		a.KeyFiles[typ] = f
	}
	for _, k := range o.Kinds {
		i := slices.IndexFunc(a.Kinds, func(u KindUsage) bool { return u.Kind == k.Kind })
		if i < 0 {
			a.Kinds = append(a.Kinds, KindUsage{Kind: k.Kind})
			i = len(a.Kinds) - 1
		}
		u := &a.Kinds[i]
		u.Sessions += k.Sessions
		u.SizeBytes += k.SizeBytes
		u.MeteredBytes += k.MeteredBytes
		u.RegenerableBytes += k.RegenerableBytes
		u.KeyFiles += k.KeyFiles
	}
	slices.SortFunc(a.Kinds, func(x, y KindUsage) int { return cmp.Compare(codeOf(x.Kind), codeOf(y.Kind)) })
}
