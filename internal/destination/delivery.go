package destination

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"roster/internal/pipeline"
	"roster/internal/store"
)

// Log is what delivery reads.
type Log interface {
	Read(ctx context.Context, after int64, limit int) ([]store.Event, error)
	RecentEvents(ctx context.Context, workspace string, before int64, limit int) ([]store.Event, error)
}

// Target is one configured destination.
type Target struct {
	Workspace string
	// Name is what the integrations object matches.
	Name string
	Type string
	// Types are the call types it takes; empty means all.
	Types []string
	// Converter or Loader delivers the events: one of them is set.
	Converter Converter
	Loader    Loader
}

// ID names the destination in the outbox: "<workspace>/<name>".
func (t Target) ID() string { return t.Workspace + "/" + t.Name }

// takes says whether the destination may get e, from what the log stores
// next to the body: its workspace and call type. The integrations object
// decides after.
func (t Target) takes(e store.Event) bool {
	return e.Workspace == t.Workspace && (len(t.Types) == 0 || slices.Contains(t.Types, e.Type))
}

// Deliverer sends one destination's events: new ones from its cursor over
// the log, and due retries from its outbox. It runs on one node at a time,
// under a lease.
type Deliverer struct {
	target Target
	log    Log
	outbox store.Outbox
	client *http.Client
	logger *slog.Logger

	Policy Policy
	// Concurrency bounds the requests in flight to the provider.
	Concurrency int
	// Batch is how many log events one round reads.
	Batch int
	// Idle is the pause when there is nothing to send.
	Idle time.Duration
	Now  func() time.Time
	// Observe, when set, counts deliveries and times requests.
	Observe Observer

	// down counts rounds in which the provider failed every send; while
	// it is down the cursor waits instead of filling the outbox with the
	// whole backlog.
	down int
}

// NewDeliverer returns a deliverer for target.
func NewDeliverer(target Target, log Log, outbox store.Outbox, client *http.Client, logger *slog.Logger) *Deliverer {
	return &Deliverer{target: target, log: log, outbox: outbox, client: client,
		logger: logger.With("destination", target.ID()),
		Policy: DefaultPolicy(), Concurrency: 8, Batch: 500, Idle: 100 * time.Millisecond, Now: time.Now}
}

// Target returns what the deliverer delivers to.
func (d *Deliverer) Target() Target { return d.target }

// unit is what one send delivers: one event, or a batch of them.
type unit struct {
	events []Event
	// prior is the retry being retried (nil for new events).
	prior *store.Delivery
}

// result is a unit's outcome.
type result struct {
	// split says a batch could not be converted as one: its events are
	// sent one by one, so that one bad event fails alone.
	split      bool
	verdict    Verdict
	status     int
	err        string
	response   []byte
	retryAfter time.Duration
}

