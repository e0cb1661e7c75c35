package destination_test

import (
	"encoding/json"
	"net/http"
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
