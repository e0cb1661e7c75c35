package server

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The profile benchmarks run the whole server (ingest, processor, read
// API) on a real listener:
//
//	go test -run '^$' -bench 'Profile' -benchtime 20000x ./internal/server/

const benchGroups = 5000

// startFull serves a Roster with its processor, seeded with benchGroups
// groups, and waits until all of them are readable.
func startFull(b *testing.B) string {
	s, err := New(context.Background(), Options{
		DataDir: b.TempDir(), WriteKey: benchKey, AccessToken: "tok_bench",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		// As roster serve runs it; give the benchmark -cpu 3 for the P
		// serve adds.
		YieldToRequests: true,
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
	var next atomic.Uint64
	for range benchGroups / 100 {
		post(b, base+"/v1/batch", batchBody(&next, 100)) // ids cycle over benchGroups groups
	}
	waitVisible(b, base, fmt.Sprintf("group-%d", benchGroups-1), 30*time.Second)
	return base
}

func post(b *testing.B, url string, body []byte) {
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	req.SetBasicAuth(benchKey, "")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body) //nolint:errcheck
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b.Fatalf("POST %s: %s", url, resp.Status)
	}
}

func get(client *http.Client, url string) (int, error) {
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.SetBasicAuth("tok_bench", "")
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, resp.Body) //nolint:errcheck
	resp.Body.Close()
	return resp.StatusCode, nil
}

func waitVisible(b *testing.B, base, group string, within time.Duration) {
	url := base + "/v1/spaces/default/collections/accounts/profiles/group_id:" + group + "/traits"
	deadline := time.Now().Add(within)
	for {
		if code, err := get(http.DefaultClient, url); err == nil && code == http.StatusOK {
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("%s not visible within %s", group, within)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// readTraits drives traits lookups of random groups from 32 clients and
// reports requests/s and latency percentiles. With a rate, requests start
// at that pace in all (open loop), so latency is not measured at
// saturation.
func readTraits(b *testing.B, base string, rate int) {
	var issued atomic.Int64
	start := time.Now()
	pace := func() {
		if rate > 0 {
			i := issued.Add(1) - 1
			time.Sleep(time.Until(start.Add(time.Duration(i) * time.Second / time.Duration(rate))))
		}
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
	var (
		mu        sync.Mutex
		latencies = make([]time.Duration, 0, b.N)
		n         atomic.Uint64
	)
	b.SetParallelism(16)
	b.ReportAllocs() // of the client and the server: they share the process
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		local := make([]time.Duration, 0, 1024)
		for pb.Next() {
			pace()
			g := n.Add(7919) % benchGroups
			url := fmt.Sprintf("%s/v1/spaces/default/collections/accounts/profiles/group_id:group-%d/traits", base, g)
			start := time.Now()
			code, err := get(client, url)
			local = append(local, time.Since(start))
			if err != nil || code != http.StatusOK {
				b.Errorf("GET %s: %d %v", url, code, err)
				return
			}
		}
		mu.Lock()
		latencies = append(latencies, local...)
		mu.Unlock()
	})
	b.StopTimer()
	slices.Sort(latencies)
	pct := func(p float64) float64 {
		return float64(latencies[int(p*float64(len(latencies)-1))].Microseconds()) / 1000
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
}

func BenchmarkProfileTraitsRead(b *testing.B) {
	readTraits(b, startFull(b), 0)
}

// BenchmarkProfileTraitsReadAtRate reads at -readrate requests/s.
func BenchmarkProfileTraitsReadAtRate(b *testing.B) {
	readTraits(b, startFull(b), *readRate)
}

var ingestRate = flag.Int("ingestrate", 0, "events/s that BenchmarkProfileTraitsReadWhileIngesting ingests; 0 = as fast as one client can")

var readRate = flag.Int("readrate", 2000, "requests/s of BenchmarkProfileTraitsReadAtRate and ...WhileIngesting")

// BenchmarkProfileTraitsReadWhileIngesting reads at -readrate requests/s
// (open loop, as the target is stated) while another client ingests
// 100-event batches as fast as it can, which also keeps the processor busy.
func BenchmarkProfileTraitsReadWhileIngesting(b *testing.B) {
	base := startFull(b)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var ingested atomic.Uint64
	wg.Go(func() {
		next := atomic.Uint64{}
		next.Store(1 << 32)
		start := time.Now()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if *ingestRate > 0 {
				time.Sleep(time.Until(start.Add(time.Duration(i) * time.Second * 100 / time.Duration(*ingestRate))))
			}
			post(b, base+"/v1/batch", batchBody(&next, 100))
			ingested.Add(100)
		}
	})
	readTraits(b, base, *readRate)
	close(stop)
	wg.Wait()
	b.ReportMetric(float64(ingested.Load())/b.Elapsed().Seconds(), "ingested-events/s")
}

// BenchmarkProfileLag ingests 100-event batches at a steady rate (-rate,
// events/s) for b.N events and, every 200 ms, sends a group call for a new
// group and times how long after its acknowledgement the group is visible
// through the Profile API: the lag from commit to visible profile.
//
//	go test -run '^$' -bench ProfileLag -benchtime 50000x -rate 5000 ./internal/server/
func BenchmarkProfileLag(b *testing.B) {
	base := startFull(b)
	var next atomic.Uint64
	next.Store(1 << 33)
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
			group := fmt.Sprintf("lag-%d", i)
			post(b, base+"/v1/group", fmt.Appendf(nil, `{"userId":"u-lag","groupId":%q}`, group))
			acked := time.Now()
			waitVisible(b, base, group, time.Minute)
			lags = append(lags, time.Since(acked))
		}
	})
	b.ResetTimer()
	// Open loop: batch i is due at start + i×interval whatever the latency
	// of the others. One client posting in turn fell behind the rate
	// whenever a commit was slow, and measured less than the rate asked.
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
		return // the b.N = 1 probe run is too short to measure
	}
	b.ReportMetric(float64(batches*100)/elapsed.Seconds(), "ingest-events/s")
	b.ReportMetric(float64(lags[len(lags)/2].Milliseconds()), "lag-p50-ms")
	b.ReportMetric(float64(lags[len(lags)-1].Milliseconds()), "lag-max-ms")
}

var lagRate = flag.Int("rate", 5000, "events/s that BenchmarkProfileLag ingests")