// Round sends due retries and the next events of the log once. It says
// how much it did (0: idle) and how long to wait when the provider is down.
func (d *Deliverer) Round(ctx context.Context) (int, time.Duration, error) {
	id := d.target.ID()
	now := d.Now()
	due, err := d.outbox.DueRetries(ctx, id, now, d.Batch)
	if err != nil {
		return 0, 0, err
	}
	cursor, err := d.outbox.DeliveryCursor(ctx, id)
	if err != nil {
		return 0, 0, err
	}
	events, err := d.log.Read(ctx, cursor, d.readSize())
	if err != nil {
		return 0, 0, fmt.Errorf("destination %s: read log: %w", id, err)
	}
	var out store.DeliveryOutcome
	var retries, fresh []unit
	for i := range due {
		ev, err := d.retried(ctx, due[i])
		if err != nil {
			out.Dead = append(out.Dead, dead(due[i], now, err))
			continue
		}
		_, ev.Options = Enabled(ev.Integrations, d.target.Name)
		retries = append(retries, unit{events: []Event{ev}, prior: &due[i]})
	}
	var take []Event
	for _, e := range events {
		// Another workspace's events, and types the destination does not
		// take, are not decoded at all.
		if !d.target.takes(e) {
			out.Skipped++
			continue
		}
		ev, err := FromLog(e)
		if err != nil {
			out.Dead = append(out.Dead, dead(store.Delivery{Seq: e.Seq, Body: e.Body}, now, err))
			continue
		}
		ok, opts := Enabled(ev.Integrations, d.target.Name)
		if !ok {
			out.Skipped++
			continue
		}
		ev.Options = opts
		take = append(take, ev)
	}
	fresh = d.units(take)

	results := d.sendAll(ctx, append(retries, fresh...))
	if ctx.Err() != nil {
		return 0, 0, ctx.Err()
	}
	for i, u := range retries {
		d.settle(&out, u, results[i], now)
	}
	var pause time.Duration
	fresh, freshResults := d.sendSplit(ctx, fresh, results[len(retries):])
	if ctx.Err() != nil {
		return 0, 0, ctx.Err()
	}
	if len(fresh) > 0 && allRetry(freshResults) {
		// The provider is down (or refusing everything for now): leave
		// the events in the log and try the round again later.
		d.down++
		ra := time.Duration(0)
		for _, r := range freshResults {
			ra = max(ra, r.retryAfter)
		}
		// Probe at least once a minute so that delivery resumes soon after
		// the provider does, unless it asked for a longer wait.
		pause = max(min(d.Policy.Backoff(d.down, 0), time.Minute), ra)
		d.logger.Warn("destination failing; delivery paused", "err", freshResults[0].err, "retry_in", pause, "rounds", d.down)
		events = nil
		out.Skipped = 0
	} else {
		d.down = 0
		for i, u := range fresh {
			d.settle(&out, u, freshResults[i], now)
		}
	}
	var upTo int64
	if len(events) > 0 {
		upTo = events[len(events)-1].Seq
	}
	if err := d.outbox.RecordDeliveries(ctx, id, upTo, out); err != nil {
		return 0, 0, err
	}
	if d.Observe != nil {
		d.Observe.Settled(d.target, len(out.Delivered), len(out.Retry), len(out.Dead))
	}
	return len(due) + len(events), pause, nil
}

func allRetry(rs []result) bool {
	for _, r := range rs {
		if r.verdict != Retry {
			return false
		}
	}
	return true
}

// readSize is how many log events a round reads: a loader's whole batch,
// since a warehouse loads best in large ones.
func (d *Deliverer) readSize() int {
	if d.target.Loader != nil {
		return max(d.Batch, d.target.Loader.MaxBatch())
	}
	return d.Batch
}

// retried is the event a due retry holds. A loader also gets the source
// and receive time, which the log keeps beside the body: a warehouse files
// an event under its source.
func (d *Deliverer) retried(ctx context.Context, r store.Delivery) (Event, error) {
	ev, err := Parse(r.Seq, r.Body)
	if err != nil || d.target.Loader == nil {
		return ev, err
	}
	logged, err := d.log.Read(ctx, r.Seq-1, 1)
	if err != nil {
		return Event{}, fmt.Errorf("destination %s: read log: %w", d.target.ID(), err)
	}
	if len(logged) == 1 && logged[0].Seq == r.Seq {
		ev.Source, ev.ReceivedAt = logged[0].Source, logged[0].ReceivedAt
	}
	return ev, nil
}

// units groups new events into sends: batches when the converter or the
// loader takes them.
func (d *Deliverer) units(evs []Event) []unit {
	size := 1
	if b, ok := d.target.Converter.(BatchConverter); ok {
		size = max(1, b.MaxBatch())
	}
	if d.target.Loader != nil {
		size = max(1, d.target.Loader.MaxBatch())
	}
	var us []unit
	for start := 0; start < len(evs); start += size {
		us = append(us, unit{events: evs[start:min(start+size, len(evs))]})
	}
	return us
}

