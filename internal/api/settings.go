package api

import (
	"crypto/rand"
	"encoding/hex"
	"math"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"roster/internal/store"
)

// ProfileSettings are a workspace's Profile API settings.
type ProfileSettings struct {
	// IDTypes are the external id types users are looked up by and
	// listed under; nil means DefaultIDTypes.
	IDTypes []string
	// RateLimit is how many requests a second one access token may make;
	// 0 means no limit.
	RateLimit float64
}

// DefaultIDTypes are what Segment's identity settings turn on by default.
var DefaultIDTypes = []string{store.IDUserID, store.IDAnonymousID, store.IDEmail}

// WithProfileSettings sets each workspace's Profile API settings; a
// workspace not in the map gets the defaults. Call it before Register.
func (h *Handler) WithProfileSettings(settings map[string]ProfileSettings) *Handler {
	h.settings = settings
	h.limiter = newRateLimiter(time.Now)
	return h
}

func (h *Handler) idTypes(ws string) []string {
	if s, ok := h.settings[ws]; ok && len(s.IDTypes) > 0 {
		return s.IDTypes
	}
	return DefaultIDTypes
}

// userIDType reports whether users of ws are looked up by idType.
func (h *Handler) userIDType(ws, idType string) bool {
	return slices.Contains(h.idTypes(ws), idType)
}

// limited answers 429 with Retry-After when the token has used up its
// rate; it is called after the token was found valid for ws.
func (h *Handler) limited(w http.ResponseWriter, ws, token string) bool {
	s, ok := h.settings[ws]
	if !ok || s.RateLimit <= 0 || h.limiter == nil {
		return false
	}
	wait := h.limiter.take(token, s.RateLimit)
	if wait <= 0 {
		return false
	}
	w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
	writeError(w, http.StatusTooManyRequests, "too_many_requests", "this access token made more than "+strconv.FormatFloat(s.RateLimit, 'f', -1, 64)+" requests a second")
	return true
}

// rateLimiter is a token bucket per access token, holding one second of
// requests, so that a client may burst up to its rate and then keep it.
type rateLimiter struct {
	now     func() time.Time
	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

func newRateLimiter(now func() time.Time) *rateLimiter {
	return &rateLimiter{now: now, buckets: map[string]*bucket{}}
}

// take spends one request of key's bucket, which refills at rate a
// second; it returns 0, or how long until a request is allowed again.
func (l *rateLimiter) take(key string, rate float64) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	b, ok := l.buckets[key]
	if !ok {
		b = &bucket{tokens: rate, at: now}
		l.buckets[key] = b
	}
	b.tokens = min(rate, b.tokens+now.Sub(b.at).Seconds()*rate)
	b.at = now
	if b.tokens >= 1 {
		b.tokens--
		return 0
	}
	return time.Duration((1 - b.tokens) / rate * float64(time.Second))
}

// withRequestID gives every answer a Request-Id header, as Segment's
// Profile API does, so that a client can quote the request it means.
func withRequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Request-Id", newRequestID())
		next.ServeHTTP(w, r)
	})
}

func newRequestID() string {
	var b [16]byte
	rand.Read(b[:]) //nolint:errcheck // crypto/rand.Read never fails
	return hex.EncodeToString(b[:])
}
