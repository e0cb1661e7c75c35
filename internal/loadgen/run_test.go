package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"
)

// config is a run of n events to f with the default mix, fixed ids.
func config(f *fake, n int64) Config {
	mix, _ := ParseMix(DefaultMix)
	return Config{
		URL: f.URL, WriteKey: fakeKey, Token: fakeToken,
		Events: n, Concurrency: 8, Batch: 50, Mix: mix, Groups: 100, Users: 1000,
		Seed: 7, RunID: "t",
	}
}

func run(t *testing.T, cfg Config) *Result {
	t.Helper()
	res, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return res
}

func TestEveryEventSentOnceInFullBatches(t *testing.T) {
	f := newFake(t)
	cfg := config(f, 1030)
	cfg.Batch = 100
	res := run(t, cfg)

	if res.Acked != 1030 || res.Sent != 1030 || res.Requests != 11 || res.Failed != 0 || res.Rejected != 0 {
		t.Errorf("result %+v, want 1030 events acked in 11 requests", res)
	}
	ids := f.ids()
	for i := range 1030 {
		if id := fmt.Sprintf("t-%d", i); ids[id] != 1 {
			t.Errorf("%s received %d times, want once", id, ids[id])
		}
	}
	if len(ids) != 1030 {
		t.Errorf("received %d distinct ids, want 1030", len(ids))
	}
	sizes := slices.Sorted(slices.Values(f.batchSizes))
	if want := []int{30, 100, 100, 100, 100, 100, 100, 100, 100, 100, 100}; !slices.Equal(sizes, want) {
		t.Errorf("batch sizes %v, want %v", sizes, want)
	}
	if f.paths["/v1/batch"] != 11 || f.gzipped != 0 {
		t.Errorf("paths %v, %d gzipped; want 11 to /v1/batch, none gzipped", f.paths, f.gzipped)
	}
	if res.Latency.Count != 11 || res.Latency.P50 <= 0 || res.Latency.Max < res.Latency.P99 {
		t.Errorf("latency %+v, want 11 samples", res.Latency)
	}
}

func TestMixProportions(t *testing.T) {
	f := newFake(t)
	cfg := config(f, 10000)
	cfg.Batch = 250
	cfg.Mix, _ = ParseMix("group=60,identify=10,track=30")
	res := run(t, cfg)

	got := map[string]int64{}
	f.mu.Lock()
	for _, e := range f.stored {
		got[e.typ]++
	}
	f.mu.Unlock()
	for name, want := range map[string]float64{"group": 0.6, "identify": 0.1, "track": 0.3} {
		if share := float64(got[name]) / 10000; math.Abs(share-want) > 0.02 {
			t.Errorf("%s: %.3f of the events, want %.2f±0.02", name, share, want)
		}
		if res.AckedByType[name] != got[name] {
			t.Errorf("%s: reported %d acked, the endpoint received %d", name, res.AckedByType[name], got[name])
		}
	}
}

func TestSingleCalls(t *testing.T) {
	f := newFake(t)
	cfg := config(f, 300)
	cfg.Batch = 1
	res := run(t, cfg)

	if res.Acked != 300 || res.Requests != 300 {
		t.Errorf("acked %d in %d requests, want 300 in 300", res.Acked, res.Requests)
	}
	for _, name := range kindNames {
		if n := f.paths["/v1/"+name]; int64(n) != res.AckedByType[name] || n == 0 {
			t.Errorf("/v1/%s received %d calls, report says %d", name, n, res.AckedByType[name])
		}
	}
}

func TestGzip(t *testing.T) {
	f := newFake(t)
	cfg := config(f, 500)
	cfg.Gzip = true
	res := run(t, cfg)
	if res.Acked != 500 || f.gzipped != 10 || len(f.ids()) != 500 {
		t.Errorf("acked %d, %d of %d requests gzipped, %d ids received; want all 500 in 10 gzipped requests",
			res.Acked, f.gzipped, f.posts, len(f.ids()))
	}
}