// sendSplit sends one by one the events of the batches that could not be
// converted as one, and returns every unit with its result.
func (d *Deliverer) sendSplit(ctx context.Context, us []unit, rs []result) ([]unit, []result) {
	var singles []unit
	for i, u := range us {
		if rs[i].split {
			for _, ev := range u.events {
				singles = append(singles, unit{events: []Event{ev}})
			}
		}
	}
	if len(singles) == 0 {
		return us, rs
	}
	var keptU []unit
	var keptR []result
	for i, u := range us {
		if !rs[i].split {
			keptU, keptR = append(keptU, u), append(keptR, rs[i])
		}
	}
	return append(keptU, singles...), append(keptR, d.sendAll(ctx, singles)...)
}

// settle turns a unit's result into the outcome of each of its events.
func (d *Deliverer) settle(out *store.DeliveryOutcome, u unit, r result, now time.Time) {
	for _, ev := range u.events {
		prev := store.Delivery{Seq: ev.Seq, Body: ev.Body}
		if u.prior != nil {
			prev = *u.prior
		}
		next := store.Delivery{Destination: d.target.ID(), Seq: ev.Seq, Body: ev.Body, Attempts: prev.Attempts + 1,
			Status: r.status, Error: r.err, Response: r.response, FailedAt: now}
		switch {
		case r.verdict == Delivered:
			out.Delivered = append(out.Delivered, ev.Seq)
		case r.verdict == Retry && next.Attempts < d.Policy.Attempts:
			next.NextAt = now.Add(d.Policy.Backoff(next.Attempts, r.retryAfter))
			out.Retry = append(out.Retry, next)
		default:
			out.Dead = append(out.Dead, next)
		}
	}
}

func dead(d store.Delivery, now time.Time, err error) store.Delivery {
	d.Attempts++
	d.Error, d.Status, d.FailedAt = err.Error(), 0, now
	return d
}

