// Package pgtest gives tests an empty PostgreSQL schema of their own in
// the database ROSTER_TEST_DATABASE_URL names, and a proxy that fails the
// way a database or a network does.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
)

// URL is the database the tests use; each test gets a schema of its
// own in it, dropped afterwards.
func URL(tb testing.TB) string {
	tb.Helper()
	u := os.Getenv("ROSTER_TEST_DATABASE_URL")
	if u == "" {
		tb.Skip("ROSTER_TEST_DATABASE_URL not set; set it to a PostgreSQL URL (e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable) to run the PostgreSQL tests")
	}
	return u
}

// FreshSchema creates an empty schema, dropped when the test ends, and
// returns the database URL with search_path set to it (pgx sets unknown URL
// parameters on every connection).
func FreshSchema(tb testing.TB) string {
	tb.Helper()
	base := URL(tb)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		tb.Fatalf("connect: %v", err)
	}
	defer conn.Close(ctx)
	var b [6]byte
	rand.Read(b[:]) //nolint:errcheck // never fails
	schema := "roster_test_" + hex.EncodeToString(b[:])
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		tb.Fatalf("create schema: %v", err)
	}
	tb.Cleanup(func() {
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			tb.Errorf("connect: %v", err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			tb.Errorf("drop schema: %v", err)
		}
	})
	return WithParam(tb, base, "search_path", schema)
}

// WithParam adds a parameter to a URL or a key=value DSN.
func WithParam(tb testing.TB, dsn, name, value string) string {
	tb.Helper()
	if !strings.Contains(dsn, "://") {
		return dsn + " " + name + "=" + value
	}
	u, err := url.Parse(dsn)
	if err != nil {
		tb.Fatalf("parse ROSTER_TEST_DATABASE_URL: %v", err)
	}
	q := u.Query()
	q.Set(name, value)
	u.RawQuery = q.Encode()
	return u.String()
}

// Proxy forwards TCP connections to the database and can fail the way a
// database or a network does: refuse (the server is down: connections are
// reset and new ones refused) or stall (a partition: bytes stop flowing,
// nothing is closed).
type Proxy struct {
	t      testing.TB
	target string
	addr   string

	mu      sync.Mutex
	ln      net.Listener
	conns   []net.Conn
	stalled bool
	resume  chan struct{}
}

// StartProxy forwards a local address to target until the test ends.
func StartProxy(t testing.TB, target string) *Proxy {
	p := &Proxy{t: t, target: target, resume: make(chan struct{})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.addr = ln.Addr().String()
	p.serve(ln)
	t.Cleanup(p.close)
	return p
}

func (p *Proxy) serve(ln net.Listener) {
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

func (p *Proxy) forward(c net.Conn) {
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
func (p *Proxy) pipe(dst, src net.Conn) {
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

func (p *Proxy) waitIfStalled() {
	p.mu.Lock()
	stalled, resume := p.stalled, p.resume
	p.mu.Unlock()
	if stalled {
		<-resume
	}
}

// Refuse closes every connection and stops listening.
func (p *Proxy) Refuse() {
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
func (p *Proxy) close() {
	p.mu.Lock()
	if p.stalled {
		p.stalled = false
		close(p.resume)
	}
	p.mu.Unlock()
	p.Refuse()
}

// Stall stops bytes from flowing, as a network partition does.
func (p *Proxy) Stall() {
	p.mu.Lock()
	p.stalled = true
	p.mu.Unlock()
}

// Restore listens again on the same address and lets bytes flow.
func (p *Proxy) Restore() {
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

// Addr is the proxy's address, host:port.
func (p *Proxy) Addr() string { return p.addr }

// ThroughProxy returns a fresh schema's URL whose connections go through a
// proxy, with a short connect timeout, and the proxy.
func ThroughProxy(tb testing.TB) (string, *Proxy) {
	tb.Helper()
	u, err := url.Parse(FreshSchema(tb))
	if err != nil || u.Host == "" {
		tb.Skip("the outage tests need ROSTER_TEST_DATABASE_URL as a postgres:// URL with a host")
	}
	target := u.Host
	if u.Port() == "" {
		target = net.JoinHostPort(u.Hostname(), "5432")
	}
	p := StartProxy(tb, target)
	u.Host = p.addr
	return WithParam(tb, u.String(), "connect_timeout", "1"), p
}
