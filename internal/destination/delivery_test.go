package destination_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"roster/internal/destination"
	"roster/internal/store"
	"roster/internal/store/pebble"
	"roster/internal/store/storetest"
)

var ctx = context.Background()

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// post delivers each event's body to a URL, like the webhook destination.
type post struct{ url string }

func (p post) Convert(ev destination.Event) ([]destination.Request, error) {
	return []destination.Request{{Method: http.MethodPost, URL: p.url,
		Header: http.Header{"Content-Type": {"application/json"}}, Body: ev.Body}}, nil
}

// batched posts up to three events as a JSON array.
type batched struct{ post }

func (batched) MaxBatch() int { return 3 }
func (b batched) ConvertBatch(evs []destination.Event) ([]destination.Request, error) {
	var bodies []json.RawMessage
	for _, ev := range evs {
		bodies = append(bodies, ev.Body)
	}
	body, _ := json.Marshal(bodies)
	return []destination.Request{{Method: http.MethodPost, URL: b.url, Body: body}}, nil
}

// provider stands in for a destination's API: answer decides the status
// of each message (200 when it returns 0), and it records what it got.
type provider struct {
	*httptest.Server
	mu       sync.Mutex
	answer   func(messageID string, attempt int) (int, http.Header)
	attempts map[string]int
	got      []string // message ids accepted, in order
	requests int
}

func newProvider(t *testing.T, answer func(id string, attempt int) (int, http.Header)) *provider {
	p := &provider{answer: answer, attempts: map[string]int{}}
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var ids []string
		var one struct{ MessageID string }
		var many []struct{ MessageID string }
		if json.Unmarshal(body, &many) == nil {
			for _, m := range many {
				ids = append(ids, m.MessageID)
			}
		} else if json.Unmarshal(body, &one) == nil {
			ids = []string{one.MessageID}
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		p.requests++
		status, h := 0, http.Header(nil)
		for _, id := range ids {
			p.attempts[id]++
			if s, hh := p.answer(id, p.attempts[id]); s != 0 {
				status, h = s, hh
			}
		}
		for k, v := range h {
			w.Header()[k] = v
		}
		if status != 0 && status != 200 {
			w.WriteHeader(status)
			fmt.Fprintf(w, `{"error":"status %d"}`, status)
			return
		}
		p.got = append(p.got, ids...)
	}))
	t.Cleanup(p.Close)
	return p
}

func (p *provider) received() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.got)
}

func ok(string, int) (int, http.Header) { return 0, nil }

