package server

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
)

// Ingestion with and without a dead destination, each through a whole
// server whose processor and deliverers run, compared in one run:
//
//	go test -run '^$' -bench 'IngestFull' -benchtime 5s ./internal/server/

// serveFull runs a whole server with the destinations given as YAML, on
// PostgreSQL when databaseURL is set.
func serveFull(b *testing.B, databaseURL, destinations string) string {
	cfg := filepath.Join(b.TempDir(), "roster.yaml")
	yaml := fmt.Sprintf("workspaces: [{id: default, sources: [{name: bench, writeKey: %s}], destinations: [%s]}]\n", benchKey, destinations)
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		b.Fatal(err)
	}
	s, err := New(context.Background(), Options{DataDir: b.TempDir(), DatabaseURL: databaseURL, ConfigPath: cfg, AccessToken: "tok_bench",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), YieldToRequests: true})
	if err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Serve(ctx, ln); close(done) }() //nolint:errcheck
	b.Cleanup(func() { cancel(); <-done })
	return "http://" + ln.Addr().String()
}

// blackhole accepts connections and never answers: the worst kind of dead
// destination, whose requests hang until the client gives up.
func blackhole(b *testing.B) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	conns := make(chan net.Conn, 1024)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns <- c
		}
	}()
	b.Cleanup(func() {
		ln.Close()
		for len(conns) > 0 {
			(<-conns).Close()
		}
	})
	return "http://" + ln.Addr().String()
}

func BenchmarkIngestFullNoDestination(b *testing.B) {
	url := serveFull(b, "", "") + "/v1/batch"
	drive(b, []string{url}, 100, func(n *atomic.Uint64) []byte { return batchBody(n, 100) })
}

func BenchmarkIngestFullDeadDestination(b *testing.B) {
	url := serveFull(b, "", fmt.Sprintf("{name: Dead, type: webhook, settings: {url: %q}}", blackhole(b))) + "/v1/batch"
	drive(b, []string{url}, 100, func(n *atomic.Uint64) []byte { return batchBody(n, 100) })
}
