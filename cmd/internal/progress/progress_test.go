package progress_test

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"

	"sessaudit/cmd/internal/progress"
	"sessaudit/scanner"
)

func TestFormat(t *testing.T) {
	for _, tc := range []struct {
		name  string
		s     progress.Snapshot
		width int
		want  string
	}{
		{
			name: "listing: the total estimated from the workspaces listed",
			s:    progress.Snapshot{Workspaces: 10, WorkspacesListed: 4, Sessions: 40, SessionsDone: 25, Entries: 24000, Bytes: 3 << 30, Elapsed: 4 * time.Second},
			want: "workspaces 4/10  sessions 25/~100 (25%)  6000 entries/s  3.0 GiB  0:04 elapsed  ~0:12 left",
		},
		{
			name: "all listed: percentage and estimate",
			s:    progress.Snapshot{Workspaces: 10, WorkspacesListed: 10, Sessions: 400, SessionsDone: 100, Entries: 90000, Bytes: 1536, Elapsed: 90 * time.Second},
			want: "workspaces 10/10  sessions 100/400 (25%)  1000 entries/s  1.5 KiB  1:30 elapsed  ~4:30 left",
		},
		{
			name: "hours",
			s:    progress.Snapshot{Workspaces: 1, WorkspacesListed: 1, Sessions: 2, SessionsDone: 1, Elapsed: 2*time.Hour + 3*time.Second},
			want: "workspaces 1/1  sessions 1/2 (50%)  0 entries/s  0 B  2:00:03 elapsed  ~2:00:03 left",
		},
		{
			name: "nothing yet",
			s:    progress.Snapshot{},
			want: "workspaces 0/0  sessions 0/?  0 entries/s  0 B  0:00 elapsed",
		},
		{
			name: "root listed, no workspace yet",
			s:    progress.Snapshot{Workspaces: 10, Elapsed: time.Second},
			want: "workspaces 0/10  sessions 0/?  0 entries/s  0 B  0:01 elapsed",
		},
		{
			name: "an empty share",
			s:    progress.Snapshot{Workspaces: 3, WorkspacesListed: 3},
			want: "workspaces 3/3  sessions 0/0  0 entries/s  0 B  0:00 elapsed",
		},
		{
			name:  "cut to the terminal's width less one",
			s:     progress.Snapshot{Workspaces: 10, WorkspacesListed: 3, Sessions: 40, SessionsDone: 12, Entries: 24000, Bytes: 3 << 30, Elapsed: 4 * time.Second},
			width: 21,
			want:  "workspaces 3/10  ses",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			width := tc.width
			if width == 0 {
				width = 200
			}
			if got := progress.Format(tc.s, width); got != tc.want {
				t.Errorf("Format = %q, want %q", got, tc.want)
			}
		})
	}
}

// terminal opens a pseudo-terminal of the given width and returns its
// terminal side, where the line is drawn, and what is written to it as the
// controlling side reads it.
func terminal(t *testing.T, cols uint16) (*os.File, func() string) {
	t.Helper()
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Fatalf("open a pseudo-terminal: %v", err)
	}
	t.Cleanup(func() { ptmx.Close(); tty.Close() })
	if err := pty.Setsize(ptmx, &pty.Winsize{Rows: 24, Cols: cols}); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	done := make(chan struct{})
	go func() {
		io.Copy(&buf, ptmx) // until the terminal side is closed
		close(done)
	}()
	return tty, func() string {
		tty.Close()
		<-done
		return buf.String()
	}
}

var clocks = regexp.MustCompile(`\d+(:\d\d)+`)

func counters() *scanner.Progress {
	var p scanner.Progress
	p.Workspaces.Store(4)
	p.WorkspacesListed.Store(4)
	p.Sessions.Store(10)
	p.SessionsDone.Store(5)
	p.Bytes.Store(2048)
	return &p
}

func TestLineOnATerminal(t *testing.T) {
	tty, output := terminal(t, 120)
	if !progress.IsTerminal(tty) {
		t.Fatal("a pseudo-terminal is not taken for a terminal")
	}
	l := progress.New(tty, counters())
	if l == nil {
		t.Fatal("no line on a terminal")
	}
	log := l.Writer(tty)
	io.WriteString(log, "before start\n")
	l.Start(time.Hour) // draws once at once; the ticker never fires here
	io.WriteString(log, "a log line\n")
	l.Stop()
	io.WriteString(log, "after stop\n")
	// Times depend on how fast this runs: compare them as T.
	got := clocks.ReplaceAllString(output(), "T")

	const clear = "\r\x1b[K"
	draw := clear + "workspaces 4/4  sessions 5/10 (50%)  0 entries/s  2.0 KiB  T elapsed  ~T left"
	// The tty turns \n into \r\n.
	want := "before start\r\n" + draw + clear + "a log line\r\n" + draw + clear + "after stop\r\n"
	if got != want {
		t.Errorf("the terminal got\n%q\nwant\n%q", got, want)
	}
	if !strings.HasSuffix(strings.TrimSuffix(got, "after stop\r\n"), clear) {
		t.Error("the line is not cleared when it stops")
	}
}

func TestLineIsCutToTheTerminal(t *testing.T) {
	tty, output := terminal(t, 30)
	l := progress.New(tty, counters())
	l.Start(time.Hour)
	l.Stop()
	l.Stop() // a second Stop does nothing
	got := output()
	want := "\r\x1b[K" + "workspaces 4/4  sessions 5/10" + "\r\x1b[K"
	if got != want {
		t.Errorf("the terminal got %q, want %q", got, want)
	}
}

func TestNothingWithoutATerminal(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	file, err := os.Create(filepath.Join(t.TempDir(), "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	for name, out := range map[string]io.Writer{"pipe": w, "file": file, "buffer": &bytes.Buffer{}} {
		t.Run(name, func(t *testing.T) {
			if progress.IsTerminal(out) {
				t.Fatal("taken for a terminal")
			}
			l := progress.New(out, counters())
			if l != nil {
				t.Fatal("a line was made")
			}
			l.Start(time.Millisecond)
			if got := l.Writer(out); got != out {
				t.Error("Writer wraps the writer although there is no line")
			}
			l.Stop() // a nil Line may be stopped
		})
	}
	w.Close()
	if b, _ := io.ReadAll(r); len(b) > 0 {
		t.Errorf("the pipe got %q", b)
	}
	if fi, _ := file.Stat(); fi.Size() > 0 {
		t.Errorf("the file got %d bytes", fi.Size())
	}
}
