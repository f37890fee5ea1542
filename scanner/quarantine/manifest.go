package quarantine

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
	"unicode/utf8"
)

// ManifestName is the name of a run's manifest in its directory.
const ManifestName = "manifest.json"

// manifestFormat marks the first line of a manifest, so that nothing else is
// ever taken for one.
const manifestFormat = "sessaudit-quarantine-manifest"

// Events of a manifest, in the order one directory goes through them.
const (
	// EventRun is the first line: the run and where it moves from and to.
	EventRun = "run"
	// EventMoving is written and fsync-ed just before the rename; it holds
	// what is known of the directory (kind, rows, size, identity). Alone,
	// after a crash, it means the rename may or may not have happened:
	// Restore and Purge look for the directory's identity on both sides.
	EventMoving = "moving"
	// EventMoved: the rename happened and both directories were fsync-ed.
	EventMoved = "moved"
	// EventNotMoved: the rename failed; the directory is where it was.
	EventNotMoved = "not_moved"
	// EventReturned: the directory was renamed back at once, because what
	// arrived was not the directory that was checked (it was swapped in
	// between), or because a row that refers to it appeared while it
	// moved (Run.Return); Error says which.
	EventReturned = "returned"
	// EventRestored: Restore moved the directory back to its place.
	EventRestored = "restored"
	// EventPurging is written and fsync-ed by Purge before it renames the
	// directory aside (to purgingName, a name Restore never looks at) and
	// deletes it. From then on Restore refuses it, and a Purge cut short
	// is finished by the next one, however young the run.
	EventPurging = "purging"
	// EventPurged: Purge deleted the directory.
	EventPurged = "purged"
)

// Record is one line of a manifest. A manifest is JSON Lines: one object per
// line, appended and fsync-ed as things happen, so that a run cut short at
// any point leaves every line before the cut intact (a line cut in half by a
// crash is the last one, and is ignored). jq reads it as it is.
type Record struct {
	Event string    `json:"event"`
	Time  time.Time `json:"time"`

	// The run line.
	Format           string     `json:"format,omitempty"`
	Version          int        `json:"version,omitempty"`
	Run              string     `json:"run,omitempty"`
	Root             string     `json:"root,omitempty"`
	Quarantine       string     `json:"quarantine,omitempty"`
	Report           string     `json:"report,omitempty"`
	ReportFinishedAt *time.Time `json:"report_finished_at,omitempty"`

	// The lines about one directory. Path is relative both to the root (its
	// place) and to the run's directory (where it sits in quarantine).
	// When the path is not valid UTF-8, PathBase64 holds its exact bytes
	// (standard base64) and is the one to read; Path then has the invalid
	// bytes replaced.
	Path        string    `json:"path,omitempty"`
	PathBase64  string    `json:"path_base64,omitempty"`
	Source      string    `json:"source,omitempty"`
	Destination string    `json:"destination,omitempty"`
	Kind        string    `json:"kind,omitempty"`
	RowIDs      []uint64  `json:"row_ids,omitempty"`
	SizeBytes   *int64    `json:"size_bytes,omitempty"`
	Files       *int64    `json:"files,omitempty"`
	Identity    *Identity `json:"identity,omitempty"`
	// Session is, for a part of a session directory (version 2), the
	// identity of the session directory it was moved from: Restore puts it
	// back only into that directory.
	Session *Identity `json:"session_identity,omitempty"`
	Error   string    `json:"error,omitempty"`
}

// setPath stores p losslessly.
func (r *Record) setPath(p string) {
	r.Path = p
	if !utf8.ValidString(p) {
		r.Path = strings.ToValidUTF8(p, "\uFFFD")
		r.PathBase64 = base64.StdEncoding.EncodeToString([]byte(p))
	}
}

// RelPath returns the exact path the record is about.
func (r Record) RelPath() (string, error) {
	if r.PathBase64 == "" {
		return r.Path, nil
	}
	b, err := base64.StdEncoding.DecodeString(r.PathBase64)
	if err != nil {
		return "", fmt.Errorf("path_base64 %q: %w", r.PathBase64, err)
	}
	return string(b), nil
}

// Entry is one directory of a run: what was recorded when it was moved and
// the last thing that happened to it.
type Entry struct {
	// Moving is the EventMoving record.
	Moving Record
	// Path is the exact relative path.
	Path string
	// State is the event of its latest record.
	State string
	// Updated is the time of its latest record.
	Updated time.Time
}

// Manifest is a run's manifest as read.
type Manifest struct {
	Header  Record
	Entries []Entry
	// Newest is the time of the latest record.
	Newest time.Time
	// Torn is set when the last line was cut short (a crash while it was
	// written); it is ignored.
	Torn bool
	// unterminated: the file does not end with a newline.
	unterminated bool
	// tornAt is where the torn line starts.
	tornAt int64
}

// ErrNotManifest: a file that is not a quarantine manifest.
var ErrNotManifest = errors.New("quarantine: not a sessaudit quarantine manifest")

