package laravelenv

import (
	"errors"
	"regexp"
	"strings"
)

// This file reads a .env file as Laravel does: the grammar of
// vlucas/phpdotenv 5, which Laravel loads its environment with.
//
//   - NAME=value, one a line; "export " before the name is allowed; blank
//     lines and lines starting with # are skipped. Names are letters,
//     digits, _ and .
//   - Unquoted: the value ends at whitespace or #; whitespace followed by
//     anything but a comment is an error (quote such a value). A backslash
//     is an ordinary character.
//   - 'single-quoted': literal, nothing expanded or escaped.
//   - "double-quoted": may span lines; \" \\ \$ \f \n \r \t \v are escapes,
//     any other backslash an error.
//   - In unquoted and double-quoted values, ${NAME} is replaced by NAME's
//     value (the process environment's, else an earlier line's) and kept
//     as written when NAME has none. $NAME, $2024 and a lone $ are kept as
//     written: godotenv, which this replaces, expanded $NAME and read
//     Abc$2024 as Abc.

// errSyntax is what a line that phpdotenv would refuse gives; its text
// never holds the value, which may be a password.
var errSyntax = errors.New("laravelenv: syntax")

// entry is one NAME=value of a file, the value unquoted and unescaped but
// its ${NAME} references not yet resolved.
type entry struct {
	name  string
	value string
	// vars are the offsets in value of the $ that may start a ${NAME}.
	vars []int
}

var (
	validName = regexp.MustCompile(`\A[a-zA-Z0-9_.]+\z`)
	reference = regexp.MustCompile(`\A\$\{([a-zA-Z0-9_.]+)\}`)
)

// parseEntries splits data into its entries, in file order.
func parseEntries(data string) ([]entry, error) {
	lines := regexp.MustCompile(`\r\n|\n|\r`).Split(data, -1)
	var raw []string
	var buf []string
	for _, line := range lines {
		started := len(buf) == 0 && startsMultiline(line)
		if started || len(buf) > 0 {
			buf = append(buf, line)
			if !endsMultiline(line, started) {
				continue
			}
			line = strings.Join(buf, "\n")
			buf = nil
		}
		if t := strings.TrimSpace(line); t == "" || t[0] == '#' {
			continue
		}
		raw = append(raw, line)
	}
	if len(buf) > 0 {
		return nil, errSyntax // a double quote never closed
	}
	entries := make([]entry, 0, len(raw))
	for _, line := range raw {
		e, ok, err := parseEntry(line)
		if err != nil {
			return nil, err
		}
		if ok {
			entries = append(entries, e)
		}
	}
	return entries, nil
}

// startsMultiline: the line opens a double-quoted value it does not close.
func startsMultiline(line string) bool {
	return strings.Contains(line, `="`) && !endsMultiline(line, true)
}

// endsMultiline: the line holds a closing double quote (the opening one too
// when the value started on it). Escaped backslashes are dropped first, so
// that \\" ends a value and \" does not.
func endsMultiline(line string, started bool) bool {
	if line == `"` {
		return true
	}
	s := strings.ReplaceAll(line, `\\`, "")
	n := 0
	for i := 1; i < len(s); i++ {
		if s[i] == '"' && s[i-1] != '\\' {
			n++
		}
	}
	if started {
		return n > 1
	}
	return n >= 1
}

// parseEntry parses NAME=value; ok is false for a line with no value
// (NAME alone), which sets nothing here.
func parseEntry(line string) (e entry, ok bool, err error) {
	name, value, hasValue := strings.Cut(line, "=")
	name, value = strings.TrimSpace(name), strings.TrimSpace(value)
	if name == "" {
		return entry{}, false, errSyntax
	}
	if len(name) > 8 && strings.HasPrefix(name, "export") && isSpace(name[6]) {
		name = strings.TrimLeft(name[6:], " \t\n\r\v\f")
	}
	if len(name) >= 3 && (name[0] == '"' && name[len(name)-1] == '"' || name[0] == '\'' && name[len(name)-1] == '\'') {
		name = name[1 : len(name)-1]
	}
	if !validName.MatchString(name) {
		return entry{}, false, errSyntax
	}
	if !hasValue {
		return entry{}, false, nil
	}
	e = entry{name: name}
	if e.value, e.vars, err = parseValue(value); err != nil {
		return entry{}, false, err
	}
	return e, true, nil
}

