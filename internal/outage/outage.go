package outage

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Proxy forwards the TCP connections made to Addr to its target while it
// is up.
type Proxy struct {
	// Addr is where it listens (host:port), up or down.
	Addr string

	t      testing.TB
	target string
	mu     sync.Mutex
	ln     net.Listener // nil while down
	closed bool         // the test ended: it stays down
	conns  map[net.Conn]bool
	// silent is closed to silence the connections open when it was made
	// (see Silence); ended when the test ends.
	silent, ended chan struct{}
	held          atomic.Int64 // answers Silence held back
	hung          atomic.Bool  // see Hang
	wg            sync.WaitGroup
}

// Start is a proxy to target (host:port), up, stopped when the test ends.
func Start(t testing.TB, target string) *Proxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{Addr: ln.Addr().String(), t: t, target: target, conns: map[net.Conn]bool{}, silent: make(chan struct{}), ended: make(chan struct{})}
	p.serve(ln)
	t.Cleanup(func() {
		p.mu.Lock()
		p.closed = true
		close(p.ended)
		p.mu.Unlock()
		p.Down()
		p.wg.Wait()
	})
	return p
}

func (p *Proxy) serve(ln net.Listener) {
	p.ln = ln
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if p.hung.Load() {
				p.hold(c)
				continue
			}
			s, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			if p.ln != ln { // went down meanwhile
				p.mu.Unlock()
				c.Close()
				s.Close()
				continue
			}
			p.conns[c], p.conns[s] = true, true
			silent := p.silent
			p.mu.Unlock()
			go func() { io.Copy(s, c); s.Close() }()
			go func() { p.answer(c, s, silent); c.Close() }()
		}
	}()
}

// answer copies the server's bytes to the client until either ends, or,
// once silent is closed, holds them: the connection stays open and says
// nothing more (until the test ends).
func (p *Proxy) answer(c, s net.Conn, silent <-chan struct{}) {
	buf := make([]byte, 32<<10)
	for {
		n, err := s.Read(buf)
		select {
		case <-silent:
			if n > 0 {
				p.held.Add(1)
			}
			<-p.ended
			return
		default:
		}
		if n > 0 {
			if _, werr := c.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// Silence makes every connection open now go silent: the server's answers
// no longer reach the client, and the connection stays open, as one the
// network lost without a reset (a NAT's state dropped, a peer gone) does.
// Connections made after work as before.
func (p *Proxy) Silence() {
	p.mu.Lock()
	defer p.mu.Unlock()
	close(p.silent)
	p.silent = make(chan struct{})
}

// Hang makes the service take connections and answer nothing, as one
// stopped (SIGSTOP) or a proxy whose upstream went away without a word
// does: the connections open now go silent (Silence), and new ones are
// accepted and held open, their requests read and never answered, until
// Answer.
func (p *Proxy) Hang() {
	p.hung.Store(true)
	p.Silence()
}

// Answer ends Hang: new connections reach the service again (those held
// stay silent).
func (p *Proxy) Answer() { p.hung.Store(false) }

// hold keeps c open, reading what the client sends, until the client or
// the test closes it.
func (p *Proxy) hold(c net.Conn) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		c.Close()
		return
	}
	p.conns[c] = true
	p.mu.Unlock()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		io.Copy(io.Discard, c)
		c.Close()
	}()
}

// Held is how many answers Silence held back: calls that met a silent
// connection.
func (p *Proxy) Held() int64 { return p.held.Load() }

// Down cuts every connection and stops listening: a connection then is
// refused, until Up.
func (p *Proxy) Down() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
}

// Up listens on Addr again (a test error if it cannot).
func (p *Proxy) Up() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil || p.closed {
		return
	}
	ln, err := net.Listen("tcp", p.Addr)
	if err != nil {
		p.t.Errorf("outage: listen again on %s: %v", p.Addr, err)
		return
	}
	p.serve(ln)
}

// DownFor is Down, then Up after d.
func (p *Proxy) DownFor(d time.Duration) {
	p.Down()
	time.AfterFunc(d, p.Up)
}