func openStore(t testing.TB, dir string, clock *storetest.Clock) *pebble.Store {
	t.Helper()
	s, err := pebble.Open(ctx, dir, store.Options{Now: clock.Now}, discard())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// appendCalls logs group calls m1…mN; extra holds JSON members added to
// message i (1-based).
func appendCalls(t *testing.T, s store.Store, n int, extra map[int]string) {
	t.Helper()
	for i := 1; i <= n; i++ {
		e := storetest.Event("ws", "web", fmt.Sprintf("m%d", i))
		if x, ok := extra[i]; ok {
			e.Body = []byte(fmt.Sprintf(`{"type":"group","messageId":"m%d","groupId":"g1","userId":"u1",%s}`, i, x))
		}
		if err := s.Append(ctx, []store.Event{e}, nil); err != nil {
			t.Fatal(err)
		}
	}
}

func deliverer(s store.Store, conv destination.Converter, clock *storetest.Clock, types ...string) *destination.Deliverer {
	d := destination.NewDeliverer(destination.Target{Workspace: "ws", Name: "Hook", Type: "webhook", Types: types, Converter: conv},
		s, s, &http.Client{Timeout: 5 * time.Second}, discard())
	d.Now = clock.Now
	d.Policy = destination.Policy{Base: time.Second, Max: time.Minute, Attempts: 3}
	d.Concurrency = 1 // so that the order of delivery can be checked
	return d
}

func round(t *testing.T, d *destination.Deliverer) (int, time.Duration) {
	t.Helper()
	n, pause, err := d.Round(ctx)
	if err != nil {
		t.Fatalf("Round: %v", err)
	}
	return n, pause
}

func stats(t *testing.T, s store.Store) store.DeliveryStats {
	t.Helper()
	st, err := s.DeliveryStats(ctx, "ws/Hook")
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func newClock() *storetest.Clock {
	c := &storetest.Clock{}
	c.Advance(time.Until(time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)) * -1)
	return c
}

func TestDeliversWhatTheDestinationTakes(t *testing.T) {
	clock := newClock()
	s := openStore(t, t.TempDir(), clock)
	p := newProvider(t, ok)
	appendCalls(t, s, 5, map[int]string{
		2: `"integrations":{"All":false}`,
		3: `"integrations":{"All":false,"Hook":{"x":1}}`,
		4: `"integrations":{"hook":false}`,
	})
	track := storetest.Event("ws", "web", "t1")
	track.Type = "track"
	other := storetest.Event("other", "web", "o1")
	if err := s.Append(ctx, []store.Event{track, other}, nil); err != nil {
		t.Fatal(err)
	}
	d := deliverer(s, post{p.URL}, clock, "group", "identify")
	if n, _ := round(t, d); n != 7 {
		t.Errorf("first round handled %d events, want 7", n)
	}
	if got, want := p.received(), []string{"m1", "m3", "m5"}; !slices.Equal(got, want) {
		t.Errorf("delivered %v, want %v", got, want)
	}
	if got, want := stats(t, s), (store.DeliveryStats{Cursor: 7, Delivered: 3}); got != want {
		t.Errorf("stats = %+v, want %+v", got, want)
	}
	if n, _ := round(t, d); n != 0 {
		t.Errorf("second round handled %d events, want 0", n)
	}
}

func TestRetryOn500ThenSuccess(t *testing.T) {
	clock := newClock()
	s := openStore(t, t.TempDir(), clock)
	p := newProvider(t, func(id string, attempt int) (int, http.Header) {
		if id == "m2" && attempt == 1 {
			return 500, nil
		}
		return 0, nil
	})
	appendCalls(t, s, 3, nil)
	d := deliverer(s, post{p.URL}, clock)
	round(t, d)
	due, err := s.DueRetries(ctx, "ws/Hook", clock.Now().Add(time.Second), 10)
	if err != nil || len(due) != 1 || due[0].Seq != 2 || due[0].Attempts != 1 || due[0].Status != 500 {
		t.Fatalf("retries = %+v, %v; want m2 after one attempt with status 500", due, err)
	}
	if wait := due[0].NextAt.Sub(clock.Now()); wait < 500*time.Millisecond || wait > time.Second {
		t.Errorf("first retry in %v, want between 0.5s and 1s", wait)
	}
	round(t, d) // not due yet
	if got := p.received(); !slices.Equal(got, []string{"m1", "m3"}) {
		t.Errorf("delivered %v before the retry was due", got)
	}
	clock.Advance(time.Second)
	round(t, d)
	if got := p.received(); !slices.Equal(got, []string{"m1", "m3", "m2"}) {
		t.Errorf("delivered %v, want m2 last", got)
	}
	if got, want := stats(t, s), (store.DeliveryStats{Cursor: 3, Delivered: 3}); got != want {
		t.Errorf("stats = %+v, want %+v", got, want)
	}
}

func Test429HonoursRetryAfter(t *testing.T) {
	clock := newClock()
	s := openStore(t, t.TempDir(), clock)
	p := newProvider(t, func(id string, attempt int) (int, http.Header) {
		if id == "m2" && attempt == 1 {
			return 429, http.Header{"Retry-After": {"120"}}
		}
		return 0, nil
	})
	appendCalls(t, s, 2, nil)
	d := deliverer(s, post{p.URL}, clock)
	round(t, d)
	clock.Advance(119 * time.Second)
	round(t, d)
	if got := p.received(); !slices.Equal(got, []string{"m1"}) {
		t.Fatalf("delivered %v before Retry-After passed", got)
	}
	clock.Advance(time.Second)
	round(t, d)
	if got := p.received(); !slices.Equal(got, []string{"m1", "m2"}) {
		t.Errorf("delivered %v after Retry-After, want m1 m2", got)
	}
}

func TestPermanentFailureIsADeadLetterAndCanBeRedriven(t *testing.T) {
	clock := newClock()
	s := openStore(t, t.TempDir(), clock)
	fixed := false
	p := newProvider(t, func(id string, _ int) (int, http.Header) {
		if id == "m2" && !fixed {
			return 400, nil
		}
		return 0, nil
	})
	appendCalls(t, s, 3, nil)
	d := deliverer(s, post{p.URL}, clock)
	round(t, d)
	dl, err := s.DeadLetters(ctx, "ws/Hook", 0, 10)
	if err != nil || len(dl) != 1 {
		t.Fatalf("dead letters = %+v, %v; want m2", dl, err)
	}
	if d := dl[0]; d.Seq != 2 || d.Status != 400 || string(d.Response) != `{"error":"status 400"}` || d.Attempts != 1 {
		t.Errorf("dead letter = %+v", d)
	}
	if got, want := stats(t, s), (store.DeliveryStats{Cursor: 3, Delivered: 2, Dead: 1}); got != want {
		t.Errorf("stats = %+v, want %+v", got, want)
	}

	m := destination.NewManager([]*destination.Deliverer{d}, s, s, s, "node", discard())
	m.Now = clock.Now
	p.mu.Lock()
	fixed = true
	p.mu.Unlock()
	if n, err := m.Redrive(ctx, "ws", "Hook"); err != nil || n != 1 {
		t.Fatalf("Redrive = %d, %v", n, err)
	}
	round(t, d)
	if got := p.received(); !slices.Equal(got, []string{"m1", "m3", "m2"}) {
		t.Errorf("delivered %v after redrive", got)
	}
	st, err := m.Statuses(ctx, "ws")
	if err != nil || len(st) != 1 || st[0].Dead != 0 || st[0].Delivered != 3 || st[0].Behind != 0 || st[0].Name != "Hook" {
		t.Errorf("statuses = %+v, %v", st, err)
	}
	if _, err := m.Redrive(ctx, "ws", "Nope"); err == nil {
		t.Error("redrive of an unknown destination succeeded")
	}
}

func TestRetriesRunOutIntoDeadLetters(t *testing.T) {
	clock := newClock()
	s := openStore(t, t.TempDir(), clock)
	p := newProvider(t, func(id string, _ int) (int, http.Header) {
		if id == "m2" {
			return 503, nil
		}
		return 0, nil
	})
	appendCalls(t, s, 2, nil)
	d := deliverer(s, post{p.URL}, clock)
	for range 3 {
		round(t, d)
		clock.Advance(time.Hour)
	}
	if got, want := stats(t, s), (store.DeliveryStats{Cursor: 2, Delivered: 1, Dead: 1}); got != want {
		t.Errorf("after 3 attempts stats = %+v, want %+v", got, want)
	}
}

func TestDownProviderHoldsTheCursorAndResumes(t *testing.T) {
	clock := newClock()
	s := openStore(t, t.TempDir(), clock)
	up := false
	p := newProvider(t, func(string, int) (int, http.Header) {
		if !up {
			return 503, http.Header{"Retry-After": {"5"}}
		}
		return 0, nil
	})
	appendCalls(t, s, 4, nil)
	d := deliverer(s, post{p.URL}, clock)
	_, pause := round(t, d)
	if pause < 5*time.Second {
		t.Errorf("pause = %v, want at least the 5s Retry-After", pause)
	}
	// One failure per request in flight is enough to tell: the other
	// events are not sent this round.
	if p.requests != 1 {
		t.Errorf("the provider got %d requests in a round where it failed the first, want 1", p.requests)
	}
	// The backlog stays in the log, not copied into retries.
	if got := stats(t, s); got != (store.DeliveryStats{}) {
		t.Errorf("stats while down = %+v, want nothing recorded", got)
	}
	p.mu.Lock()
	up = true
	p.mu.Unlock()
	if _, pause := round(t, d); pause != 0 {
		t.Errorf("pause after recovery = %v", pause)
	}
	if got := p.received(); len(got) != 4 {
		t.Errorf("delivered %v after recovery, want 4 events", got)
	}
}

func TestBatchesWhenTheConverterTakesThem(t *testing.T) {
	clock := newClock()
	s := openStore(t, t.TempDir(), clock)
	p := newProvider(t, ok)
	appendCalls(t, s, 7, nil)
	d := deliverer(s, batched{post{p.URL}}, clock)
	round(t, d)
	if got := p.received(); len(got) != 7 || p.requests != 3 {
		t.Errorf("delivered %d events in %d requests, want 7 in 3", len(got), p.requests)
	}
}

func TestRestartInTheMiddleOfARetryScheduleLosesNothing(t *testing.T) {
	clock := newClock()
	dir := t.TempDir()
	p := newProvider(t, func(id string, attempt int) (int, http.Header) {
		if id == "m2" && attempt <= 2 {
			return 502, nil
		}
		return 0, nil
	})
	s, err := pebble.Open(ctx, dir, store.Options{Now: clock.Now}, discard())
	if err != nil {
		t.Fatal(err)
	}
	appendCalls(t, s, 3, nil)
	round(t, deliverer(s, post{p.URL}, clock))
	clock.Advance(time.Minute)
	round(t, deliverer(s, post{p.URL}, clock)) // the second attempt fails too
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = openStore(t, dir, clock)
	appendCalls(t, s, 0, nil)
	if err := s.Append(ctx, []store.Event{storetest.Event("ws", "web", "m4")}, nil); err != nil {
		t.Fatal(err)
	}
	d := deliverer(s, post{p.URL}, clock)
	round(t, d)
	clock.Advance(time.Hour)
	round(t, d)
	if got := p.received(); !slices.Equal(got, []string{"m1", "m3", "m4", "m2"}) {
		t.Errorf("delivered %v across the restart, want m1 m3 m4 m2", got)
	}
	if got, want := stats(t, s), (store.DeliveryStats{Cursor: 4, Delivered: 4}); got != want {
		t.Errorf("stats = %+v, want %+v", got, want)
	}
}

func TestADeadDestinationDoesNotDelayAnother(t *testing.T) {
	clock := &storetest.Clock{}
	clock.Advance(time.Until(time.Now()) * -1)
	s := openStore(t, t.TempDir(), clock)
	hang := make(chan struct{})
	dead := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-hang:
		case <-r.Context().Done():
		}
	}))
	defer dead.Close()
	defer close(hang)
	live := newProvider(t, ok)
	// What the log held before the destinations started is not theirs.
	for i := range 10 {
		if err := s.Append(ctx, []store.Event{storetest.Event("ws", "web", fmt.Sprintf("old%d", i))}, nil); err != nil {
			t.Fatal(err)
		}
	}

	mk := func(name, url string) *destination.Deliverer {
		return destination.NewDeliverer(destination.Target{Workspace: "ws", Name: name, Converter: post{url}},
			s, s, &http.Client{Timeout: time.Minute}, discard())
	}
	m := destination.NewManager([]*destination.Deliverer{mk("Dead", dead.URL), mk("Live", live.URL)}, s, s, s, "node", discard())
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { m.Run(runCtx); close(done) }()
	defer func() { cancel(); <-done }()
	deadline := time.Now().Add(5 * time.Second)
	for c, _ := s.DeliveryCursor(ctx, "ws/Live"); c != 10; c, _ = s.DeliveryCursor(ctx, "ws/Live") {
		if time.Now().After(deadline) {
			t.Fatalf("the live destination did not start at the end of the log (cursor %d)", c)
		}
		time.Sleep(10 * time.Millisecond)
	}
	appendCalls(t, s, 50, nil)
	for len(live.received()) < 50 {
		if time.Now().After(deadline) {
			t.Fatalf("the live destination got %d of 50 events in 5s while the other hung", len(live.received()))
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, id := range live.received() {
		if strings.HasPrefix(id, "old") {
			t.Errorf("delivered %s, which was logged before the destination started", id)
		}
	}
}
