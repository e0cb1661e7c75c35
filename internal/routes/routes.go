// Package routes is how the server's parts add their HTTP routes. The
// server records every pattern, so that a test can hold the OpenAPI
// document to the routes that really exist.
package routes

import (
	"net/http"
	"sync"
)

// Mux is where a package registers its routes (http.ServeMux patterns).
type Mux interface {
	Handle(pattern string, handler http.Handler)
	HandleFunc(pattern string, handler func(http.ResponseWriter, *http.Request))
}

// Recorder registers routes on an http.ServeMux and remembers their
// patterns.
type Recorder struct {
	mux      *http.ServeMux
	mu       sync.Mutex
	patterns []string
}

// NewRecorder registers on mux.
func NewRecorder(mux *http.ServeMux) *Recorder { return &Recorder{mux: mux} }

// Handle implements Mux.
func (r *Recorder) Handle(pattern string, handler http.Handler) {
	r.mu.Lock()
	r.patterns = append(r.patterns, pattern)
	r.mu.Unlock()
	r.mux.Handle(pattern, handler)
}

// HandleFunc implements Mux.
func (r *Recorder) HandleFunc(pattern string, handler func(http.ResponseWriter, *http.Request)) {
	r.Handle(pattern, http.HandlerFunc(handler))
}

// Patterns returns every pattern registered, in order.
func (r *Recorder) Patterns() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.patterns...)
}
