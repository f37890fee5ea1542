package progress

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"

	"sessaudit/cmd/internal/report"
	"sessaudit/scanner"
)

// Snapshot is how far a walk has got.
type Snapshot struct {
	Workspaces, WorkspacesListed int64
	Sessions, SessionsDone       int64
	Entries, Bytes               int64
	Elapsed                      time.Duration
}

// snapshot reads p, which the walk may be changing.
func snapshot(p *scanner.Progress, elapsed time.Duration) Snapshot {
	return Snapshot{
		Workspaces: p.Workspaces.Load(), WorkspacesListed: p.WorkspacesListed.Load(),
		Sessions: p.Sessions.Load(), SessionsDone: p.SessionsDone.Load(),
		Entries: p.Entries.Load(), Bytes: p.Bytes.Load(), Elapsed: elapsed,
	}
}

// Format renders s in at most width-1 columns (the last column of a
// terminal would wrap the line). Until every workspace has been listed the
// session total is estimated from the workspaces listed so far, and shown
// with a ~.
func Format(s Snapshot, width int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "workspaces %d/%d  sessions %d/", s.WorkspacesListed, s.Workspaces, s.SessionsDone)
	total, exact := s.Sessions, s.Workspaces > 0 && s.WorkspacesListed >= s.Workspaces
	if !exact && s.WorkspacesListed > 0 {
		total = max(s.Sessions, s.Sessions*s.Workspaces/s.WorkspacesListed)
	}
	switch {
	case exact:
		fmt.Fprintf(&b, "%d", total)
	case s.WorkspacesListed > 0:
		fmt.Fprintf(&b, "~%d", total)
	default:
		b.WriteString("?")
	}
	known := total > 0 && s.WorkspacesListed > 0
	if known {
		fmt.Fprintf(&b, " (%d%%)", min(s.SessionsDone*100/total, 100))
	}
	rate := 0.0
	if sec := s.Elapsed.Seconds(); sec > 0 {
		rate = float64(s.Entries) / sec
	}
	fmt.Fprintf(&b, "  %.0f entries/s  %s  %s elapsed", rate, report.HumanBytes(s.Bytes), clock(s.Elapsed))
	if known && s.SessionsDone > 0 && s.SessionsDone < total {
		left := time.Duration(float64(s.Elapsed) * float64(total-s.SessionsDone) / float64(s.SessionsDone))
		fmt.Fprintf(&b, "  ~%s left", clock(left))
	}
	line := b.String()
	if width > 1 && len(line) > width-1 {
		line = line[:width-1]
	}
	return line
}

// clock formats d as m:ss or h:mm:ss.
func clock(d time.Duration) string {
	sec := int64(d.Round(time.Second) / time.Second)
	if sec >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", sec/3600, sec/60%60, sec%60)
	}
	return fmt.Sprintf("%d:%02d", sec/60, sec%60)
}

const (
	clearLine    = "\r\x1b[K"
	defaultWidth = 80
)

// Line is a status line drawn on a terminal. A nil *Line does nothing, so
// callers need not check whether there is a terminal.
type Line struct {
	mu    sync.Mutex
	out   io.Writer
	fd    int
	p     *scanner.Progress
	start time.Time
	// running is true between Start and Stop; shown while the line is
	// on the terminal.
	running, shown bool
	done           chan struct{}
	wg             sync.WaitGroup
}

// fder is a writer with a file descriptor, such as *os.File.
type fder interface{ Fd() uintptr }

// IsTerminal reports whether w is a terminal.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(fder)
	return ok && term.IsTerminal(int(f.Fd()))
}

// New returns the line of p on out when out is a terminal, and nil
// otherwise: a nil *Line never writes anything.
func New(out io.Writer, p *scanner.Progress) *Line {
	if !IsTerminal(out) {
		return nil
	}
	return &Line{out: out, fd: int(out.(fder).Fd()), p: p, done: make(chan struct{})}
}

// Start draws the line at once and then every interval until Stop. A Line
// starts once.
func (l *Line) Start(every time.Duration) {
	if l == nil {
		return
	}
	l.mu.Lock()
	l.start = time.Now()
	l.running = true
	l.drawLocked()
	l.mu.Unlock()
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				l.draw()
			case <-l.done:
				return
			}
		}
	}()
}

func (l *Line) draw() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.running {
		l.drawLocked()
	}
}

func (l *Line) drawLocked() {
	width, _, err := term.GetSize(l.fd)
	if err != nil || width <= 0 {
		width = defaultWidth
	}
	io.WriteString(l.out, clearLine+Format(snapshot(l.p, time.Since(l.start)), width))
	l.shown = true
}

func (l *Line) clearLocked() {
	if l.shown {
		io.WriteString(l.out, clearLine)
		l.shown = false
	}
}

// Stop stops drawing and clears the line. It may be called more than once,
// and on a Line never started.
func (l *Line) Stop() {
	if l == nil {
		return
	}
	l.mu.Lock()
	if !l.running {
		l.mu.Unlock()
		return
	}
	l.running = false
	l.mu.Unlock()
	close(l.done)
	l.wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.clearLocked()
}

// Writer returns a writer to w that, while the line runs, takes it away
// for each write and draws it again after: for log lines written to the
// same terminal. Each Write should be whole lines, as a logger writes.
func (l *Line) Writer(w io.Writer) io.Writer {
	if l == nil {
		return w
	}
	return &lineWriter{l: l, w: w}
}

type lineWriter struct {
	l *Line
	w io.Writer
}

func (lw *lineWriter) Write(b []byte) (int, error) {
	lw.l.mu.Lock()
	defer lw.l.mu.Unlock()
	if !lw.l.running {
		return lw.w.Write(b)
	}
	lw.l.clearLocked()
	n, err := lw.w.Write(b)
	lw.l.drawLocked()
	return n, err
}
