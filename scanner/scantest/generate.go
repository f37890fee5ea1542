package scantest

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"sessaudit/scanner"
	"strconv"
	"sync"

	"github.com/spf13/afero"
	"golang.org/x/sync/errgroup"
)

// Spec describes a tree for Generate. Zero fields take the defaults noted.
type Spec struct {
	// Workspaces is the number of workspace_<id> directories, with ids 1..N;
	// default 4.
	Workspaces int
	// SessionsPerWorkspace is the number of session_<id> directories in each
	// workspace; default 4. Session ids are 1.. across the whole tree.
	SessionsPerWorkspace int
	// Sessions, when > 0, is the total number of sessions and overrides
	// Workspaces: sessions fill workspaces of SessionsPerWorkspace in turn,
	// and the last workspace may hold fewer.
	Sessions int
	// ChromiumFiles is the number of regular files in each Chromium-style
	// session; default 1000.
	ChromiumFiles int
	// BaileysFiles is the number of regular files in each Baileys session;
	// default 300.
	BaileysFiles int
	// BaileysRatio is the fraction of sessions, from 0 to 1, that are flat
	// Baileys folders; they are spread evenly over the tree.
	BaileysRatio float64
	// Seed chooses the names of hashed files and every file's size and
	// contents.
	Seed uint64
	// SizeScale multiplies every file size; default 1. A small scale keeps
	// big trees cheap to write while keeping their shape.
	SizeScale float64
	// Workers is the number of sessions written at once; default
	// 4×GOMAXPROCS (creating files mostly waits in the kernel).
	Workers int
}

func (s Spec) withDefaults() Spec {
	if s.Workspaces <= 0 {
		s.Workspaces = 4
	}
	if s.SessionsPerWorkspace <= 0 {
		s.SessionsPerWorkspace = 4
	}
	if s.Sessions > 0 {
		s.Workspaces = (s.Sessions + s.SessionsPerWorkspace - 1) / s.SessionsPerWorkspace
	} else {
		s.Sessions = s.Workspaces * s.SessionsPerWorkspace
	}
	if s.ChromiumFiles <= 0 {
		s.ChromiumFiles = 1000
	}
	if s.BaileysFiles <= 0 {
		s.BaileysFiles = 300
	}
	s.BaileysRatio = min(max(s.BaileysRatio, 0), 1)
	if s.SizeScale <= 0 {
		s.SizeScale = 1
	}
	if s.Workers <= 0 {
		s.Workers = 4 * runtime.GOMAXPROCS(0)
	}
	return s
}

// Stats counts what Generate wrote. Dirs include the workspace and session
// directories but not the root.
type Stats struct {
	Workspaces, Sessions int64
	// Chromium and Baileys count the sessions of each kind.
	Chromium, Baileys  int64
	Files, Dirs, Links int64
	// Bytes is the sum of the sizes of the files.
	Bytes int64
}

// Entries is the number of files, directories and links.
func (s Stats) Entries() int64 { return s.Files + s.Dirs + s.Links }

func (s *Stats) add(o Stats) {
	s.Workspaces += o.Workspaces
	s.Sessions += o.Sessions
	s.Chromium += o.Chromium
	s.Baileys += o.Baileys
	s.Files += o.Files
	s.Dirs += o.Dirs
	s.Links += o.Links
	s.Bytes += o.Bytes
}

// Estimate returns the counts Generate writes for s on a filesystem that
// supports symbolic links, without writing anything. Bytes is left zero.
func (s Spec) Estimate() Stats {
	s = s.withDefaults()
	rng := rand.New(rand.NewPCG(0, 0))
	var chromium, baileys Stats
	for _, n := range planChromium(rng, s.ChromiumFiles) {
		chromium.count(n)
	}
	for _, n := range planBaileys(rng, s.BaileysFiles) {
		baileys.count(n)
	}
	st := Stats{Workspaces: int64(s.Workspaces), Dirs: int64(s.Workspaces)}
	for k := range s.Sessions {
		st.Sessions++
		st.Dirs++
		if s.isBaileys(k) {
			st.Baileys++
			st.Files += baileys.Files
			st.Dirs += baileys.Dirs
		} else {
			st.Chromium++
			st.Files += chromium.Files
			st.Dirs += chromium.Dirs
			st.Links += chromium.Links
		}
	}
	return st
}

func (s *Stats) count(n node) {
	switch n.kind {
	case dirNode:
		s.Dirs++
	case fileNode:
		s.Files++
	case linkNode:
		s.Links++
	}
}