// ParseManifest reads a manifest.
func ParseManifest(r io.Reader) (*Manifest, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	m := &Manifest{unterminated: len(data) > 0 && data[len(data)-1] != '\n'}
	byPath := map[string]int{}
	lines := bytes.SplitAfter(data, []byte("\n"))
	var offset int64
	for i, line := range lines {
		start := offset
		offset += int64(len(line))
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var rec Record
		if err := json.Unmarshal(line, &rec); err != nil {
			if i == len(lines)-1 && !bytes.HasSuffix(line, []byte("\n")) && i > 0 {
				m.Torn, m.tornAt = true, start
				break
			}
			return nil, fmt.Errorf("%w: line %d: %v", ErrNotManifest, i+1, err)
		}
		if i == 0 {
			if rec.Event != EventRun || rec.Format != manifestFormat {
				return nil, fmt.Errorf("%w: first line is not its run line", ErrNotManifest)
			}
			if rec.Version != 1 && rec.Version != 2 {
				return nil, fmt.Errorf("%w: version %d, this sessaudit reads versions 1 and 2", ErrNotManifest, rec.Version)
			}
			m.Header = rec
			m.Newest = rec.Time
			continue
		}
		if rec.Time.After(m.Newest) {
			m.Newest = rec.Time
		}
		p, err := rec.RelPath()
		if err != nil {
			return nil, fmt.Errorf("%w: line %d: %v", ErrNotManifest, i+1, err)
		}
		if pl, err := parsePlace(p); err != nil {
			return nil, fmt.Errorf("%w: line %d: %v", ErrNotManifest, i+1, err)
		} else if pl.part() && m.Header.Version < 2 {
			return nil, fmt.Errorf("%w: line %d: %q is a part of a session directory, which only a version 2 manifest moves", ErrNotManifest, i+1, p)
		}
		j, seen := byPath[p]
		switch {
		case rec.Event == EventMoving:
			// A directory moved, restored and moved again in a later run
			// is another run's entry; within one run a path is moved once.
			if !seen {
				byPath[p] = len(m.Entries)
				m.Entries = append(m.Entries, Entry{Moving: rec, Path: p})
				j = len(m.Entries) - 1
			} else {
				m.Entries[j].Moving = rec
			}
		case !seen:
			return nil, fmt.Errorf("%w: line %d: %s before moving", ErrNotManifest, i+1, rec.Event)
		}
		m.Entries[j].State = rec.Event
		m.Entries[j].Updated = rec.Time
	}
	if m.Header.Event == "" {
		return nil, fmt.Errorf("%w: empty", ErrNotManifest)
	}
	return m, nil
}

// ErrBusy: another reclaim, restore or purge holds the run's manifest.
var ErrBusy = errors.New("quarantine: the run is in use by another reclaim, restore or purge")

// journal appends records to an open manifest, each fsync-ed before append
// returns.
type journal struct {
	f   *os.File
	now func() time.Time
	c   *calls
}

// append writes rec as one line and flushes it to stable storage.
func (j *journal) append(rec Record) error {
	if rec.Time.IsZero() {
		rec.Time = j.now().UTC()
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("write manifest: %w", err)
	}
	b = append(b, '\n')
	if err := j.c.do("write manifest", func() error { _, err := j.f.Write(b); return err }, nil); err != nil {
		return fmt.Errorf("write manifest %s: %w", j.f.Name(), err)
	}
	if err := j.c.do("sync manifest", j.f.Sync, nil); err != nil {
		return fmt.Errorf("sync manifest %s: %w", j.f.Name(), err)
	}
	return nil
}

func (j *journal) close() error { return j.f.Close() }

// openJournal opens the manifest in the run directory runFD for appending,
// takes its lock (ErrBusy when another process holds it) and returns it
// parsed. When a crash left the last line cut short, it is
// cut off (it recorded nothing whole); when it left a whole record without
// its newline, a newline ends it, so that the next record starts a line of
// its own.
func openJournal(c *calls, runFD int, now func() time.Time) (*journal, *Manifest, error) {
	f, err := c.openFileAt(runFD, ManifestName, os.O_RDWR|os.O_APPEND, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("open manifest: %w", err)
	}
	if err := c.lock(f); err != nil {
		f.Close()
		return nil, nil, err
	}
	m, err := c.readManifest(f)
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	if m.Torn {
		if err := c.do("truncate manifest", func() error { return f.Truncate(m.tornAt) }, nil); err != nil {
			f.Close()
			return nil, nil, fmt.Errorf("cut the torn last line of the manifest: %w", err)
		}
	} else if m.unterminated {
		if err := c.do("write manifest", func() error { _, err := f.Write([]byte("\n")); return err }, nil); err != nil {
			f.Close()
			return nil, nil, fmt.Errorf("write manifest: %w", err)
		}
	}
	return &journal{f: f, now: now, c: c}, m, nil
}

// purging reports whether a Purge has begun deleting a directory of the
// run and not finished.
func (m *Manifest) purging() bool {
	for _, e := range m.Entries {
		if e.State == EventPurging {
			return true
		}
	}
	return false
}

// readManifest reads and parses the manifest f, its reading bounded as
// one call.
func (c *calls) readManifest(f *os.File) (*Manifest, error) {
	var data []byte
	err := c.do("read manifest", func() (err error) {
		data, err = io.ReadAll(f)
		return err
	}, nil)
	if err != nil {
		return nil, fmt.Errorf("read manifest: %w", err)
	}
	return ParseManifest(bytes.NewReader(data))
}
