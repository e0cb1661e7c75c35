//go:build linux

package console

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"roster/internal/pipeline"
	"roster/internal/store"
	"roster/internal/store/pebble"
)

// The account page's server time on the embedded store, with the log
// applied by the real processor:
//
//	ROSTER_CONSOLE_BENCH_GROUPS=1000000 ROSTER_CONSOLE_BENCH_MEMBERS=100000 \
//	  go test -run '^$' -bench AccountPage -benchtime 2000x -timeout 30m ./internal/console/
//
// Without the variables it seeds 2,000 groups and a 1,000-member account.
func BenchmarkAccountPage(b *testing.B) {
	groups := envInt(b, "ROSTER_CONSOLE_BENCH_GROUPS", 2000)
	members := envInt(b, "ROSTER_CONSOLE_BENCH_MEMBERS", 1000)
	st, err := pebble.Open(context.Background(), b.TempDir(), store.Options{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	seed(b, st, groups, members)
	h, err := New(Options{Store: st, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	mux := http.NewServeMux()
	h.Register(mux)
	cookie := &http.Cookie{Name: cookieName, Value: h.sessions.create("bench", "bench").id}

	b.Run(fmt.Sprintf("groups=%d", groups), func(b *testing.B) {
		render(b, mux, cookie, func(i int) string { return "/console/accounts/g" + strconv.Itoa(rand.IntN(groups)) }, "g")
	})
	b.Run(fmt.Sprintf("members=%d", members), func(b *testing.B) {
		render(b, mux, cookie, func(int) string { return "/console/accounts/big" }, "More members")
	})
}

// render times b.N pages and reports the percentiles of the server's time,
// wall clock and CPU (the thread's, which the benchmark's goroutine keeps:
// the page is rendered on it). On the shared machine a page that needs half
// a millisecond of CPU can wait tens of milliseconds for a core; the CPU
// percentiles tell the page's own cost from that wait. Each page is
// preceded by a request to a handler that only answers "ok", timed the
// same way.
func render(b *testing.B, mux http.Handler, cookie *http.Cookie, path func(int) string, want string) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	noop := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }) //nolint:errcheck
	var took, cpu, base []time.Duration
	// A first pass lets the store's compactions after the seeding settle.
	for i := range 200 {
		req := httptest.NewRequest(http.MethodGet, path(i), nil)
		req.AddCookie(cookie)
		mux.ServeHTTP(httptest.NewRecorder(), req)
	}
	b.ResetTimer()
	for i := range b.N {
		req := httptest.NewRequest(http.MethodGet, "/noop", nil)
		start := time.Now()
		noop.ServeHTTP(httptest.NewRecorder(), req)
		base = append(base, time.Since(start))

		req = httptest.NewRequest(http.MethodGet, path(i), nil)
		req.AddCookie(cookie)
		rec := httptest.NewRecorder()
		cpuStart := threadCPU(b)
		start = time.Now()
		mux.ServeHTTP(rec, req)
		took = append(took, time.Since(start))
		cpu = append(cpu, threadCPU(b)-cpuStart)
		if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), want) {
			b.Fatalf("GET %s = %d", req.URL, rec.Code)
		}
	}
	b.StopTimer()
	report := func(ds []time.Duration, prefix string) {
		slices.Sort(ds)
		pct := func(p float64) float64 { return float64(ds[int(p*float64(len(ds)-1))]) / 1e6 }
		b.ReportMetric(pct(0.50), prefix+"p50-ms")
		b.ReportMetric(pct(0.99), prefix+"p99-ms")
	}
	report(took, "")
	report(cpu, "cpu-")
	report(base, "noop-")
}

// threadCPU is the CPU time the calling thread has used.
func threadCPU(b *testing.B) time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ts.Nano())
}

// seed logs one group call per group (six traits, one member each) and
// members group calls to the account "big", then applies the log.
func seed(b *testing.B, st *pebble.Store, groups, members int) {
	ctx := context.Background()
	at := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	var batch []store.Event
	flush := func() {
		if err := st.Append(ctx, batch, nil); err != nil {
			b.Fatal(err)
		}
		batch = batch[:0]
	}
	add := func(user, group string, traits string) {
		body := fmt.Sprintf(`{"type":"group","messageId":"m-%s-%s","userId":%q,"groupId":%q,"traits":{%s},"timestamp":%q}`,
			user, group, user, group, traits, at.Format(time.RFC3339Nano))
		batch = append(batch, store.Event{Workspace: "bench", Source: "web", MessageID: "m-" + user + "-" + group, Type: "group",
			ReceivedAt: at, Timestamp: at, UserID: user, GroupID: group, Body: []byte(body)})
		at = at.Add(time.Millisecond)
		if len(batch) == 4000 {
			flush()
		}
	}
	for i := range groups {
		add("u"+strconv.Itoa(i), "g"+strconv.Itoa(i), fmt.Sprintf(
			`"name":"Company %d","plan":"enterprise","employees":%d,"industry":"Software","website":"https://c%d.example","createdAt":"2021-03-04T05:06:07Z"`, i, i%5000, i))
	}
	for i := range members {
		add("m"+strconv.Itoa(i), "big", `"name":"Big Co"`)
	}
	flush()
	start := time.Now()
	n, err := pipeline.NewProcessor(st, st, slog.New(slog.NewTextHandler(io.Discard, nil))).CatchUp(ctx)
	if err != nil {
		b.Fatal(err)
	}
	fmt.Fprintf(os.Stderr, "seeded %d groups and a %d-member account: %d events applied in %v\n", groups, members, n, time.Since(start))
}

func envInt(b *testing.B, name string, def int) int {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		b.Fatalf("%s: want a positive integer, got %q", name, s)
	}
	return n
}