// isBaileys reports whether session k (0-based, across the tree) is a
// Baileys folder: exactly floor(n×ratio) of the first n sessions are.
func (s Spec) isBaileys(k int) bool {
	return math.Floor(float64(k+1)*s.BaileysRatio) > math.Floor(float64(k)*s.BaileysRatio)
}

// Generate writes the tree described by spec under root, creating root if
// needed, and returns what it wrote. Files are created exclusively, so
// writing over an earlier tree fails. Symbolic links are written only when
// fsys implements afero.Linker (afero.NewMemMapFs does not). fsys must be
// safe for concurrent use.
func Generate(fsys afero.Fs, root string, spec Spec) (Stats, error) {
	spec = spec.withDefaults()
	if err := fsys.MkdirAll(root, 0o755); err != nil {
		return Stats{}, fmt.Errorf("create root %s: %w", root, err)
	}
	total := Stats{}
	for w := range spec.Workspaces {
		dir := filepath.Join(root, workspaceName(w))
		if err := fsys.Mkdir(dir, 0o755); err != nil {
			return total, fmt.Errorf("create workspace %s: %w", dir, err)
		}
		total.Workspaces++
		total.Dirs++
	}

	gen := &generator{fsys: fsys, root: root, spec: spec, data: fill(spec.Seed)}
	gen.linker, _ = fsys.(afero.Linker)
	var mu sync.Mutex
	g, ctx := errgroup.WithContext(context.Background())
	g.SetLimit(spec.Workers)
	for k := range spec.Sessions {
		if ctx.Err() != nil {
			break
		}
		g.Go(func() error {
			st, err := gen.session(k)
			mu.Lock()
			total.add(st)
			mu.Unlock()
			return err
		})
	}
	err := g.Wait()
	return total, err
}

func workspaceName(w int) string { return scanner.WorkspaceName(uint64(w + 1)) }

type generator struct {
	fsys   afero.Fs
	linker afero.Linker
	root   string
	spec   Spec
	// data is shared, read-only file content.
	data []byte
}

// session writes session k and returns what it wrote, even on error.
func (g *generator) session(k int) (Stats, error) {
	w := k / g.spec.SessionsPerWorkspace
	dir := filepath.Join(g.root, workspaceName(w), scanner.SessionName(strconv.Itoa(k+1)))
	rng := rand.New(rand.NewPCG(g.spec.Seed, uint64(k)))
	var st Stats
	var nodes []node
	if g.spec.isBaileys(k) {
		st.Baileys = 1
		nodes = planBaileys(rng, g.spec.BaileysFiles)
	} else {
		st.Chromium = 1
		nodes = planChromium(rng, g.spec.ChromiumFiles)
	}
	st.Sessions = 1
	if err := g.fsys.Mkdir(dir, 0o755); err != nil {
		return st, fmt.Errorf("create session %s: %w", dir, err)
	}
	st.Dirs++
	// Each session's data starts at its own offset so that files of the
	// same size in different sessions differ.
	off := int(rng.Uint64N(uint64(len(g.data))))
	for _, n := range nodes {
		p := filepath.Join(dir, filepath.FromSlash(n.rel))
		switch n.kind {
		case dirNode:
			if err := g.fsys.Mkdir(p, 0o755); err != nil {
				return st, fmt.Errorf("create dir %s: %w", p, err)
			}
			st.Dirs++
		case fileNode:
			size := int64(float64(n.size) * g.spec.SizeScale)
			if err := g.writeFile(p, size, off); err != nil {
				return st, err
			}
			off = (off + int(size)) % len(g.data)
			st.Files++
			st.Bytes += size
		case linkNode:
			if g.linker == nil {
				continue
			}
			if err := g.linker.SymlinkIfPossible(n.target, p); err != nil {
				return st, fmt.Errorf("create link %s: %w", p, err)
			}
			st.Links++
		}
	}
	return st, nil
}

func (g *generator) writeFile(p string, size int64, off int) error {
	f, err := g.fsys.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("create file %s: %w", p, err)
	}
	for size > 0 {
		chunk := g.data[off:]
		if int64(len(chunk)) > size {
			chunk = chunk[:size]
		}
		if _, err := f.Write(chunk); err != nil {
			f.Close()
			return fmt.Errorf("write file %s: %w", p, err)
		}
		size -= int64(len(chunk))
		off = 0
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close file %s: %w", p, err)
	}
	return nil
}

// fill returns 1 MiB of pseudo-random content, so that no filesystem can
// compress or deduplicate the tree away.
func fill(seed uint64) []byte {
	var key [32]byte
	for i := range 4 {
		v := mix(seed + uint64(i))
		for j := range 8 {
			key[i*8+j] = byte(v >> (8 * j))
		}
	}
	b := make([]byte, 1<<20)
	rand.NewChaCha8(key).Read(b)
	return b
}

