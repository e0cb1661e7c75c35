package loadgen

import (
	"context"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"roster/internal/server"
)

// startRoster serves a real Roster on a fresh loopback port and data
// directory until the test ends.
func startRoster(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(context.Background(), server.Options{
		Addr: ln.Addr().String(), DataDir: t.TempDir(), WriteKey: "wk_lg", AccessToken: "tok_lg",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		ln.Close()
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("server did not stop")
		}
	})
	return "http://" + ln.Addr().String()
}

// Against a real Roster every acknowledged event is read back exactly
// once, by batches and by single calls, gzipped or not; the second run's
// verification reads only what was stored after it began.
func TestAgainstRoster(t *testing.T) {
	base := startRoster(t)
	mix, _ := ParseMix(DefaultMix)
	cfg := Config{
		URL: base, WriteKey: "wk_lg", Token: "tok_lg", Verify: true,
		Events: 3000, Batch: 100, Concurrency: 8, Mix: mix, Seed: 1,
	}
	rep, err := Bench(context.Background(), cfg, true)
	if err != nil {
		t.Fatal(err)
	}
	res := rep.Target
	if res.Acked != 3000 || res.Failed != 0 || res.Rejected != 0 || len(res.Errors) != 0 {
		t.Fatalf("batches: %+v, want all 3000 acknowledged", res)
	}
	if v := res.Verify; !v.OK() || v.Found != 3000 || v.Read != 3000 || v.Unacked != 0 {
		t.Errorf("batches: verify %+v, want the 3000 found once each", v)
	}
	if rep.Floor == nil || rep.RatioToFloor <= 0 || rep.Err() != nil {
		t.Errorf("floor %+v, ratio %v, err %v", rep.Floor, rep.RatioToFloor, rep.Err())
	}

	cfg.Events, cfg.Batch, cfg.Gzip = 300, 1, true
	res, err = Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if v := res.Verify; res.Acked != 300 || !v.OK() || v.Found != 300 || v.Read != 300 {
		t.Errorf("single calls: acked %d, verify %+v; want 300 found once each, 300 read", res.Acked, v)
	}
}