// The states of parseValue.
const (
	initial = iota
	unquoted
	singleQuoted
	doubleQuoted
	escape
	whitespace
	comment
)

// parseValue unquotes and unescapes value, a transducer over its tokens
// as phpdotenv's is, and returns where the references may start.
func parseValue(value string) (string, []int, error) {
	var b strings.Builder
	var vars []int
	dollar := func() { vars = append(vars, b.Len()); b.WriteByte('$') }
	state := initial
	for _, tok := range tokens(value) {
		switch state {
		case initial, unquoted:
			switch {
			case state == initial && tok == "'":
				state = singleQuoted
			case state == initial && tok == `"`:
				state = doubleQuoted
			case tok == "#":
				state = comment
			case state == unquoted && isSpace(tok[0]):
				state = whitespace
			case tok == "$":
				dollar()
				state = unquoted
			default:
				b.WriteString(tok)
				state = unquoted
			}
		case singleQuoted:
			if tok == "'" {
				state = whitespace
			} else {
				b.WriteString(tok)
			}
		case doubleQuoted:
			switch tok {
			case `"`:
				state = whitespace
			case `\`:
				state = escape
			case "$":
				dollar()
			default:
				b.WriteString(tok)
			}
		case escape:
			switch tok[0] {
			case '"', '\\', '$': // tokens of their own
				b.WriteString(tok)
			case 'f', 'n', 'r', 't', 'v':
				b.WriteByte(map[byte]byte{'f': '\f', 'n': '\n', 'r': '\r', 't': '\t', 'v': '\v'}[tok[0]])
				b.WriteString(tok[1:])
			default:
				return "", nil, errSyntax // an unexpected escape sequence
			}
			state = doubleQuoted
		case whitespace:
			switch {
			case tok == "#":
				state = comment
			case !isSpace(tok[0]):
				return "", nil, errSyntax // unexpected whitespace
			}
		case comment:
		}
	}
	if state == singleQuoted || state == doubleQuoted || state == escape {
		return "", nil, errSyntax // a missing closing quote
	}
	return b.String(), vars, nil
}

// tokens splits a value as phpdotenv's lexer does: runs of line breaks,
// runs of other whitespace, each of \ ' " # $ alone, and runs of anything
// else.
func tokens(s string) []string {
	var out []string
	for i := 0; i < len(s); {
		j := i + 1
		switch c := s[i]; {
		case c == '\r' || c == '\n':
			for j < len(s) && (s[j] == '\r' || s[j] == '\n') {
				j++
			}
		case isSpace(c):
			for j < len(s) && isSpace(s[j]) && s[j] != '\r' && s[j] != '\n' {
				j++
			}
		case strings.IndexByte(`\'"#$`, c) >= 0:
		default:
			for j < len(s) && !isSpace(s[j]) && strings.IndexByte(`\'"#$`, s[j]) < 0 {
				j++
			}
		}
		out = append(out, s[i:j])
		i = j
	}
	return out
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
}

// resolve replaces each ${NAME} at the offsets vars of value by lookup's
// value for NAME, keeping it as written when lookup has none. The last
// is replaced first, so that the earlier offsets still hold.
func resolve(value string, vars []int, lookup func(string) (string, bool)) string {
	for k := len(vars) - 1; k >= 0; k-- {
		i := vars[k]
		m := reference.FindStringSubmatch(value[i:])
		if m == nil {
			continue
		}
		if v, ok := lookup(m[1]); ok {
			value = value[:i] + v + value[i+len(m[0]):]
		}
	}
	return value
}