type nodeKind uint8

const (
	dirNode nodeKind = iota + 1
	fileNode
	linkNode
)

// node is one entry of a session, relative to the session directory.
type node struct {
	rel    string
	kind   nodeKind
	size   int64
	target string
}

// planner lists the entries of one session, every directory before what it
// holds. Which entries a session has depends only on its kind and file
// count; the random source chooses hashed names and sizes.
type planner struct {
	rng   *rand.Rand
	nodes []node
	dirs  map[string]bool
}

func newPlanner(rng *rand.Rand) *planner {
	return &planner{rng: rng, dirs: map[string]bool{}}
}

func (p *planner) dir(rel string) {
	if rel == "." || p.dirs[rel] {
		return
	}
	p.dir(path.Dir(rel))
	p.dirs[rel] = true
	p.nodes = append(p.nodes, node{rel: rel, kind: dirNode})
}

func (p *planner) file(rel string, size int64) {
	p.dir(path.Dir(rel))
	p.nodes = append(p.nodes, node{rel: rel, kind: fileNode, size: size})
}

func (p *planner) link(rel, target string) {
	p.dir(path.Dir(rel))
	p.nodes = append(p.nodes, node{rel: rel, kind: linkNode, target: target})
}

// between draws a size from lo to hi, uniform in its logarithm.
func (p *planner) between(lo, hi int64) int64 {
	if hi <= lo {
		return lo
	}
	l, h := math.Log(float64(max(lo, 1))), math.Log(float64(hi))
	return int64(math.Exp(l + p.rng.Float64()*(h-l)))
}

// smallFile draws the size of a cache or database file: most 100 B–16 KiB,
// a few up to 128 KiB, one in a hundred up to 1 MiB.
func (p *planner) smallFile() int64 {
	switch u := p.rng.Float64(); {
	case u < 0.93:
		return p.between(100, 16<<10)
	case u < 0.99:
		return p.between(16<<10, 128<<10)
	default:
		return p.between(128<<10, 1<<20)
	}
}

// salt returns a random base for a run of unique hashed names.
func (p *planner) salt() uint64 { return p.rng.Uint64() }

// mix is the splitmix64 finalizer: a bijection, so distinct inputs give
// distinct names.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

type sized struct {
	rel    string
	lo, hi int64
}

// leveldb lists the files of a LevelDB database whose write-ahead log holds
// up to logMax bytes.
func leveldb(dir string, logMax int64) []sized {
	return []sized{
		{dir + "/CURRENT", 16, 16},
		{dir + "/LOCK", 0, 0},
		{dir + "/LOG", 200, 2 << 10},
		{dir + "/LOG.old", 200, 2 << 10},
		{dir + "/MANIFEST-000001", 40, 4 << 10},
		{dir + "/000003.log", 0, logMax},
	}
}

// diskCache lists the files of a Chromium blockfile cache (GPU, shaders).
func diskCache(dir string) []sized {
	return []sized{
		{dir + "/index", 256 << 10, 256 << 10},
		{dir + "/data_0", 8 << 10, 8 << 10},
		{dir + "/data_1", 256 << 10, 256 << 10},
		{dir + "/data_2", 8 << 10, 8 << 10},
		{dir + "/data_3", 8 << 10, 8 << 10},
	}
}

// minorDatabases are the LevelDB folders a profile grows whether or not the
// page uses them; each is a directory of small files.
var minorDatabases = []string{
	"Default/Sync Data/LevelDB",
	"Default/GCM Store",
	"Default/GCM Store/Encryption",
	"Default/shared_proto_db",
	"Default/shared_proto_db/metadata",
	"Default/Site Characteristics Database",
	"Default/Feature Engagement Tracker/AvailabilityDB",
	"Default/Feature Engagement Tracker/EventDB",
	"Default/Extension State",
	"Default/Platform Notifications",
	"Default/BudgetDatabase",
	"Default/AutofillStrikeDatabase",
	"Default/Download Service/EntryDB",
	"Default/Segmentation Platform/SegmentInfoDB",
	"Default/Segmentation Platform/SignalDB",
	"Default/Segmentation Platform/SignalStorageConfigDB",
	"Default/commerce_subscription_db",
	"Default/discounts_db",
	"Default/parcel_tracking_db",
	"Default/PersistentOriginTrials",
}

