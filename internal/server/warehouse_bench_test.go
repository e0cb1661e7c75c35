package server

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"roster/internal/store/postgres/pgtest"
)

// BenchmarkWarehouseLag runs the whole server with a postgres warehouse
// destination (ROSTER_TEST_DATABASE_URL, a schema of its own), ingests
// 100-event batches of group calls at a steady rate (-rate, events/s) for
// b.N events and, every 200 ms, sends a group call for a new group and
// times how long after its acknowledgement its row is in accounts: the lag
// from ack to warehouse, through the log, the profile processor and the
// load.
//
//	go test ./internal/server/ -run '^$' -bench WarehouseLag -benchtime 100000x -rate 10000
func BenchmarkWarehouseLag(b *testing.B) {
	schemaURL := pgtest.FreshSchema(b)
	u, _ := url.Parse(schemaURL)
	cfg := filepath.Join(b.TempDir(), "roster.yaml")
	yaml := fmt.Sprintf(`
workspaces:
  - id: default
    destinations:
      - {name: Warehouse, type: postgres, settings: {url: %q, schema: %s}}
`, pgtest.URL(b), u.Query().Get("search_path"))
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		b.Fatal(err)
	}
	s, err := New(context.Background(), Options{
		DataDir: b.TempDir(), WriteKey: benchKey, AccessToken: "tok_bench", ConfigPath: cfg,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), YieldToRequests: true,
	})
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
	base := "http://" + ln.Addr().String()
	db, err := pgx.Connect(context.Background(), schemaURL)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close(context.Background())
	inAccounts := func(group string, within time.Duration) {
		deadline := time.Now().Add(within)
		for {
			var n int
			err := db.QueryRow(context.Background(), "SELECT count(*) FROM accounts WHERE id = $1", group).Scan(&n)
			if err == nil && n == 1 {
				return
			}
			if time.Now().After(deadline) {
				b.Fatalf("%s not in accounts after %v (%v)", group, within, err)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}

	var next atomic.Uint64
	batches := max(b.N/100, 1)
	interval := time.Second * 100 / time.Duration(*lagRate)
	stop := make(chan struct{})
	var lags []time.Duration
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			group := fmt.Sprintf("wlag-%d", i)
			post(b, base+"/v1/group", fmt.Appendf(nil, `{"userId":"u-lag","groupId":%q,"traits":{"plan":"lag"}}`, group))
			acked := time.Now()
			inAccounts(group, 2*time.Minute)
			lags = append(lags, time.Since(acked))
		}
	})
	b.ResetTimer()
	start := time.Now()
	var due atomic.Int64
	var senders sync.WaitGroup
	for range 8 {
		senders.Go(func() {
			for i := due.Add(1) - 1; i < int64(batches); i = due.Add(1) - 1 {
				time.Sleep(time.Until(start.Add(time.Duration(i) * interval)))
				post(b, base+"/v1/batch", batchBody(&next, 100))
			}
		})
	}
	senders.Wait()
	elapsed := time.Since(start)
	close(stop)
	wg.Wait()
	slices.Sort(lags)
	if len(lags) == 0 {
		return
	}
	b.ReportMetric(float64(batches*100)/elapsed.Seconds(), "ingest-events/s")
	b.ReportMetric(float64(lags[len(lags)/2].Milliseconds()), "lag-p50-ms")
	b.ReportMetric(float64(lags[len(lags)-1].Milliseconds()), "lag-max-ms")
}
