package destination_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"roster/internal/destination"
	"roster/internal/store"
)

// twoRequests delivers each event in two requests, as a group call often
// is (a group profile, then the user's link to it): to <url>/first, then
// <url>/second.
type twoRequests struct{ url string }

func (c twoRequests) Convert(ev destination.Event) ([]destination.Request, error) {
	return []destination.Request{
		{Method: http.MethodPost, URL: c.url + "/first", Body: ev.Body},
		{Method: http.MethodPost, URL: c.url + "/second", Body: ev.Body},
	}, nil
}

// pathProvider answers each request by its path and how many requests
// that path got for the message, and counts what each path got.
func pathProvider(t *testing.T, answer func(path, messageID string, attempt int) int) (string, func() map[string]int) {
	got := map[string]int{}
	mu := make(chan struct{}, 1)
	srv := newProvider(t, ok)
	srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m struct{ MessageID string }
		json.NewDecoder(r.Body).Decode(&m) //nolint:errcheck // the test's own bodies
		mu <- struct{}{}
		got[r.URL.Path]++
		got[r.URL.Path+" "+m.MessageID]++
		n := got[r.URL.Path+" "+m.MessageID]
		<-mu
		if status := answer(r.URL.Path, m.MessageID, n); status != 0 {
			w.WriteHeader(status)
			w.Write([]byte(`{"status":"error","message":"refused ` + r.URL.Path + `"}`))
		}
	})
	return srv.URL, func() map[string]int {
		mu <- struct{}{}
		defer func() { <-mu }()
		out := map[string]int{}
		for k, v := range got {
			out[k] = v
		}
		return out
	}
}

// A request the provider refuses does not keep the call's other requests
// from it, and the dead letter says which request was refused.
func TestARefusedRequestDoesNotDropTheOthers(t *testing.T) {
	clock := newClock()
	s := openStore(t, t.TempDir(), clock)
	url, counts := pathProvider(t, func(path, _ string, _ int) int {
		if path == "/first" {
			return http.StatusBadRequest
		}
		return 0
	})
	appendCalls(t, s, 1, nil)
	d := deliverer(s, twoRequests{url}, clock)
	round(t, d)
	if got := counts(); got["/second"] != 1 {
		t.Errorf("requests = %v: the second request was dropped with the first", got)
	}
	dl, err := s.DeadLetters(ctx, "ws/Hook", 0, 10)
	if err != nil || len(dl) != 1 {
		t.Fatalf("dead letters = %+v, %v", dl, err)
	}
	if e := dl[0].Error; !strings.Contains(e, "request 1 of 2") || !strings.Contains(e, "/first") || !strings.Contains(e, "400") ||
		strings.Contains(e, "/second") || !strings.Contains(e, "the other 1 delivered") {
		t.Errorf("dead letter error %q does not say the first of two requests was refused", e)
	}
	if dl[0].Status != http.StatusBadRequest || !strings.Contains(string(dl[0].Response), "refused /first") {
		t.Errorf("dead letter = %+v, want the first request's answer", dl[0])
	}
}

// A request that fails for now is retried, and the call is delivered once
// every request has been; the requests that had passed do not stop it.
func TestAFailedRequestIsRetried(t *testing.T) {
	clock := newClock()
	s := openStore(t, t.TempDir(), clock)
	url, counts := pathProvider(t, func(path, id string, attempt int) int {
		if path == "/second" && id == "m2" && attempt == 1 {
			return http.StatusServiceUnavailable
		}
		return 0
	})
	appendCalls(t, s, 2, nil)
	d := deliverer(s, twoRequests{url}, clock)
	d.Concurrency = 1
	round(t, d)
	retries, err := s.DueRetries(ctx, "ws/Hook", clock.Now().Add(time.Hour), 10)
	if err != nil || len(retries) != 1 || retries[0].Seq != 2 || !strings.Contains(retries[0].Error, "request 2 of 2") {
		t.Fatalf("retries = %+v, %v; want m2's, naming its second request", retries, err)
	}
	clock.Advance(time.Hour)
	round(t, d)
	if got, want := stats(t, s), (store.DeliveryStats{Cursor: 2, Delivered: 2}); got != want {
		t.Errorf("stats = %+v, want %+v", got, want)
	}
	if got := counts(); got["/first"] != 3 || got["/second"] != 3 {
		t.Errorf("requests = %v, want each path 3 times (m1 once, m2 twice)", got)
	}
}

// strictBatch batches like batched, but cannot convert an event whose body
// says "bad", so a batch holding one fails to convert as a whole.
type strictBatch struct{ batched }

func (b strictBatch) Convert(ev destination.Event) ([]destination.Request, error) {
	if strings.Contains(string(ev.Body), "bad") {
		return nil, fmt.Errorf("cannot convert: %w", destination.ErrPermanent)
	}
	return b.batched.Convert(ev)
}

func (b strictBatch) ConvertBatch(evs []destination.Event) ([]destination.Request, error) {
	for _, ev := range evs {
		if _, err := b.Convert(ev); err != nil {
			return nil, err
		}
	}
	return b.batched.ConvertBatch(evs)
}

// An event a batch converter cannot convert fails alone: the others of its
// batch are delivered one by one.
func TestABadEventDoesNotFailItsBatch(t *testing.T) {
	clock := newClock()
	s := openStore(t, t.TempDir(), clock)
	p := newProvider(t, ok)
	appendCalls(t, s, 3, map[int]string{2: `"traits":{"note":"bad"}`})
	d := deliverer(s, strictBatch{batched{post{p.URL}}}, clock)
	round(t, d)
	if got := p.received(); !slices.Equal(got, []string{"m1", "m3"}) {
		t.Errorf("delivered %v, want m1 and m3", got)
	}
	dl, err := s.DeadLetters(ctx, "ws/Hook", 0, 10)
	if err != nil || len(dl) != 1 || dl[0].Seq != 2 || !strings.Contains(dl[0].Error, "cannot convert") {
		t.Errorf("dead letters = %+v, %v; want m2's conversion error", dl, err)
	}
}