// emptyDirs are folders a profile creates and usually leaves empty.
var emptyDirs = []string{
	"Crashpad/reports",
	"Crashpad/attachments",
	"Default/File System",
	"Default/WebStorage",
	"Default/databases",
	"Default/Local Extension Settings",
	"Default/Extension Rules",
	"Default/Extension Scripts",
	"Default/Download Service/Files",
	"Default/Storage/ext",
	"component_crx_cache",
	"extensions_crx_cache",
	"segmentation_platform",
	"Default/Service Worker/CacheStorage",
}

const (
	idbDir       = "Default/IndexedDB/https_web.whatsapp.com_0.indexeddb.leveldb"
	idbBlobDir   = "Default/IndexedDB/https_web.whatsapp.com_0.indexeddb.blob"
	localStorage = "Default/Local Storage/leveldb"
	cacheStorage = "Default/Service Worker/CacheStorage"
	cacheData    = "Default/Cache/Cache_Data"
	codeCache    = "Default/Code Cache"
)

// chromiumSkeleton is the fixed part of a profile, most essential first: a
// session with fewer files than this keeps only the first ones.
var chromiumSkeleton = func() []sized {
	s := []sized{
		{"Local State", 2 << 10, 24 << 10},
		{"Last Version", 13, 13},
		{"Last Browser", 40, 80},
		{"Variations", 1 << 10, 8 << 10},
		{"First Run", 0, 0},
		{"Default/Preferences", 4 << 10, 64 << 10},
		{"Default/Secure Preferences", 2 << 10, 24 << 10},
		{"Default/Cookies", 20 << 10, 40 << 10},
		{"Default/Cookies-journal", 0, 0},
	}
	s = append(s, leveldb(idbDir, 1<<20)...)
	s = append(s, leveldb(localStorage, 256<<10)...)
	s = append(s, leveldb("Default/Session Storage", 64<<10)...)
	s = append(s, leveldb("Default/Service Worker/Database", 64<<10)...)
	s = append(s, []sized{
		{"Default/Service Worker/ScriptCache/index", 24, 24},
		{"Default/Service Worker/ScriptCache/index-dir/the-real-index", 200, 2 << 10},
		{cacheData + "/index", 24, 24},
		{"Default/Cache/Cache_Data/index-dir/the-real-index", 1 << 10, 64 << 10},
		{codeCache + "/js/index", 24, 24},
		{codeCache + "/js/index-dir/the-real-index", 200, 16 << 10},
		{codeCache + "/wasm/index", 24, 24},
		{codeCache + "/wasm/index-dir/the-real-index", 24, 200},
		{"Default/History", 128 << 10, 1 << 20},
		{"Default/History-journal", 0, 0},
		{"Default/Favicons", 20 << 10, 600 << 10},
		{"Default/Favicons-journal", 0, 0},
		{"Default/Web Data", 90 << 10, 140 << 10},
		{"Default/Web Data-journal", 0, 0},
		{"Default/Login Data", 40 << 10, 48 << 10},
		{"Default/Login Data-journal", 0, 0},
		{"Default/Network Persistent State", 500, 4 << 10},
		{"Default/TransportSecurity", 500, 4 << 10},
		{"Default/Visited Links", 128 << 10, 128 << 10},
		{"Default/Top Sites", 20 << 10, 20 << 10},
		{"Default/Top Sites-journal", 0, 0},
		{"Default/Shortcuts", 20 << 10, 28 << 10},
		{"Default/Shortcuts-journal", 0, 0},
		{"Crashpad/settings.dat", 40, 40},
	}...)
	for _, d := range []string{"Default/GPUCache", "GrShaderCache", "ShaderCache", "Default/DawnCache"} {
		s = append(s, diskCache(d)...)
	}
	for _, d := range minorDatabases {
		s = append(s, leveldb(d, 16<<10)...)
	}
	return s
}()