// Only 200s count, minus the events a batch answer lists as rejected; a
// 503 whose events were stored anyway shows up in verify as stored
// without acknowledgement, not as a failure.
func TestRejectedAndFailedAreNotAcknowledged(t *testing.T) {
	f := newFake(t)
	f.rejectFirst, f.failEvery, f.storeFailed = true, 4, true
	cfg := config(f, 1000) // 20 batches of 50: 5 answered 503, 15 with one rejected
	cfg.Concurrency = 1    // so that which requests fail does not depend on timing
	cfg.Verify = true
	res := run(t, cfg)

	if res.Failed != 250 || res.Rejected != 15 || res.Acked != 1000-250-15 {
		t.Errorf("failed %d, rejected %d, acked %d; want 250, 15, 735", res.Failed, res.Rejected, res.Acked)
	}
	if res.Errors["HTTP 503"] != 5 || !strings.Contains(res.FirstError, "503") {
		t.Errorf("errors %v (first %q), want 5 × HTTP 503", res.Errors, res.FirstError)
	}
	var byType int64
	for _, n := range res.AckedByType {
		byType += n
	}
	if byType != res.Acked {
		t.Errorf("acked by type adds up to %d, want %d", byType, res.Acked)
	}
	v := res.Verify
	if v == nil || !v.OK() || v.Found != 735 || v.Acked != 735 || v.Unacked != 245 {
		t.Errorf("verify %+v, want 735 found and 245 (the 503s' minus rejected) stored without acknowledgement", v)
	}
}

func TestVerifyFindsMissingAndDuplicated(t *testing.T) {
	f := newFake(t)
	f.hide, f.double = "t-17", "t-401"
	f.seed(1000) // another sender's events before the run: not read
	cfg := config(f, 600)
	cfg.Verify = true
	rep, err := Bench(context.Background(), cfg, false)
	if err != nil {
		t.Fatal(err)
	}
	v := rep.Target.Verify
	if v.Missing != 1 || v.Duplicates != 1 || v.Found != 599 || !slices.Equal(v.MissingSample, []string{"t-17"}) {
		t.Errorf("verify %+v, want t-17 missing and one duplicate", v)
	}
	if v.Read != 600 || v.Pages != 4 {
		t.Errorf("read %d events in %d pages, want the run's 600 in 4 pages (not the 1000 events before it)", v.Read, v.Pages)
	}
	if err := rep.Err(); err == nil || !strings.Contains(err.Error(), "1 acknowledged events missing") {
		t.Errorf("Err() = %v, want missing events", err)
	}
	var out bytes.Buffer
	rep.WriteText(&out) //nolint:errcheck
	if !strings.Contains(out.String(), "FAILED") || !strings.Contains(out.String(), "t-17") {
		t.Errorf("report does not show the failure:\n%s", out.String())
	}
}

func TestVerifyNeedsAValidTokenBeforeSending(t *testing.T) {
	f := newFake(t)
	cfg := config(f, 100)
	cfg.Verify, cfg.Token = true, "tok_wrong"
	if _, err := Run(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("Run with a wrong token: %v, want a 401", err)
	}
	if f.posts != 0 {
		t.Errorf("sent %d requests, want none before the token is known to work", f.posts)
	}
}

func TestWrongWriteKeyStopsTheRun(t *testing.T) {
	f := newFake(t)
	cfg := config(f, 0)
	cfg.Duration, cfg.WriteKey = 10*time.Second, "wk_wrong"
	start := time.Now()
	res, err := Run(context.Background(), cfg)
	if err == nil || !strings.Contains(err.Error(), "401") || time.Since(start) > 2*time.Second {
		t.Errorf("Run with a wrong key: %v after %s, want a 401 at once", err, time.Since(start))
	}
	if res == nil || res.Acked != 0 || res.Errors["HTTP 401"] == 0 {
		t.Errorf("result %+v, want only 401s", res)
	}
}

// With a rate, requests leave on schedule: as many as the duration holds,
// spread over it.
func TestRatePacing(t *testing.T) {
	f := newFake(t)
	cfg := config(f, 0)
	cfg.Duration, cfg.Rate, cfg.Batch, cfg.Concurrency = 500*time.Millisecond, 2000, 10, 4 // a request every 5 ms
	start := time.Now()
	res := run(t, cfg)

	if res.Requests != 100 || res.Acked != 1000 || res.Unsent != 0 {
		t.Errorf("%d requests, %d acked, %d unsent; want the 100 requests due in 500 ms", res.Requests, res.Acked, res.Unsent)
	}
	slices.SortFunc(f.arrivals, time.Time.Compare)
	first, last := f.arrivals[0].Sub(start), f.arrivals[len(f.arrivals)-1].Sub(start)
	if first > 100*time.Millisecond || last < 400*time.Millisecond || last > 700*time.Millisecond {
		t.Errorf("requests arrived from %s to %s after the start, want spread over 0–500 ms", first, last)
	}
	if rate := res.EventsPerSec; rate < 1500 || rate > 2200 {
		t.Errorf("%.0f events/s, want about 2000", rate)
	}
}

