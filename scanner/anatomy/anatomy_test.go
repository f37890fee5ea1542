package anatomy

import (
	"slices"
	"testing"
)

func TestOf(t *testing.T) {
	for _, tc := range []struct {
		name string
		top  []string
		want Kind
	}{
		{"nothing", nil, Empty},
		{"chromium profile", []string{"Default", "Local State", "SingletonLock", "first_party_sets.db"}, Webjs},
		{"profile without Local State", []string{"Default"}, Webjs},
		{"Local State alone", []string{"Local State"}, Webjs},
		{"baileys", []string{"creds.json", "pre-key-1.json", "session-4915112345678-12@s.whatsapp.net.0.json"}, Baileys},
		{"baileys without creds.json", []string{"pre-key-1.json", "app-state-sync-key-AAAAAOVd.json"}, Baileys},
		{"creds.json alone", []string{"creds.json"}, Baileys},
		{"both programs' markers", []string{"Default", "creds.json"}, Unknown},
		{"something else", []string{"notes.txt", "pre-key.json", "key-1.json"}, Unknown},
		{"a lower-case default", []string{"default", "local state"}, Unknown},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Of(tc.top); got != tc.want {
				t.Errorf("Of(%q) = %q, want %q", tc.top, got, tc.want)
			}
		})
	}
}

func TestKeyType(t *testing.T) {
	for _, tc := range []struct {
		name, want string
	}{
		{"pre-key-12.json", "pre-key"},
		{"session-4915112345678-12@s.whatsapp.net.0.json", "session"},
		{"session-102765716062358_1.0.json", "session"},
		{"sender-key-120363041234567890@g.us--4915112345678-12--0.json", "sender-key"},
		{"sender-key-memory-120363041234567890@g.us.json", "sender-key-memory"},
		{"app-state-sync-key-AAAAAOVd.json", "app-state-sync-key"},
		{"app-state-sync-version-regular_high.json", "app-state-sync-version"},
		{"app-state-sync-version-critical_block.json", "app-state-sync-version"},
		{"lid-mapping-4915112345678.json", "lid-mapping"},
		{"creds.json", ""},
		{"pre-key-.json", ""},
		{"pre-key-12.json.tmp", ""},
		{"pre-key-12", ""},
		{"prekey-12.json", ""},
		{"Pre-Key-12.json", ""},
		{"sub/pre-key-12.json", ""},
		{"", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := KeyType(tc.name)
			if got != tc.want || ok != (tc.want != "") {
				t.Errorf("KeyType(%q) = %q, %v, want %q", tc.name, got, ok, tc.want)
			}
		})
	}
}

func TestRegenerable(t *testing.T) {
	for _, tc := range []struct {
		kind Kind
		rel  string
		want bool
	}{
		// RemoteAuth keeps Default/IndexedDB and Default/Local Storage.
		{Webjs, "Default/IndexedDB", false},
		{Webjs, "Default/IndexedDB/https_web.whatsapp.com_0.indexeddb.leveldb/000003.log", false},
		{Webjs, "Default/Local Storage", false},
		{Webjs, "Default/Local Storage/leveldb/CURRENT", false},
		{Webjs, "Default", false},
		// Everything else of Default is rebuilt.
		{Webjs, "Default/Cache", true},
		{Webjs, "Default/Cache/Cache_Data/data_1", true},
		{Webjs, "Default/Code Cache/js/index", true},
		{Webjs, "Default/GPUCache", true},
		{Webjs, "Default/Service Worker/CacheStorage/0a1b/index", true},
		{Webjs, "Default/Session Storage", true},
		{Webjs, "Default/Cookies", true},
		{Webjs, "Default/Preferences", true},
		{Webjs, "Default/IndexedDBx", true},
		{Webjs, "Default/Local Storagex/leveldb", true},
		// and so is every other top-level entry but Chromium's lock files.
		{Webjs, "Local State", true},
		{Webjs, "GrShaderCache/data_0", true},
		{Webjs, "IndexedDB", true},
		{Webjs, "SingletonLock", false},
		{Webjs, "SingletonSocket", false},
		{Webjs, "SingletonCookie", false},
		// Paths that are not relative paths of one entry are not.
		{Webjs, "", false},
		{Webjs, ".", false},
		{Webjs, "..", false},
		{Webjs, "/Local State", false},
		{Webjs, "Default//Cache", false},
		{Webjs, "Default/../Cache", false},
		{Webjs, "Default/Cache/", false},
		// Nothing of another kind is.
		{Baileys, "pre-key-12.json", false},
		{Baileys, "creds.json", false},
		{Baileys, "Default/Cache", false},
		{Unknown, "Default/Cache", false},
		{Empty, "Local State", false},
	} {
		t.Run(string(tc.kind)+":"+tc.rel, func(t *testing.T) {
			if got := Regenerable(tc.kind, tc.rel); got != tc.want {
				t.Errorf("Regenerable(%q, %q) = %v, want %v", tc.kind, tc.rel, got, tc.want)
			}
		})
	}
}

func TestCacheRoots(t *testing.T) {
	top := []string{"Default", "Local State", "SingletonLock", "SingletonSocket", "GrShaderCache", "..", "", "a/b"}
	dflt := []string{"IndexedDB", "Local Storage", "Cache", "Code Cache", "Service Worker", "Preferences", "."}
	for _, tc := range []struct {
		name      string
		kind      Kind
		top, dflt []string
		want      []string
	}{
		{"webjs", Webjs, top, dflt, []string{
			"Default/Cache", "Default/Code Cache", "Default/Preferences", "Default/Service Worker",
			"GrShaderCache", "Local State",
		}},
		{"webjs without Default", Webjs, []string{"Local State", "SingletonLock"}, nil, []string{"Local State"}},
		{"webjs with only state", Webjs, []string{"Default"}, []string{"IndexedDB", "Local Storage"}, nil},
		{"baileys", Baileys, []string{"creds.json", "pre-key-1.json"}, nil, nil},
		{"unknown", Unknown, top, dflt, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := CacheRoots(tc.kind, tc.top, tc.dflt)
			if !slices.Equal(got, tc.want) {
				t.Errorf("CacheRoots = %q, want %q", got, tc.want)
			}
			for _, rel := range got {
				if !Regenerable(tc.kind, rel) {
					t.Errorf("CacheRoots returned %q, which is not regenerable", rel)
				}
			}
		})
	}
}
