package postgres

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"sync"
	"testing"
	"time"

	"roster/internal/store"
	"roster/internal/store/storetest"
)

// proxy forwards TCP connections to the database and can fail the way a
// database or a network does: refuse (the server is down: connections are
// reset and new ones refused) or stall (a partition: bytes stop flowing,
// nothing is closed).
type proxy struct {
	t      *testing.T
	target string
	addr   string

	mu      sync.Mutex
	ln      net.Listener
	conns   []net.Conn
	stalled bool
	resume  chan struct{}
}

func startProxy(t *testing.T, target string) *proxy {
	p := &proxy{t: t, target: target, resume: make(chan struct{})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.addr = ln.Addr().String()
	p.serve(ln)
	t.Cleanup(p.close)
	return p
}

func (p *proxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.forward(c)
		}
	}()
}

func (p *proxy) forward(c net.Conn) {
	p.waitIfStalled()
	d, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	p.conns = append(p.conns, c, d)
	p.mu.Unlock()
	go p.pipe(d, c)
	p.pipe(c, d)
}

// pipe copies until either side closes, holding bytes while stalled.
func (p *proxy) pipe(dst, src net.Conn) {
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.waitIfStalled()
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (p *proxy) waitIfStalled() {
	p.mu.Lock()
	stalled, resume := p.stalled, p.resume
	p.mu.Unlock()
	if stalled {
		<-resume
	}
}

// refuse closes every connection and stops listening.
func (p *proxy) refuse() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// close lets stalled bytes go and closes everything.
func (p *proxy) close() {
	p.mu.Lock()
	if p.stalled {
		p.stalled = false
		close(p.resume)
	}
	p.mu.Unlock()
	p.refuse()
}

func (p *proxy) stall() {
	p.mu.Lock()
	p.stalled = true
	p.mu.Unlock()
}

// restore listens again on the same address and lets bytes flow.
func (p *proxy) restore() {
	p.mu.Lock()
	if p.stalled {
		p.stalled = false
		close(p.resume)
		p.resume = make(chan struct{})
	}
	listening := p.ln != nil
	p.mu.Unlock()
	if !listening {
		ln, err := net.Listen("tcp", p.addr)
		if err != nil {
			p.t.Fatalf("listen again on %s: %v", p.addr, err)
		}
		p.serve(ln)
	}
}

// openThroughProxy opens a store in a fresh schema whose connections go
// through a proxy, with short timeouts.
func openThroughProxy(t *testing.T) (*Store, *proxy) {
	t.Helper()
	u, err := url.Parse(freshSchema(t))
	if err != nil || u.Host == "" {
		t.Skip("the outage tests need ROSTER_TEST_DATABASE_URL as a postgres:// URL with a host")
	}
	target := u.Host
	if u.Port() == "" {
		target = net.JoinHostPort(u.Hostname(), "5432")
	}
	p := startProxy(t, target)
	u.Host = p.addr
	s := openAt(t, withParam(t, u.String(), "connect_timeout", "1"), store.Options{})
	s.writeTimeout, s.pingTimeout = time.Second, 500*time.Millisecond
	return s, p
}

func appendOne(s *Store, id string) (time.Duration, error) {
	start := time.Now()
	err := s.Append(context.Background(), []store.Event{storetest.Event("ws", "web", id)}, nil)
	return time.Since(start), err
}

// An unreachable database must turn Append (answered with a 503) and Ping
// (/ready) into errors within their timeouts, never a hang; when it is back
// the pool reconnects by itself, and what was refused can be sent again.
func TestOutage(t *testing.T) {
	for _, tc := range []struct {
		name string
		fail func(*proxy)
	}{
		{"database down", (*proxy).refuse},
		{"network partition", (*proxy).stall},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, p := openThroughProxy(t)
			if _, err := appendOne(s, "before"); err != nil {
				t.Fatalf("Append: %v", err)
			}
			tc.fail(p)
			// Bounded by writeTimeout (1 s), and by the connect timeout
			// (1 s) for a new connection.
			const bound = 3 * time.Second
			for _, id := range []string{"during-1", "during-2"} {
				took, err := appendOne(s, id)
				if err == nil {
					t.Fatalf("Append %s succeeded while the database was unreachable", id)
				}
				if took > bound {
					t.Errorf("Append %s failed after %v, want within %v", id, took, bound)
				}
			}
			start := time.Now()
			if err := s.Ping(context.Background()); err == nil {
				t.Error("Ping succeeded while the database was unreachable")
			} else if took := time.Since(start); took > time.Second {
				t.Errorf("Ping failed after %v, want within 1s", took)
			}
			p.restore()
			deadline := time.Now().Add(10 * time.Second)
			for {
				_, err := appendOne(s, "during-1")
				if err == nil {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("Append still fails 10s after the database came back: %v", err)
				}
				time.Sleep(100 * time.Millisecond)
			}
			if err := s.Ping(context.Background()); err != nil {
				t.Errorf("Ping after recovery: %v", err)
			}
			evs, err := s.Read(context.Background(), 0, 10)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, e := range evs {
				ids = append(ids, e.MessageID)
			}
			if fmt.Sprint(ids) != "[before during-1]" && fmt.Sprint(ids) != "[before during-2 during-1]" {
				t.Errorf("log after recovery = %v, want before, during-1 (during-2 may have committed before the failure showed)", ids)
			}
		})
	}
}
