package server

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
)

func TestLimitConcurrency(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{}, 2)
	h := limitConcurrency(2, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		<-release
	}))
	srv := httptest.NewServer(h)
	defer srv.Close()
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			resp, err := http.Post(srv.URL+"/v1/batch", "application/json", nil)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Errorf("a request within the limit got %d", resp.StatusCode)
			}
		})
	}
	<-entered
	<-entered
	resp, err := http.Post(srv.URL+"/v1/batch", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Errorf("over the limit: %d, Retry-After %q; want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	// Health checks still get through when the server is full.
	health := make(chan int, 1)
	go func() {
		resp, err := http.Get(srv.URL + "/health")
		if err != nil {
			health <- 0
			return
		}
		resp.Body.Close()
		health <- resp.StatusCode
	}()
	<-entered // the health check reached the handler past the full limiter
	close(release)
	if code := <-health; code != http.StatusOK {
		t.Errorf("/health while full: %d", code)
	}
	wg.Wait()
}
