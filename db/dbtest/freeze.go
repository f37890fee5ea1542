package dbtest

import (
	"bytes"
	"net"
	"sync"
	"testing"

	"github.com/go-sql-driver/mysql"
)

// Freezer is a TCP proxy in front of a database server that can stop
// answering, as a server stopped with SIGSTOP does: while it is frozen,
// connections stay open and new ones are accepted, but no byte goes either
// way. What the client wrote meanwhile is passed on when it thaws. Its
// methods are safe for concurrent use.
type Freezer struct {
	dsn string
	ln  net.Listener

	mu     sync.Mutex
	frozen bool
	thawed chan struct{} // closed while not frozen
	when   []byte        // freeze on a client chunk containing it
	hits   chan struct{} // signalled each time the proxy froze on when
	conns  []net.Conn
	closed bool
}

// NewFreezer starts a Freezer in front of the server of dsn (TCP only) and
// returns it; its DSN is dsn pointed at the proxy. It stops, closing every
// connection, when the test ends.
func NewFreezer(t testing.TB, dsn string) *Freezer {
	t.Helper()
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		t.Fatalf("dbtest: %v", err)
	}
	if cfg.Net != "tcp" {
		t.Fatalf("dbtest: a Freezer proxies TCP, not %s", cfg.Net)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("dbtest: %v", err)
	}
	upstream := cfg.Addr
	cfg.Addr = ln.Addr().String()
	f := &Freezer{dsn: cfg.FormatDSN(), ln: ln, thawed: make(chan struct{}), hits: make(chan struct{}, 16)}
	close(f.thawed)
	var wg sync.WaitGroup
	wg.Go(func() { f.accept(&wg, upstream) })
	t.Cleanup(func() {
		ln.Close()
		f.mu.Lock()
		f.closed = true
		for _, c := range f.conns {
			c.Close()
		}
		if f.frozen {
			f.frozen = false
			close(f.thawed)
		}
		f.mu.Unlock()
		wg.Wait()
	})
	return f
}

// DSN returns the DSN that connects through the proxy.
func (f *Freezer) DSN() string { return f.dsn }

// Freeze stops every byte, on the connections open and on those to come.
func (f *Freezer) Freeze() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.freezeLocked()
}

func (f *Freezer) freezeLocked() {
	if !f.frozen {
		f.frozen = true
		f.thawed = make(chan struct{})
	}
}

// Thaw lets bytes go again.
func (f *Freezer) Thaw() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.frozen {
		f.frozen = false
		close(f.thawed)
	}
}

// FreezeOn makes the proxy freeze when a client sends a chunk of bytes
// containing text (a statement such as "UPDATE", say), before the server
// sees it. The returned channel receives a value each time that happened.
// An empty text turns it off.
func (f *Freezer) FreezeOn(text string) <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.when = []byte(text)
	return f.hits
}

// wait blocks while the proxy is frozen; it reports false once the proxy
// is closed.
func (f *Freezer) wait() bool {
	f.mu.Lock()
	ch := f.thawed
	f.mu.Unlock()
	<-ch
	f.mu.Lock()
	defer f.mu.Unlock()
	return !f.closed
}

// track remembers c, to close it at the end; it reports false when the
// proxy is closed already.
func (f *Freezer) track(c net.Conn) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		c.Close()
		return false
	}
	f.conns = append(f.conns, c)
	return true
}

func (f *Freezer) accept(wg *sync.WaitGroup, upstream string) {
	for {
		client, err := f.ln.Accept()
		if err != nil {
			return
		}
		if !f.track(client) {
			return
		}
		wg.Go(func() {
			// A frozen server accepts (the kernel does) but says nothing,
			// not even its greeting.
			if !f.wait() {
				return
			}
			server, err := net.Dial("tcp", upstream)
			if err != nil {
				client.Close()
				return
			}
			if !f.track(server) {
				return
			}
			wg.Go(func() { f.pipe(server, client, false) })
			f.pipe(client, server, true)
		})
	}
}

// pipe copies from src to dst while not frozen; fromClient says whether
// src is the client, whose chunks FreezeOn looks at.
func (f *Freezer) pipe(src, dst net.Conn, fromClient bool) {
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 64<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if fromClient {
				f.mu.Lock()
				if len(f.when) > 0 && bytes.Contains(buf[:n], f.when) {
					f.freezeLocked()
					select {
					case f.hits <- struct{}{}:
					default:
					}
				}
				f.mu.Unlock()
			}
			if !f.wait() {
				return
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}
