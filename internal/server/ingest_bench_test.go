package server

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
)

// The ingest benchmarks drive a real server over loopback with concurrent
// clients, and the same traffic against a do-nothing handler (the floor),
// so results can be read as a ratio to what this machine's HTTP stack does.
//
//	go test -run '^$' -bench 'Ingest|Floor' -benchtime 5s ./internal/server/

const benchKey = "wk_bench"

// groupCall is a realistic group call (about 370 bytes) with a unique id.
func groupCall(b *bytes.Buffer, id uint64) {
	fmt.Fprintf(b, `{"type":"group","messageId":"bench-%d","userId":"user-%d","groupId":"group-%d",`+
		`"traits":{"name":"Initech","industry":"Technology","employees":329,"plan":"enterprise","total billed":830},`+
		`"context":{"ip":"8.8.8.8","library":{"name":"analytics-node","version":"3.1.0"},"userAgent":"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_9_5)"},`+
		`"timestamp":"2024-02-23T22:28:55.111Z","sentAt":"2024-02-23T22:28:55.200Z"}`, id, id%50000, id%5000)
}

func batchBody(next *atomic.Uint64, n int) []byte {
	var b bytes.Buffer
	b.WriteString(`{"batch":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		groupCall(&b, next.Add(1))
	}
	b.WriteString(`]}`)
	return b.Bytes()
}

func singleBody(next *atomic.Uint64) []byte {
	var b bytes.Buffer
	groupCall(&b, next.Add(1))
	return b.Bytes()
}

func serveBench(b *testing.B, h http.Handler) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(ln) //nolint:errcheck
	b.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String()
}

func rosterHandler(b *testing.B) http.Handler {
	s, err := New(context.Background(), Options{
		DataDir:     b.TempDir(),
		WriteKey:    benchKey,
		AccessToken: "tok_bench",
		Logger:      slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s.Handler()
}

// floor reads the body and answers 200, as cheaply as a Go handler can.
var floor = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	io.Copy(io.Discard, r.Body) //nolint:errcheck
	w.Write([]byte(`{"success":true}`))
})

// drive posts bodies from many concurrent clients, spread over urls (as
// a balancer spreads them over nodes), and reports events/s.
func drive(b *testing.B, urls []string, perRequest int, body func(*atomic.Uint64) []byte) {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256, DisableCompression: true}}
	var next, turn atomic.Uint64
	b.SetParallelism(16) // 16 × GOMAXPROCS clients
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		url := urls[turn.Add(1)%uint64(len(urls))]
		for pb.Next() {
			req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body(&next)))
			req.SetBasicAuth(benchKey, "")
			resp, err := client.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body) //nolint:errcheck
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
	b.StopTimer()
	secs := b.Elapsed().Seconds()
	b.ReportMetric(float64(b.N)/secs, "req/s")
	b.ReportMetric(float64(b.N*perRequest)/secs, "events/s")
}

func BenchmarkIngestBatch100(b *testing.B) {
	url := serveBench(b, rosterHandler(b)) + "/v1/batch"
	drive(b, []string{url}, 100, func(n *atomic.Uint64) []byte { return batchBody(n, 100) })
}

func BenchmarkFloorBatch100(b *testing.B) {
	url := serveBench(b, floor) + "/v1/batch"
	drive(b, []string{url}, 100, func(n *atomic.Uint64) []byte { return batchBody(n, 100) })
}

func BenchmarkIngestSingleGroup(b *testing.B) {
	url := serveBench(b, rosterHandler(b)) + "/v1/group"
	drive(b, []string{url}, 1, singleBody)
}

func BenchmarkFloorSingleGroup(b *testing.B) {
	url := serveBench(b, floor) + "/v1/group"
	drive(b, []string{url}, 1, singleBody)
}
