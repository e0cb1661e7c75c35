package destination

import (
	"net/http"
	"testing"
	"time"
)

func TestBackoffGrowsWithJitterAndHonoursRetryAfter(t *testing.T) {
	p := Policy{Base: time.Second, Max: time.Minute, Attempts: 10}
	for attempts, want := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 7: time.Minute, 30: time.Minute} {
		seen := map[time.Duration]bool{}
		for range 50 {
			d := p.Backoff(attempts, 0)
			if d < want/2 || d > want {
				t.Fatalf("Backoff(%d) = %v, want within [%v, %v]", attempts, d, want/2, want)
			}
			seen[d] = true
		}
		if len(seen) < 2 {
			t.Errorf("Backoff(%d) has no jitter", attempts)
		}
	}
	if d := p.Backoff(1, 90*time.Second); d != 90*time.Second {
		t.Errorf("Backoff with Retry-After 90s = %v", d)
	}
}

func TestClassify(t *testing.T) {
	for status, want := range map[int]Verdict{200: Delivered, 202: Delivered, 204: Delivered, 400: Permanent, 401: Permanent,
		403: Permanent, 404: Permanent, 413: Permanent, 302: Permanent, 408: Retry, 429: Retry, 500: Retry, 502: Retry, 503: Retry} {
		if got := Classify(&http.Response{StatusCode: status}); got != want {
			t.Errorf("Classify(%d) = %v, want %v", status, got, want)
		}
	}
	if Classify(nil) != Retry {
		t.Error("a network error is not retried")
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	for v, want := range map[string]time.Duration{
		"":                              0,
		"7":                             7 * time.Second,
		"-1":                            0,
		"soon":                          0,
		"Wed, 01 May 2024 12:00:30 GMT": 30 * time.Second,
		"Wed, 01 May 2024 11:00:00 GMT": 0,
	} {
		h := http.Header{}
		if v != "" {
			h.Set("Retry-After", v)
		}
		if got := RetryAfter(h, now); got != want {
			t.Errorf("RetryAfter(%q) = %v, want %v", v, got, want)
		}
	}
}
