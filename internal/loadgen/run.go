package loadgen

import (
	"context"
	"crypto/rand"
	"fmt"
	"maps"
	"math"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Result is what one run measured. Only events answered 200 (and not
// listed as rejected in a batch answer) count as acknowledged.
type Result struct {
	Label string `json:"label"`
	URL   string `json:"url"`
	// RunID prefixes the run's messageIds.
	RunID   string  `json:"runId"`
	Seconds float64 `json:"seconds"`
	// Requests and Sent count what got an answer or an error, acknowledged
	// or not; requests abandoned when the run is stopped (Ctrl-C, a fatal
	// answer) are in neither.
	Requests int64 `json:"requests"`
	Sent     int64 `json:"sent"`
	Acked    int64 `json:"acked"`
	// Rejected are events of batches answered 200 that the answer lists as
	// rejected; Failed are events of requests not answered 200.
	Rejected int64 `json:"rejected"`
	Failed   int64 `json:"failed"`
	// Unsent are events an open-loop run had scheduled before the end but
	// could not send: the endpoint fell that far behind the rate.
	Unsent         int64            `json:"unsent"`
	EventsPerSec   float64          `json:"eventsPerSec"`
	RequestsPerSec float64          `json:"requestsPerSec"`
	AckedByType    map[string]int64 `json:"ackedByType"`
	// Errors counts requests not answered 200 by HTTP status ("HTTP 503")
	// or by kind of failure ("timeout", "connection refused"…).
	Errors     map[string]int64 `json:"errors"`
	FirstError string           `json:"firstError,omitempty"`
	// Latency is of the requests answered 200, from when they were sent
	// (closed loop) or due (open loop) until their answer was read.
	Latency     Latency       `json:"latencyMs"`
	Interrupted bool          `json:"interrupted,omitempty"`
	Verify      *VerifyResult `json:"verify,omitempty"`
	// Processing is how long profiles took to cover the run, measured when
	// an access token is given.
	Processing *Processing `json:"processing,omitempty"`
	// Warmup is what the warm-up before the run sent, counted nowhere else.
	Warmup *Warmup `json:"warmup,omitempty"`
	// Windows are the run's successive windows of Config.Window.
	Windows []Window `json:"windows,omitempty"`
}

// Window is what one window of a run measured: the requests answered 200
// that ended in it.
type Window struct {
	StartSeconds float64 `json:"startSeconds"`
	Acked        int64   `json:"acked"`
	Latency      Latency `json:"latencyMs"`
}

// windows records per window of a run; nil records nothing.
type windows struct {
	start  time.Time
	length time.Duration
	hists  []histogram
	acked  []atomic.Int64
}

func newWindows(cfg Config, start time.Time) *windows {
	if cfg.Window <= 0 {
		return nil
	}
	n := int((cfg.Duration + cfg.Window - 1) / cfg.Window)
	return &windows{start: start, length: cfg.Window, hists: make([]histogram, n), acked: make([]atomic.Int64, n)}
}

// record files a request answered now; one that ends after the last
// window (the run's last requests) counts in the last.
func (w *windows) record(latency time.Duration, acked int) {
	if w == nil {
		return
	}
	i := min(int(time.Since(w.start)/w.length), len(w.hists)-1)
	w.hists[i].record(latency)
	w.acked[i].Add(int64(acked))
}

func (w *windows) result() []Window {
	if w == nil {
		return nil
	}
	out := make([]Window, len(w.hists))
	for i := range w.hists {
		out[i] = Window{StartSeconds: (time.Duration(i) * w.length).Seconds(), Acked: w.acked[i].Load(), Latency: w.hists[i].summary()}
	}
	return out
}

// Warmup is what a warm-up sent.
type Warmup struct {
	Seconds float64 `json:"seconds"`
	Acked   int64   `json:"acked"`
	Failed  int64   `json:"failed"`
}

// Run sends cfg's traffic to cfg.URL until the duration is over or the
// events are sent, or ctx ends (the result says Interrupted), then, with
// cfg.Verify, checks the acknowledged events through the read API.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	runID := cfg.RunID
	if runID == "" {
		runID = newRunID()
	}
	client := newClient(cfg)
	defer client.CloseIdleConnections()
	var baseline int64
	if cfg.Verify {
		// Taken first so that a bad token fails before the load, and so
		// that verification reads back only what was written since.
		if baseline, err = newestSeq(ctx, client, cfg); err != nil {
			return nil, fmt.Errorf("verify: %w", err)
		}
	}
	var warm *Result
	if cfg.Warmup > 0 {
		if warm, err = warmUp(ctx, client, cfg, runID); err != nil || warm.Interrupted {
			warm.RunID = runID
			if err != nil {
				err = fmt.Errorf("warm-up: %w", err)
			}
			return warm, err
		}
	}
	r := &runner{cfg: cfg, traffic: newTraffic(cfg, runID+"-"), client: client, errs: map[string]int64{}}
	res := r.run(ctx)
	ended := time.Now()
	res.RunID = runID
	if cfg.Token != "" && !res.Interrupted && r.fatal == nil {
		if res.Processing, err = catchUp(ctx, client, cfg, res, ended); err != nil {
			return res, fmt.Errorf("processing: %w", err)
		}
	}
	if warm != nil {
		res.Warmup = &Warmup{Seconds: warm.Seconds, Acked: warm.Acked, Failed: warm.Failed}
	}
	if r.fatal != nil {
		return res, r.fatal
	}
	if cfg.Verify && !res.Interrupted {
		v, err := verify(ctx, client, cfg, r.traffic, &r.acks.set, baseline)
		if err != nil {
			return res, fmt.Errorf("verify: %w", err)
		}
		res.Verify = v
	}
	return res, nil
}

// warmUp sends cfg's traffic for cfg.Warmup on client, whose connections
// the run then reuses. Its messageIds start with runID+"w-", which
// verification takes for another sender's.
func warmUp(ctx context.Context, client *http.Client, cfg Config, runID string) (*Result, error) {
	w := cfg
	w.Duration, w.Events, w.Progress = cfg.Warmup, 0, nil
	r := &runner{cfg: w, traffic: newTraffic(w, runID+"w-"), client: client, errs: map[string]int64{}}
	res := r.run(ctx)
	return res, r.fatal
}

// newRunID is random so that no two runs share messageIds, which the
// endpoint would deduplicate.
func newRunID() string {
	return "bench-" + strings.ToLower(rand.Text()[:10])
}

// runner is one run's shared state; the workers update it atomically.
type runner struct {
	cfg     Config
	traffic *traffic
	client  *http.Client
	hist    histogram
	windows *windows
	acks    ackSet

	nextReq                                 atomic.Uint64
	requests, sent, acked, rejected, failed atomic.Int64
	ackedByType                             [numKinds]atomic.Int64

	mu       sync.Mutex
	errs     map[string]int64
	firstErr string
	fatal    error
	cancel   context.CancelFunc
}

func (r *runner) run(parent context.Context) *Result {
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	r.cancel = cancel
	start := time.Now()
	r.windows = newWindows(r.cfg, start)
	var deadline time.Time
	if r.cfg.Duration > 0 {
		deadline = start.Add(r.cfg.Duration)
	}
	stopProgress := r.progress(start)
	var wg sync.WaitGroup
	for range r.cfg.Concurrency {
		wg.Go(func() { r.work(ctx, start, deadline) })
	}
	wg.Wait()
	elapsed := time.Since(start)
	stopProgress()
	return r.result(elapsed, parent.Err() != nil)
}

// work sends requests until the run is over. Requests are numbered; the
// events of request i are messages i*batch to i*batch+batch-1, so the
// messageIds tell which request carried them.
func (r *runner) work(ctx context.Context, start, deadline time.Time) {
	w := newWorker(r.cfg.Batch)
	batch := uint64(r.cfg.Batch)
	for ctx.Err() == nil {
		req := r.nextReq.Add(1) - 1
		first, k := req*batch, batch
		if r.cfg.Events > 0 {
			if first >= uint64(r.cfg.Events) {
				return
			}
			k = min(batch, uint64(r.cfg.Events)-first)
		}
		var due time.Time
		if r.cfg.Rate > 0 {
			due = start.Add(r.dueAfter(req))
			if !deadline.IsZero() && !due.Before(deadline) {
				return
			}
			if !sleepUntil(ctx, due) {
				return
			}
			if !deadline.IsZero() && time.Now().After(deadline) {
				return // fell behind the schedule; the result counts these as unsent
			}
		} else if !deadline.IsZero() && !time.Now().Before(deadline) {
			return
		}
		r.send(ctx, w, first, int(k), due)
	}
}

// dueAfter is when request req is due, after the start: requests are
// spread evenly so that events leave at the configured rate.
func (r *runner) dueAfter(req uint64) time.Duration {
	return time.Duration(float64(req) * float64(r.cfg.Batch) / r.cfg.Rate * float64(time.Second))
}

func sleepUntil(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// countError records a request that was not acknowledged. A 401, 403 or
// 404 will not get better by sending more, nor will a refused connection
// when nothing was ever acknowledged (nothing listens there), so they stop
// the run instead of filling it with errors.
func (r *runner) countError(key, detail string, status int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs[key]++
	if r.firstErr == "" {
		r.firstErr = detail
	}
	if r.fatal != nil {
		return
	}
	switch {
	case status == http.StatusUnauthorized || status == http.StatusForbidden || status == http.StatusNotFound:
		r.fatal = fmt.Errorf("%s answered %s; stopping", r.cfg.URL, detail)
	case key == "connection refused" && r.acked.Load() == 0:
		r.fatal = fmt.Errorf("%s: %s; is it running?", r.cfg.URL, detail)
	default:
		return
	}
	r.cancel()
}

func (r *runner) result(elapsed time.Duration, interrupted bool) *Result {
	secs := elapsed.Seconds()
	res := &Result{
		Label:          r.cfg.Label,
		URL:            r.cfg.URL,
		Seconds:        secs,
		Requests:       r.requests.Load(),
		Sent:           r.sent.Load(),
		Acked:          r.acked.Load(),
		Rejected:       r.rejected.Load(),
		Failed:         r.failed.Load(),
		AckedByType:    map[string]int64{},
		Latency:        r.hist.summary(),
		Interrupted:    interrupted,
		EventsPerSec:   float64(r.acked.Load()) / secs,
		RequestsPerSec: float64(r.requests.Load()) / secs,
		Windows:        r.windows.result(),
	}
	for k := range numKinds {
		if r.cfg.Mix[k] > 0 {
			res.AckedByType[k.String()] = r.ackedByType[k].Load()
		}
	}
	r.mu.Lock()
	res.Errors, res.FirstError = maps.Clone(r.errs), r.firstErr
	r.mu.Unlock()
	if r.cfg.Rate > 0 && r.cfg.Duration > 0 && !interrupted && r.fatal == nil {
		perRequest := float64(r.cfg.Batch) / r.cfg.Rate * float64(time.Second)
		planned := int64(math.Ceil(float64(r.cfg.Duration)/perRequest)) * int64(r.cfg.Batch)
		if r.cfg.Events > 0 {
			planned = min(planned, r.cfg.Events)
		}
		res.Unsent = max(planned-res.Sent, 0)
	}
	return res
}
