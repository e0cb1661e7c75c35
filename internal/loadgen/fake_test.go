package loadgen

import (
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	fakeKey   = "wk_fake"
	fakeToken = "tok_fake"
)

// fake is a Segment-compatible endpoint that records what it receives and
// serves Roster's events listing over it, with knobs to misbehave.
type fake struct {
	t   *testing.T
	URL string

	// Behaviour, set before the run.
	rejectFirst bool          // reject the first message of every batch (200 with a rejected list)
	failEvery   int           // answer 503 to every n-th request…
	storeFailed bool          // …after storing it anyway (the answer is lost, the events are not)
	delay       time.Duration // before answering a POST
	hide        string        // a messageId the listing leaves out
	double      string        // a messageId the listing shows twice
	lagPolls    int           // the processing route reports events behind this many times

	mu         sync.Mutex
	stored     []stored // seq is the index + 1
	batchSizes []int
	paths      map[string]int
	gzipped    int
	posts      int
	arrivals   []time.Time
	conns      int // connections opened
}

type stored struct{ id, typ string }

func newFake(t *testing.T) *fake {
	f := &fake{t: t, paths: map[string]int{}}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(f.serve))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			f.mu.Lock()
			f.conns++
			f.mu.Unlock()
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	f.URL = srv.URL
	return f
}

// processing reports the profile cursor lagPolls events behind the head,
// one event less each poll.
func (f *fake) processing(w http.ResponseWriter) {
	f.mu.Lock()
	head := int64(len(f.stored))
	behind := min(int64(f.lagPolls), head)
	f.lagPolls = max(0, f.lagPolls-1)
	f.mu.Unlock()
	fmt.Fprintf(w, `{"head":%d,"cursor":%d,"behind":%d}`, head, head-behind, behind)
}

// seed stores n events of another sender before the run.
func (f *fake) seed(n int) {
	for i := range n {
		f.stored = append(f.stored, stored{fmt.Sprintf("other-%d", i), "track"})
	}
}

func (f *fake) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet && r.URL.Path == "/v1/workspaces/default/events" {
		f.list(w, r)
		return
	}
	if r.Method == http.MethodGet && r.URL.Path == "/v1/workspaces/default/processing" {
		f.processing(w)
		return
	}
	if user, _, _ := r.BasicAuth(); user != fakeKey {
		http.Error(w, `{"success":false,"code":"unauthorized"}`, http.StatusUnauthorized)
		return
	}
	body := io.Reader(r.Body)
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			f.t.Errorf("gzip: %v", err)
			http.Error(w, "bad gzip", http.StatusBadRequest)
			return
		}
		body = zr
	}
	data, err := io.ReadAll(body)
	if err != nil {
		f.t.Errorf("read body: %v", err)
		return
	}
	var msgs []map[string]any
	if r.URL.Path == "/v1/batch" {
		var b struct {
			Batch  []map[string]any `json:"batch"`
			SentAt string           `json:"sentAt"`
		}
		if err := json.Unmarshal(data, &b); err != nil || b.SentAt == "" {
			f.t.Errorf("batch body: %v: %.200s", err, data)
		}
		msgs = b.Batch
	} else {
		var m map[string]any
		if err := json.Unmarshal(data, &m); err != nil {
			f.t.Errorf("single body: %v: %.200s", err, data)
		}
		m["type"] = strings.TrimPrefix(r.URL.Path, "/v1/")
		msgs = []map[string]any{m}
	}
	for _, m := range msgs {
		checkMessage(f.t, m)
	}
	time.Sleep(f.delay)

	f.mu.Lock()
	defer f.mu.Unlock()
	f.posts++
	f.arrivals = append(f.arrivals, time.Now())
	f.paths[r.URL.Path]++
	f.batchSizes = append(f.batchSizes, len(msgs))
	if r.Header.Get("Content-Encoding") == "gzip" {
		f.gzipped++
	}
	failed := f.failEvery > 0 && f.posts%f.failEvery == 0
	var rejected []map[string]any
	for i, m := range msgs {
		if f.rejectFirst && i == 0 && len(msgs) > 1 {
			rejected = append(rejected, map[string]any{"index": i, "messageId": m["messageId"], "code": "invalid"})
			continue
		}
		if !failed || f.storeFailed {
			f.stored = append(f.stored, stored{m["messageId"].(string), m["type"].(string)})
		}
	}
	switch {
	case failed:
		http.Error(w, `{"success":false,"code":"unavailable"}`, http.StatusServiceUnavailable)
	case rejected != nil:
		json.NewEncoder(w).Encode(map[string]any{"success": true, "accepted": len(msgs) - len(rejected), "rejected": rejected}) //nolint:errcheck
	default:
		io.WriteString(w, `{"success":true}`) //nolint:errcheck
	}
}

// checkMessage fails the test on a message Roster would refuse.
func checkMessage(t *testing.T, m map[string]any) {
	t.Helper()
	str := func(k string) string { s, _ := m[k].(string); return s }
	_, traits := m["traits"].(map[string]any)
	_, ctx := m["context"].(map[string]any)
	ok := str("messageId") != "" && str("userId") != "" && str("timestamp") != "" && ctx
	switch str("type") {
	case "group":
		ok = ok && str("groupId") != "" && traits
	case "identify":
		ok = ok && traits
	case "track":
		_, props := m["properties"].(map[string]any)
		ok = ok && str("event") != "" && props
	default:
		ok = false
	}
	if !ok {
		t.Errorf("invalid message: %v", m)
	}
}

// list is GET /v1/workspaces/default/events: newest first, 200 at most a
// page, next is the seq to read below.
func (f *fake) list(w http.ResponseWriter, r *http.Request) {
	if user, _, _ := r.BasicAuth(); user != fakeToken {
		http.Error(w, `{"error":{"code":"unauthorized"}}`, http.StatusUnauthorized)
		return
	}
	limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
	f.mu.Lock()
	before := len(f.stored) + 1
	if n, err := strconv.Atoi(r.URL.Query().Get("next")); err == nil {
		before = n
	}
	type ev struct {
		Seq       int    `json:"seq"`
		MessageID string `json:"messageId"`
		Type      string `json:"type"`
	}
	var data []ev
	for seq := before - 1; seq >= 1 && len(data) < limit; seq-- {
		e := f.stored[seq-1]
		if e.id == f.hide {
			continue
		}
		data = append(data, ev{seq, e.id, e.typ})
		if e.id == f.double && len(data) < limit {
			data = append(data, ev{seq, e.id, e.typ})
		}
	}
	f.mu.Unlock()
	cursor := map[string]any{"url": r.URL.Path, "has_more": false, "next": ""}
	if len(data) > 0 && data[len(data)-1].Seq > 1 {
		cursor["has_more"], cursor["next"] = true, strconv.Itoa(data[len(data)-1].Seq)
	}
	json.NewEncoder(w).Encode(map[string]any{"data": data, "cursor": cursor}) //nolint:errcheck
}

// ids are the stored messageIds with their count.
func (f *fake) ids() map[string]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	m := map[string]int{}
	for _, e := range f.stored {
		m[e.id]++
	}
	return m
}