// An endpoint slower than the rate: in an open loop the latency counts
// from when each request was due, so the wait for a free connection is in
// the percentiles (no coordinated omission), and what could not be sent
// by the end is reported.
func TestOpenLoopCountsTheWait(t *testing.T) {
	f := newFake(t)
	f.delay = 50 * time.Millisecond
	cfg := config(f, 0)
	cfg.Duration, cfg.Batch, cfg.Concurrency = 300*time.Millisecond, 1, 1

	closed := run(t, cfg)
	if closed.Latency.Max > 150 {
		t.Errorf("closed loop: max %.1f ms, want about the 50 ms service time", closed.Latency.Max)
	}

	cfg.Rate = 100 // one every 10 ms, five times what one connection can do
	open := run(t, cfg)
	if open.Latency.Max < 150 {
		t.Errorf("open loop: max %.1f ms, want the wait behind earlier requests counted (≥150 ms)", open.Latency.Max)
	}
	if open.Unsent < 15 || open.Unsent+open.Sent != 30 {
		t.Errorf("open loop: %d sent, %d unsent; want the 30 due, most of them unsent", open.Sent, open.Unsent)
	}
}

func TestFloorRatioAndReports(t *testing.T) {
	f := newFake(t)
	cfg := config(f, 2000)
	rep, err := Bench(context.Background(), cfg, true)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Floor == nil || rep.Floor.Acked != 2000 || rep.Target.Acked != 2000 || rep.RatioToFloor <= 0 {
		t.Fatalf("report %+v, want both runs of 2000 and a ratio", rep)
	}
	if !strings.HasPrefix(rep.Floor.URL, "http://127.0.0.1:") {
		t.Errorf("floor at %s, want loopback", rep.Floor.URL)
	}
	if len(f.ids()) != 2000 {
		t.Errorf("the endpoint received %d ids, want 2000 (the floor's traffic goes to the floor)", len(f.ids()))
	}
	if err := rep.Err(); err != nil {
		t.Errorf("Err() = %v", err)
	}

	var text bytes.Buffer
	if err := rep.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"floor", f.URL, "ratio to floor", "events/s", "p99", "acked by type"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text report lacks %q:\n%s", want, text.String())
		}
	}
	var js bytes.Buffer
	if err := rep.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var back struct {
		Config struct {
			Mix   string `json:"mix"`
			Batch int    `json:"batch"`
		} `json:"config"`
		Floor, Target struct {
			Acked   int64 `json:"acked"`
			Latency struct {
				P99 float64 `json:"p99"`
			} `json:"latencyMs"`
		}
		Ratio float64 `json:"ratioToFloor"`
	}
	if err := json.Unmarshal(js.Bytes(), &back); err != nil {
		t.Fatalf("JSON report: %v\n%s", err, js.String())
	}
	if back.Config.Mix != DefaultMix || back.Config.Batch != 50 || back.Target.Acked != 2000 || back.Floor.Latency.P99 <= 0 || back.Ratio <= 0 {
		t.Errorf("JSON report read back as %+v", back)
	}
}

func TestProgressLines(t *testing.T) {
	f := newFake(t)
	f.delay = 5 * time.Millisecond
	var progress syncBuffer
	cfg := config(f, 0)
	cfg.Duration, cfg.Progress, cfg.ProgressEvery, cfg.Label = 250*time.Millisecond, &progress, 50*time.Millisecond, "fake"
	run(t, cfg)
	lines := strings.Split(strings.TrimSpace(progress.String()), "\n")
	if len(lines) < 3 || !strings.HasPrefix(lines[0], "fake ") || !strings.Contains(lines[0], "events/s") || !strings.Contains(lines[0], "p99") {
		t.Errorf("progress:\n%s\nwant a line every 50 ms with events/s and p99", progress.String())
	}
}

