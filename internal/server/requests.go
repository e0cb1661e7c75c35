package server

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"roster/internal/metrics"
)

// observeRequests counts every request by its route pattern and status,
// times it and measures its body, and logs a failed one (failures).
// The route is the mux's pattern, never the path, which may hold a write
// key (/v1/projects/{writeKey}/settings).
func observeRequests(mux *http.ServeMux, m *metrics.Metrics, failures *failureLog, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		body := &countingBody{ReadCloser: r.Body}
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = body
		}
		rec := &metrics.StatusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		took := time.Since(start)
		if rec.Status == 0 {
			rec.Status = http.StatusOK
		}
		route := r.Pattern
		if route == "" {
			// Answered before the mux (the concurrency limit), or by
			// the mux itself (404, 405).
			_, route = mux.Handler(r)
		}
		if route == "" {
			route = "unmatched"
		}
		m.Request(route, rec.Status, took, body.n)
		if rec.Status >= 400 {
			failures.log(r.Method, route, rec.Status, rec.ErrorBody, took)
		}
	})
}

// countingBody counts the bytes a handler read of a request body.
type countingBody struct {
	io.ReadCloser
	n int64
}

func (c *countingBody) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	c.n += int64(n)
	return n, err
}

// failureLog writes one line per failed request with its reason (the
// answer's error code and field), at most perSecond lines a second so
// that a flood of bad requests cannot fill the disk; the next line that
// gets through says how many were left out. A line never holds a request
// body, a path or a credential.
type failureLog struct {
	logger    *slog.Logger
	perSecond int
	now       func() time.Time

	mu         sync.Mutex
	window     time.Time
	inWindow   int
	suppressed int
}

func newFailureLog(logger *slog.Logger) *failureLog {
	return &failureLog{logger: logger, perSecond: 10, now: time.Now}
}

// errorReason is the code (and field) of an error answer, in either of
// Roster's shapes: the tracking API's {"code","field"} and the read API's
// {"error":{"code"}}.
type errorReason struct {
	Code  string `json:"code"`
	Field string `json:"field"`
	Error struct {
		Code string `json:"code"`
	} `json:"error"`
}

func (f *failureLog) log(method, route string, status int, answer []byte, took time.Duration) {
	now := f.now()
	f.mu.Lock()
	if now.Sub(f.window) >= time.Second {
		f.window, f.inWindow = now, 0
	}
	if f.inWindow >= f.perSecond {
		f.suppressed++
		f.mu.Unlock()
		return
	}
	f.inWindow++
	suppressed := f.suppressed
	f.suppressed = 0
	f.mu.Unlock()

	var reason errorReason
	json.Unmarshal(answer, &reason) //nolint:errcheck // an answer that is not JSON has no code
	code := reason.Code
	if code == "" {
		code = reason.Error.Code
	}
	attrs := []any{"method", method, "route", route, "status", status, "code", code, "duration_ms", took.Milliseconds()}
	if reason.Field != "" {
		attrs = append(attrs, "field", reason.Field)
	}
	if suppressed > 0 {
		attrs = append(attrs, "suppressed", suppressed)
	}
	level := slog.LevelInfo
	if status >= 500 {
		level = slog.LevelWarn
	}
	f.logger.Log(context.Background(), level, "request failed", attrs...)
}
