package report

import (
	"encoding/base64"
	"unicode/utf8"
)

// PathBase64 returns the standard base64 encoding of p when p is not valid
// UTF-8, and "" when it is. JSON can only carry UTF-8: encoding/json writes
// such a path with U+FFFD in place of each invalid byte, so two different
// names (session_\xff\xfe, session_\xfe\xff) would print alike without it.
func PathBase64(p string) string {
	if utf8.ValidString(p) {
		return ""
	}
	return base64.StdEncoding.EncodeToString([]byte(p))
}
