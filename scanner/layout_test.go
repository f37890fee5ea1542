package scanner_test

import (
	"testing"

	"sessaudit/scanner"
)

func TestParseWorkspace(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		wantID uint64
		wantOK bool
	}{
		{"one digit", "workspace_7", 7, true},
		{"zero", "workspace_0", 0, true},
		{"several digits", "workspace_1234", 1234, true},
		{"max uint64", "workspace_18446744073709551615", 18446744073709551615, true},
		{"overflow", "workspace_18446744073709551616", 0, false},
		{"leading zero", "workspace_07", 0, false},
		{"double zero", "workspace_00", 0, false},
		{"empty id", "workspace_", 0, false},
		{"no prefix", "7", 0, false},
		{"letters", "workspace_abc", 0, false},
		{"digits then letters", "workspace_7a", 0, false},
		{"plus sign", "workspace_+7", 0, false},
		{"minus sign", "workspace_-7", 0, false},
		{"space", "workspace_ 7", 0, false},
		{"trailing newline", "workspace_7\n", 0, false},
		{"non-ASCII digit", "workspace_٧", 0, false},
		{"capital prefix", "Workspace_7", 0, false},
		{"no underscore", "workspace7", 0, false},
		{"hex", "workspace_0x7", 0, false},
		{"with a path", "workspace_7/session_a", 0, false},
		{"lost+found", "lost+found", 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			id, ok := scanner.ParseWorkspace(tc.in)
			if id != tc.wantID || ok != tc.wantOK {
				t.Errorf("ParseWorkspace(%q) = %d, %t; want %d, %t", tc.in, id, ok, tc.wantID, tc.wantOK)
			}
		})
	}
}

func TestParseSession(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		wantID string
		wantOK bool
	}{
		{"simple", "session_a", "a", true},
		{"digits", "session_42", "42", true},
		{"uuid", "session_0b9f4c1e-3a7d-4c1b-9d7e-5f0a2b6c8d91", "0b9f4c1e-3a7d-4c1b-9d7e-5f0a2b6c8d91", true},
		{"space", "session_with space", "with space", true},
		{"unicode", "session_ünïcødé", "ünïcødé", true},
		{"newline", "session_line\nbreak", "line\nbreak", true},
		{"underscore in id", "session_a_b", "a_b", true},
		{"dot id", "session_.", ".", true},
		{"empty id", "session_", "", false},
		{"no prefix", "a", "", false},
		{"capital prefix", "Session_a", "", false},
		{"no underscore", "sessiona", "", false},
		{"slash", "session_a/b", "", false},
		{"NUL", "session_a\x00", "", false},
		{"workspace name", "workspace_1", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			id, ok := scanner.ParseSession(tc.in)
			if id != tc.wantID || ok != tc.wantOK {
				t.Errorf("ParseSession(%q) = %q, %t; want %q, %t", tc.in, id, ok, tc.wantID, tc.wantOK)
			}
		})
	}
}

func TestParseSessionPath(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		wantWS uint64
		wantID string
		wantOK bool
	}{
		{"simple", "workspace_1/session_a", 1, "a", true},
		{"large workspace", "workspace_18446744073709551615/session_z", 18446744073709551615, "z", true},
		{"newline in id", "workspace_3/session_a\nb", 3, "a\nb", true},
		{"workspace only", "workspace_1", 0, "", false},
		{"empty", "", 0, "", false},
		{"trailing slash", "workspace_1/session_a/", 0, "", false},
		{"leading slash", "/workspace_1/session_a", 0, "", false},
		{"dot prefix", "./workspace_1/session_a", 0, "", false},
		{"doubled slash", "workspace_1//session_a", 0, "", false},
		{"extra element", "workspace_1/session_a/Default", 0, "", false},
		{"dot dot", "workspace_1/session_a/..", 0, "", false},
		{"bad workspace", "workspace_01/session_a", 0, "", false},
		{"bad session", "workspace_1/sess_a", 0, "", false},
		{"empty session id", "workspace_1/session_", 0, "", false},
		{"swapped", "session_a/workspace_1", 0, "", false},
		{"backslash", `workspace_1\session_a`, 0, "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ws, id, ok := scanner.ParseSessionPath(tc.in)
			if ws != tc.wantWS || id != tc.wantID || ok != tc.wantOK {
				t.Errorf("ParseSessionPath(%q) = %d, %q, %t; want %d, %q, %t",
					tc.in, ws, id, ok, tc.wantWS, tc.wantID, tc.wantOK)
			}
		})
	}
}

func TestSessionPathRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		ws   uint64
		id   string
		want string
	}{
		{"simple", 1, "a", "workspace_1/session_a"},
		{"zero", 0, "x", "workspace_0/session_x"},
		{"max", 18446744073709551615, "z", "workspace_18446744073709551615/session_z"},
		{"odd id", 12, "a b\nc", "workspace_12/session_a b\nc"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := scanner.SessionPath(tc.ws, tc.id)
			if got != tc.want {
				t.Fatalf("SessionPath(%d, %q) = %q, want %q", tc.ws, tc.id, got, tc.want)
			}
			ws, id, ok := scanner.ParseSessionPath(got)
			if !ok || ws != tc.ws || id != tc.id {
				t.Errorf("ParseSessionPath(%q) = %d, %q, %t; want %d, %q, true", got, ws, id, ok, tc.ws, tc.id)
			}
			if name := scanner.WorkspaceName(tc.ws); name+"/session_"+tc.id != got {
				t.Errorf("WorkspaceName(%d) = %q, not the first element of %q", tc.ws, name, got)
			}
		})
	}
}
