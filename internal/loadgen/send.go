package loadgen

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"
)

// newClient sends only to the URL it is given: no proxy from the
// environment, no redirects followed. It holds at most one connection per
// worker: a worker that sends again before the transport has put its last
// connection back in the pool would otherwise dial another, and the run
// would measure connection churn.
func newClient(cfg Config) *http.Client {
	return &http.Client{
		Timeout: cfg.Timeout,
		Transport: &http.Transport{
			Proxy:               nil,
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			TLSHandshakeTimeout: 10 * time.Second,
			MaxIdleConns:        cfg.Concurrency + 4,
			MaxIdleConnsPerHost: cfg.Concurrency + 4,
			MaxConnsPerHost:     cfg.Concurrency,
			IdleConnTimeout:     90 * time.Second,
			// Responses are small; asking for gzip would only add work.
			DisableCompression: true,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// worker holds one worker's reusable buffers.
type worker struct {
	raw   []byte
	out   *bytes.Buffer
	zw    *gzip.Writer
	ts    []byte
	kinds []kind
	last  *requestBody
}

func newWorker(batch int) *worker {
	return &worker{out: new(bytes.Buffer), kinds: make([]kind, batch)}
}

// requestBody tells its worker when the transport is done with the
// buffer: after an early answer (a 413 before the body was read, say) the
// transport may still be reading the body when Do returns.
type requestBody struct {
	bytes.Reader
	closed atomic.Bool
}

func (b *requestBody) Close() error {
	b.closed.Store(true)
	return nil
}

// body builds request first..first+k-1 and returns it with its path.
func (r *runner) body(w *worker, first uint64, k int) (*requestBody, string) {
	if w.last != nil && !w.last.closed.Load() {
		// Still in the transport's hands: leave it those buffers.
		w.raw, w.out = nil, new(bytes.Buffer)
	}
	w.ts = timestamp(w.ts[:0], time.Now())
	path := "/v1/batch"
	if r.cfg.Batch == 1 {
		w.raw, w.kinds[0] = r.traffic.appendMessage(w.raw[:0], first, false, w.ts)
		path = "/v1/" + w.kinds[0].String()
	} else {
		w.raw = r.traffic.appendBatch(w.raw[:0], first, w.kinds[:k], w.ts)
	}
	data := w.raw
	if r.cfg.Gzip {
		// BestSpeed: the server's cost of inflating is about the same at
		// any level, and the generator must not become the bottleneck.
		w.out.Reset()
		if w.zw == nil {
			w.zw, _ = gzip.NewWriterLevel(w.out, gzip.BestSpeed)
		} else {
			w.zw.Reset(w.out)
		}
		w.zw.Write(data) //nolint:errcheck // writes to a bytes.Buffer
		w.zw.Close()     //nolint:errcheck
		data = w.out.Bytes()
	}
	b := &requestBody{}
	b.Reset(data)
	w.last = b
	return b, path
}

// send posts one request and accounts for its answer. due is when an
// open-loop request was scheduled, zero in a closed loop.
func (r *runner) send(ctx context.Context, w *worker, first uint64, k int, due time.Time) {
	body, path := r.body(w, first, k)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.cfg.URL+path, body)
	if err != nil {
		panic(err) // the URL was checked; a bad one here is a bug
	}
	req.ContentLength = int64(body.Len())
	req.SetBasicAuth(r.cfg.WriteKey, "")
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "roster-bench")
	if r.cfg.Gzip {
		req.Header.Set("Content-Encoding", "gzip")
	}
	start := due
	if start.IsZero() {
		start = time.Now()
	}
	resp, err := r.client.Do(req)
	var answer []byte
	if err == nil {
		// Read to the end, so the connection is reused.
		answer, err = io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
	}
	latency := time.Since(start)
	if err != nil && ctx.Err() != nil {
		return // abandoned when the run was stopped: neither answered nor failed
	}
	r.requests.Add(1)
	r.sent.Add(int64(k))
	switch {
	case err != nil:
		r.failed.Add(int64(k))
		r.countError(errorKind(err), err.Error(), 0)
		return
	case resp.StatusCode != http.StatusOK:
		r.failed.Add(int64(k))
		detail := resp.Status + ": " + string(bytes.TrimSpace(answer[:min(len(answer), 300)]))
		r.countError("HTTP "+strconv.Itoa(resp.StatusCode), detail, resp.StatusCode)
		return
	}
	r.hist.record(latency)
	var rejected map[int]bool
	if r.cfg.Batch > 1 {
		rejected = r.rejections(answer, first, k)
	}
	r.acks.addRange(first, k, rejected)
	var byType [numKinds]int64
	for i, kd := range w.kinds[:k] {
		if !rejected[i] {
			byType[kd]++
		}
	}
	for kd, n := range byType {
		r.ackedByType[kd].Add(n)
	}
	r.rejected.Add(int64(len(rejected)))
	r.acked.Add(int64(k - len(rejected)))
	r.windows.record(latency, k-len(rejected))
}

// rejections reads which events of a batch a 200 answer refused:
// Roster lists them by index and messageId ({"rejected":[{"index":3,…}]});
// Segment answers {"success":true} and rejects nothing. An entry that
// names neither a valid index nor one of the batch's messageIds is kept
// under a negative key, so it still counts as rejected.
func (r *runner) rejections(answer []byte, first uint64, k int) map[int]bool {
	if !bytes.Contains(answer, []byte(`"rejected"`)) {
		return nil
	}
	var a struct {
		Rejected []struct {
			Index     *int   `json:"index"`
			MessageID string `json:"messageId"`
		} `json:"rejected"`
	}
	if json.Unmarshal(answer, &a) != nil || len(a.Rejected) == 0 {
		return nil
	}
	m := make(map[int]bool, len(a.Rejected))
	for j, rej := range a.Rejected {
		i := -1 - j
		if rej.Index != nil && *rej.Index >= 0 && *rej.Index < k {
			i = *rej.Index
		} else if n, ok := r.traffic.number(rej.MessageID); ok && n >= first && n < first+uint64(k) {
			i = int(n - first)
		}
		m[i] = true
	}
	return m
}

// errorKind names a failed request's error for the report.
func errorKind(err error) string {
	var timeout interface{ Timeout() bool }
	switch {
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &timeout) && timeout.Timeout():
		return "timeout"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return "connection reset"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed"
	}
	return "other error"
}