// sendAll sends units with at most Concurrency in flight. When the first
// Concurrency sends all fail and none succeeds, the provider is down: the
// rest are not sent (they count as failed), so that a dead provider costs a
// round a few timeouts, not one per event.
func (d *Deliverer) sendAll(ctx context.Context, us []unit) []result {
	results := make([]result, len(us))
	limit := max(1, d.Concurrency)
	sem := make(chan struct{}, limit)
	var mu sync.Mutex
	failed, delivered := 0, 0
	var wg sync.WaitGroup
	for i, u := range us {
		sem <- struct{}{}
		mu.Lock()
		down := failed >= limit && delivered == 0
		mu.Unlock()
		if down {
			<-sem
			results[i] = result{verdict: Retry, err: "not sent: the provider failed every send of this round"}
			continue
		}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			r := d.send(ctx, u)
			results[i] = r
			mu.Lock()
			switch {
			case r.split: // nothing was sent yet
			case r.verdict == Retry:
				failed++
			default:
				delivered++
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	return results
}

// send converts a unit and sends each of its requests, in order, whatever
// happened to the ones before: a request the provider refuses does not
// keep the others from it. The unit is delivered when all are; otherwise
// it is retried (all its requests again: providers' updates are idempotent,
// $set, upserts, events with an insert id) if any failure may pass, and
// else is a dead letter whose error names each request that failed.
func (d *Deliverer) send(ctx context.Context, u unit) result {
	if d.target.Loader != nil {
		return d.load(ctx, u)
	}
	var reqs []Request
	var err error
	if b, ok := d.target.Converter.(BatchConverter); ok && len(u.events) > 1 {
		if reqs, err = b.ConvertBatch(u.events); err != nil {
			return result{split: true}
		}
	} else {
		reqs, err = d.target.Converter.Convert(u.events[0])
	}
	if err != nil {
		return result{verdict: Permanent, err: "conversion: " + err.Error()}
	}
	var failed []result
	var errs []string
	for i, r := range reqs {
		res := d.do(ctx, r)
		if res.verdict == Delivered {
			continue
		}
		if len(reqs) > 1 {
			res.err = fmt.Sprintf("request %d of %d: %s", i+1, len(reqs), res.err)
		}
		failed = append(failed, res)
		errs = append(errs, res.err)
	}
	if len(failed) == 0 {
		return result{verdict: Delivered}
	}
	// The first failure that decides the verdict gives the status and the
	// response; the error lists them all.
	out := failed[0]
	for _, f := range failed {
		if f.verdict == Retry && out.verdict != Retry {
			out = f
		}
		out.retryAfter = max(out.retryAfter, f.retryAfter)
	}
	out.err = strings.Join(errs, "; ")
	if n := len(reqs) - len(failed); len(reqs) > 1 && n > 0 {
		out.err += fmt.Sprintf(" (the other %d delivered)", n)
	}
	return out
}

// load hands a unit to the target's loader.
func (d *Deliverer) load(ctx context.Context, u unit) result {
	err := d.target.Loader.Load(ctx, u.events)
	switch {
	case err == nil:
		return result{verdict: Delivered}
	case errors.Is(err, ErrPermanent):
		return result{verdict: Permanent, err: "load: " + err.Error()}
	}
	return result{verdict: Retry, err: "load: " + err.Error()}
}

// maxResponse is how much of a provider's answer a dead letter keeps.
const maxResponse = 4 << 10

func (d *Deliverer) do(ctx context.Context, r Request) result {
	req, err := http.NewRequestWithContext(ctx, r.Method, r.URL, bytes.NewReader(r.Body))
	if err != nil {
		return result{verdict: Permanent, err: "request: " + err.Error()}
	}
	for k, vs := range r.Header {
		req.Header[k] = vs
	}
	start := time.Now()
	resp, err := d.client.Do(req)
	if d.Observe != nil {
		status := 0
		if err == nil {
			status = resp.StatusCode
		}
		d.Observe.Sent(d.target, status, time.Since(start))
	}
	if err != nil {
		return result{verdict: Retry, err: err.Error()}
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	// Drain a little more so the connection can be reused.
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) //nolint:errcheck
	res := result{verdict: Classify(resp), status: resp.StatusCode}
	if c, ok := d.target.Converter.(ResponseChecker); ok {
		res.verdict = c.Check(r, resp.StatusCode, body)
	}
	if res.verdict != Delivered {
		res.err = r.Method + " " + req.URL.Redacted() + ": " + resp.Status
		res.response = body
		res.retryAfter = RetryAfter(resp.Header, d.Now())
	}
	return res
}

// leaseTTL is how long a node keeps a destination after it stops renewing.
const leaseTTL = 15 * time.Second

// Start puts a destination seen for the first time at the end of its
// workspace's log: it gets what arrives from now on, not the history. The
// server calls it before it takes requests, so that nothing it
// acknowledges is taken for history.
func (d *Deliverer) Start(ctx context.Context) error {
	newest, err := d.log.RecentEvents(ctx, d.target.Workspace, 0, 1)
	if err != nil {
		return fmt.Errorf("destination %s: %w", d.target.ID(), err)
	}
	at := int64(0)
	if len(newest) > 0 {
		at = newest[0].Seq
	}
	return d.outbox.StartDelivery(ctx, d.target.ID(), at)
}

// Run delivers until ctx ends, holding the destination's lease so that one
// node of several delivers it. A pause longer than the lease may lose it to
// another node, which is fine: that node keeps its own pause.
func (d *Deliverer) Run(ctx context.Context, leases store.Leases, holder string) {
	lease := store.NewKeeper(leases, "destination:"+d.target.ID(), holder, leaseTTL)
	pipeline.Loop(ctx, lease, d.logger, d.Idle, func(ctx context.Context) (time.Duration, error) {
		n, pause, err := d.Round(ctx)
		if n == 0 && pause == 0 {
			return d.Idle, err
		}
		return pause, err
	})
}
