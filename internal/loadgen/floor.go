package loadgen

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// Floor is an HTTP server in this process that reads each request's body
// and answers {"success":true}: the least any endpoint must do for the
// same traffic. The same generator against it and against the endpoint
// gives a ratio that means the same on a laptop and on a big server.
type Floor struct {
	URL string
	srv *http.Server
}

var floorAnswer = []byte(`{"success":true}` + "\n")

// StartFloor serves the floor on a free port of 127.0.0.1, never on
// another interface.
func StartFloor() (*Floor, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("floor: %w", err)
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body) //nolint:errcheck // the body is read only to be fair to the endpoint
			w.Header().Set("Content-Type", "application/json")
			w.Write(floorAnswer) //nolint:errcheck
		}),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       time.Minute,
	}
	go srv.Serve(ln) //nolint:errcheck // returns ErrServerClosed on Close
	return &Floor{URL: "http://" + ln.Addr().String(), srv: srv}, nil
}

// Close stops the floor, waiting at most a few seconds for requests in
// flight.
func (f *Floor) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := f.srv.Shutdown(ctx); err != nil {
		return f.srv.Close()
	}
	return nil
}