// planChromium lists a whatsapp-web.js LocalAuth profile with files regular
// files: the skeleton, then caches and databases that grow with use.
func planChromium(rng *rand.Rand, files int) []node {
	p := newPlanner(rng)
	for i, s := range chromiumSkeleton {
		if i == files {
			break
		}
		p.file(s.rel, p.between(s.lo, s.hi))
	}
	for _, d := range emptyDirs {
		p.dir(d)
	}
	p.dir("Default/blob_storage/" + p.uuid())
	p.link("SingletonLock", fmt.Sprintf("localhost-%d", 1000+rng.IntN(60000)))
	p.link("SingletonCookie", strconv.FormatUint(rng.Uint64(), 10))
	p.link("SingletonSocket", fmt.Sprintf("/tmp/.org.chromium.Chromium.%06x/SingletonSocket", rng.Uint32()>>8))

	rest := max(files-len(chromiumSkeleton), 0)
	share := func(f float64) int { return int(float64(rest) * f) }
	ldb, blobs, cacheFiles, codeFiles, lsFiles := share(0.14), share(0.08), share(0.25), share(0.15), share(0.05)
	swFiles := rest - ldb - blobs - cacheFiles - codeFiles - lsFiles

	salt := p.salt() % 1000
	for i := range ldb {
		p.file(fmt.Sprintf("%s/%06d.ldb", idbDir, 5+salt+uint64(i)*2), p.smallFile())
	}
	// Blob n lives in blob/1/<(n>>8)&0xff, two hex digits>/<n in hex>.
	for n := 1; n <= blobs; n++ {
		p.file(fmt.Sprintf("%s/1/%02x/%x", idbBlobDir, (n>>8)&0xff, n), p.smallFile())
	}
	for i := range cacheFiles {
		p.file(fmt.Sprintf("%s/f_%06x", cacheData, i+1), p.smallFile())
	}
	salt = p.salt()
	for i := range codeFiles {
		p.file(fmt.Sprintf("%s/js/%016x_0", codeCache, mix(salt+uint64(i))), p.smallFile())
	}
	salt = p.salt() % 1000
	for i := range lsFiles {
		p.file(fmt.Sprintf("%s/%06d.ldb", localStorage, 5+salt+uint64(i)*2), p.smallFile())
	}
	// CacheStorage/<origin hash>/<cache id>/<entry hash>_0: one origin, one
	// cache per 400 entries, at most six.
	if swFiles > 0 {
		origin := fmt.Sprintf("%016x%016x%08x", rng.Uint64(), rng.Uint64(), rng.Uint32())
		caches := min(max(swFiles/400, 1), 6)
		ids := make([]string, caches)
		for c := range ids {
			ids[c] = p.uuid()
		}
		salt = p.salt()
		for i := range swFiles {
			p.file(fmt.Sprintf("%s/%s/%s/%016x_0", cacheStorage, origin, ids[i%caches], mix(salt+uint64(i))), p.smallFile())
		}
	}
	return p.nodes
}

// uuid returns a random version-4-looking UUID. Callers use it for
// directory names within one parent at most a few times per session, where
// a collision of 122 random bits does not happen.
func (p *planner) uuid() string {
	a, b := p.rng.Uint64(), p.rng.Uint64()
	return fmt.Sprintf("%08x-%04x-4%03x-%04x-%012x", a>>32, (a>>16)&0xffff, a&0xfff, 0x8000|(b>>48)&0x3fff, b&0xffffffffffff)
}

var baileysVersions = []string{"critical_block", "critical_unblock_low", "regular", "regular_high", "regular_low"}

// planBaileys lists a flat Baileys auth folder with files regular files.
func planBaileys(rng *rand.Rand, files int) []node {
	p := newPlanner(rng)
	fixed := []sized{{"creds.json", 1500, 4 << 10}}
	for _, v := range baileysVersions {
		fixed = append(fixed, sized{"app-state-sync-version-" + v + ".json", 150, 2 << 10})
	}
	for i, s := range fixed {
		if i == files {
			break
		}
		p.file(s.rel, p.between(s.lo, s.hi))
	}
	rest := max(files-len(fixed), 0)
	share := func(f float64) int { return int(float64(rest) * f) }
	sessions, keys, senders, memories := share(0.2), share(0.05), share(0.1), share(0.05)
	preKeys := rest - sessions - keys - senders - memories

	for i := range preKeys {
		p.file(fmt.Sprintf("pre-key-%d.json", i+1), p.between(180, 260))
	}
	// Names built from salt+i modulo a power of ten stay distinct while i is
	// below that power.
	salt := p.salt()
	for i := range sessions {
		p.file(fmt.Sprintf("session-55%02d9%08d.%d.json", 11+rng.IntN(89), (salt+uint64(i))%1e8, rng.IntN(4)), p.between(1<<10, 12<<10))
	}
	salt = p.salt()
	for i := range keys {
		p.file(fmt.Sprintf("app-state-sync-key-AAAAA%08X.json", uint32(salt)+uint32(i)), p.between(200, 300))
	}
	salt = p.salt()
	for i := range senders {
		p.file(fmt.Sprintf("sender-key-120363%012d@g.us--55%02d9%08d--0.json", (salt+uint64(i))%1e12, 11+rng.IntN(89), rng.IntN(1e8)), p.between(500, 4<<10))
	}
	salt = p.salt()
	for i := range memories {
		p.file(fmt.Sprintf("sender-key-memory-120363%012d@g.us.json", (salt+uint64(i))%1e12), p.between(100, 2<<10))
	}
	return p.nodes
}
