package server

import "net/http"

// limitConcurrency answers 503 with Retry-After instead of taking more than
// n requests at once: past that, each request only slows the others and
// memory grows, while an SDK that is told to retry loses nothing. Health
// checks are not counted, so that an overloaded server still says it is
// alive.
func limitConcurrency(n int, next http.Handler) http.Handler {
	slots := make(chan struct{}, n)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/health" || r.URL.Path == "/ready" {
			next.ServeHTTP(w, r)
			return
		}
		select {
		case slots <- struct{}{}:
			defer func() { <-slots }()
			next.ServeHTTP(w, r)
		default:
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte(`{"success":false,"code":"overloaded","message":"too many requests in flight; retry shortly"}` + "\n")) //nolint:errcheck
		}
	})
}
