package destination

import (
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"
)

// Policy says when to try a failed delivery again, and when to give up.
type Policy struct {
	// Base is the wait after the first failure; it doubles with every
	// attempt up to Max.
	Base, Max time.Duration
	// Attempts is how many sends an event gets before it becomes a dead
	// letter.
	Attempts int
}

// DefaultPolicy retries for about a day: 1s, 2s, 4s… capped at an hour,
// 30 attempts.
func DefaultPolicy() Policy { return Policy{Base: time.Second, Max: time.Hour, Attempts: 30} }

// Backoff is the wait before attempt number attempts+1: exponential with
// full jitter over its upper half, so that retries of many events spread
// out instead of arriving together, and never shorter than what the
// provider asked for in Retry-After.
func (p Policy) Backoff(attempts int, retryAfter time.Duration) time.Duration {
	d := p.Base
	for i := 1; i < attempts && d < p.Max; i++ {
		d *= 2
	}
	d = min(d, p.Max)
	d = d/2 + rand.N(d/2+1)
	return max(d, retryAfter)
}

// Verdict is what to do after one send.
type Verdict int

// Verdicts.
const (
	Delivered Verdict = iota
	Retry             // network error, timeout, 408, 429 or 5xx
	Permanent         // any other answer: sending again would get it again
)

// Classify judges a provider's answer. A nil response is a network error.
func Classify(resp *http.Response) Verdict {
	if resp == nil {
		return Retry
	}
	return ClassifyStatus(resp.StatusCode)
}

// ClassifyStatus judges an HTTP status.
func ClassifyStatus(status int) Verdict {
	switch {
	case status >= 200 && status < 300:
		return Delivered
	case status == http.StatusRequestTimeout, status == http.StatusTooManyRequests, status >= 500:
		return Retry
	}
	return Permanent
}

// RetryAfter reads a Retry-After header, in seconds or as an HTTP date.
func RetryAfter(h http.Header, now time.Time) time.Duration {
	v := h.Get("Retry-After")
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}