func TestConfigErrors(t *testing.T) {
	ok := Config{URL: "http://127.0.0.1:1", WriteKey: "k", Duration: time.Second}
	for name, mod := range map[string]func(*Config){
		"no key":          func(c *Config) { c.WriteKey = "" },
		"no length":       func(c *Config) { c.Duration = 0 },
		"bad url":         func(c *Config) { c.URL = "127.0.0.1:8080" },
		"query":           func(c *Config) { c.URL = "http://x/?a=1" },
		"batch too big":   func(c *Config) { c.Batch = 3000 },
		"negative rate":   func(c *Config) { c.Rate = -1 },
		"negative warmup": func(c *Config) { c.Warmup = -time.Second },
		"verify no auth":  func(c *Config) { c.Verify = true },
	} {
		c := ok
		mod(&c)
		if _, err := c.withDefaults(); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := ok.withDefaults(); err != nil {
		t.Errorf("valid config: %v", err)
	}
}

func TestParseMix(t *testing.T) {
	m, err := ParseMix(" group=5, track=1 ")
	if err != nil || m != (Mix{5, 0, 1}) || m.String() != "group=5,track=1" {
		t.Errorf("ParseMix = %v, %v", m, err)
	}
	for _, bad := range []string{"", "group", "page=1", "group=-1", "group=x", "group=0", "group=1,group=2"} {
		if _, err := ParseMix(bad); err == nil {
			t.Errorf("ParseMix(%q): no error", bad)
		}
	}
}

// A warm-up sends the same traffic under its own messageIds before the
// run, on the connections the run then uses, and is counted apart.
func TestWarmupIsNotCounted(t *testing.T) {
	f := newFake(t)
	cfg := config(f, 0)
	cfg.Duration, cfg.Warmup, cfg.Rate, cfg.Verify = 300*time.Millisecond, 200*time.Millisecond, 5000, true
	rep, err := Bench(context.Background(), cfg, false)
	if err != nil {
		t.Fatal(err)
	}
	res := rep.Target
	if res.Warmup == nil || res.Warmup.Acked == 0 || res.Acked == 0 {
		t.Fatalf("result %+v, warm-up %+v: want both to have acknowledged events", res, res.Warmup)
	}
	var warm, counted int64
	for id, n := range f.ids() {
		switch {
		case strings.HasPrefix(id, "tw-"):
			warm += int64(n)
		case strings.HasPrefix(id, "t-"):
			counted += int64(n)
		default:
			t.Errorf("unexpected messageId %q", id)
		}
	}
	if warm != res.Warmup.Acked || counted != res.Acked {
		t.Errorf("received %d warm-up and %d run events; the result says %d and %d", warm, counted, res.Warmup.Acked, res.Acked)
	}
	// At 5,000 events/s in batches of 50, 0.3 s is 30 requests.
	if res.Requests < 25 || res.Requests > 31 || res.Latency.Count != res.Requests {
		t.Errorf("the run counted %d requests (%d latencies), want the 30 of its own 0.3 s", res.Requests, res.Latency.Count)
	}
	if v := res.Verify; !v.OK() || v.Found != res.Acked || v.Unacked != 0 || v.Read != warm+counted {
		t.Errorf("verify %+v: want the run's events found and the warm-up's read as another sender's", v)
	}
	f.mu.Lock()
	conns := f.conns
	f.mu.Unlock()
	if conns > cfg.Concurrency {
		t.Errorf("%d connections opened, want at most %d: the run reuses the warm-up's", conns, cfg.Concurrency)
	}
	var out bytes.Buffer
	rep.WriteText(&out) //nolint:errcheck
	for _, want := range []string{"after a 200ms warm-up", "warm-up, not counted above: 0.2s"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
}

// A run with a token waits for the profile cursor to reach the head as it
// was at the last ack, and counts that time in the end-to-end rate.
func TestProcessingCatchUpIsMeasured(t *testing.T) {
	f := newFake(t)
	f.lagPolls = 5
	cfg := config(f, 200)
	cfg.Batch = 10
	res := run(t, cfg)
	p := res.Processing
	if p == nil || p.TimedOut || p.Head != 200 || p.BehindAtEnd != 5 {
		t.Fatalf("processing = %+v; want head 200, 5 behind at the end, caught up", p)
	}
	if p.CaughtUpSeconds < 4*0.02 || p.EndToEndPerSec <= 0 || p.EndToEndPerSec >= res.EventsPerSec {
		t.Errorf("caught up after %.3fs at %.0f/s end to end, against %.0f/s acknowledged; want at least 4 polls' wait and a lower rate",
			p.CaughtUpSeconds, p.EndToEndPerSec, res.EventsPerSec)
	}
}
