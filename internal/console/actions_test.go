package console_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestPlaygroundSendsThroughIngestion(t *testing.T) {
	e := start(t, "")
	e.signIn()
	e.send("/v1/group", `{"userId":"u1","groupId":"acme","traits":{"plan":"trial","name":"Acme"}}`)
	payload := `{"type":"group","userId":"u1","groupId":"acme","traits":{"plan":"enterprise","employees":"many"},
		"timestamp":"2030-03-01T10:00:05Z","sentAt":"2030-03-01T10:00:00Z"}`
	r := e.post("/console/playground", url.Values{"csrf": {e.csrf()}, "source": {"default"}, "payload": {payload}, "groupId": {"acme"}})
	if r.status != http.StatusOK {
		t.Fatalf("send = %d\n%s", r.status, r.body)
	}
	for _, want := range []string{
		"Answer: HTTP 200", `{&#34;success&#34;:true}`,
		// a client clock 5 s behind its timestamp: corrected to receivedAt + 5 s.
		"timestamp (corrected)",
		"employees should be a number",
		`<tr class="change-changed"><td>plan</td><td><code>&#34;trial&#34;</code></td><td><code>&#34;enterprise&#34;</code></td><td>changed</td></tr>`,
		`<tr class="change-added"><td>employees</td>`,
		`<tr class="change-kept"><td>name</td>`,
		`value="acme"`, // the form keeps what was typed
	} {
		if !strings.Contains(r.body, want) {
			t.Errorf("the result lacks %s\n%s", want, r.body[strings.Index(r.body, "<main>"):])
		}
	}
	ev := latestEvent(t, e)
	if ev.Source != "default" || !strings.HasPrefix(ev.MessageID, "console-") {
		t.Errorf("the stored call = %+v, want it from source default with a generated messageId", ev)
	}
	if d := ev.Timestamp.Sub(ev.ReceivedAt); d != 5*time.Second {
		t.Errorf("corrected timestamp %v is %v from receivedAt, want 5 s after", ev.Timestamp, d)
	}
	if !strings.Contains(r.body, ev.Timestamp.UTC().Format("2006-01-02 15:04:05.000")) {
		t.Errorf("the page does not show the corrected timestamp %v", ev.Timestamp)
	}

	bad := e.post("/console/playground", url.Values{"csrf": {e.csrf()}, "source": {"default"},
		"payload": {`{"type":"group","userId":"u1","traits":{"address":"12 Main St"}}`}})
	if !strings.Contains(bad.body, "Answer: HTTP 400") || !strings.Contains(bad.body, "groupId: is required") {
		t.Errorf("a call without groupId does not show the server's error:\n%s", bad.body)
	}
	warned := e.post("/console/playground", url.Values{"csrf": {e.csrf()}, "source": {"default"},
		"payload": {`{"type":"group","userId":"u1","groupId":"acme","traits":{"address":"12 Main St"}}`}})
	if !strings.Contains(warned.body, "Answer: HTTP 200") || !strings.Contains(warned.body, "address") || !strings.Contains(warned.body, `class="warn"`) {
		t.Errorf("an address that is not an object shows no warning")
	}
	if r := e.post("/console/playground", url.Values{"csrf": {e.csrf()}, "source": {"nope"}, "payload": {payload}}); r.status != http.StatusBadRequest {
		t.Errorf("an unknown source = %d, want 400", r.status)
	}
}

type storedEvent struct {
	Source     string    `json:"source"`
	MessageID  string    `json:"messageId"`
	Timestamp  time.Time `json:"timestamp"`
	ReceivedAt time.Time `json:"receivedAt"`
	Type       string    `json:"type"`
}

func latestEvent(t *testing.T, e *env) storedEvent {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, e.base+"/v1/workspaces/default/events?limit=1", nil)
	req.SetBasicAuth(token, "")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out struct{ Data []storedEvent }
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil || len(out.Data) != 1 {
		t.Fatalf("events: %v %v", err, out)
	}
	return out.Data[0]
}

func TestQuarantineReplayKeepsTheCopy(t *testing.T) {
	e := start(t, "")
	e.signIn()
	if r := e.send("/v1/group", `{"userId":"u1","traits":{"plan":"pro"}}`); r.status != http.StatusBadRequest {
		t.Fatalf("the bad call = %d", r.status)
	}
	page := e.get("/console/quarantine").body
	if !strings.Contains(page, "groupId: is required for group calls") || !strings.Contains(page, `action="/console/quarantine/1/replay"`) {
		t.Fatalf("the quarantine page lacks the message or its reason:\n%s", page)
	}
	if !strings.Contains(e.get("/console/").body, `<a href="/console/quarantine">1</a>`) {
		t.Errorf("the overview does not count the quarantined message")
	}
	// A replay that ingestion refuses again changes nothing and says why.
	again := e.post("/console/quarantine/1/replay", url.Values{"csrf": {e.csrf()}, "raw": {`{"type":"group","userId":"u1"}`}})
	if again.status != http.StatusUnprocessableEntity || !strings.Contains(again.body, "groupId: is required") {
		t.Errorf("a failed replay = %d", again.status)
	}
	if !strings.Contains(again.body, "(as you edited it)") {
		t.Errorf("a failed replay loses the edit")
	}
	fixed := `{"type":"group","userId":"u1","groupId":"fixed","traits":{"plan":"pro"}}`
	r := e.post("/console/quarantine/1/replay", url.Values{"csrf": {e.csrf()}, "raw": {fixed}})
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/console/quarantine?replayed=1" {
		t.Fatalf("replay = %d %q\n%s", r.status, r.header.Get("Location"), r.body)
	}
	e.waitProcessed()
	page = e.get("/console/quarantine?replayed=1").body
	if !strings.Contains(page, `class="badge replayed"`) || !strings.Contains(page, "groupId: is required for group calls") {
		t.Errorf("the quarantined copy is not kept and marked replayed")
	}
	if !strings.Contains(e.getUntil("/console/accounts/fixed", "&#34;pro&#34;").body, "&#34;pro&#34;") {
		t.Errorf("the replayed call did not reach the profile")
	}
	// Waiting: the failed replay's own copy (ingestion keeps what it
	// refuses), not the replayed message.
	if !strings.Contains(e.get("/console/").body, `<a href="/console/quarantine">1</a>`) {
		t.Errorf("the overview counts the replayed message as waiting")
	}
	if r := e.post("/console/quarantine/99/replay", url.Values{"csrf": {e.csrf()}, "raw": {fixed}}); r.status != http.StatusNotFound {
		t.Errorf("replaying an unknown id = %d", r.status)
	}
	untyped := e.post("/console/quarantine/1/replay", url.Values{"csrf": {e.csrf()}, "raw": {`{"userId":"u1","groupId":"g"}`}})
	if !strings.Contains(untyped.body, `needs a &#34;type&#34;`) {
		t.Errorf("a message without type is not explained")
	}
}

// sseEvent is one Server-Sent Event.
type sseEvent struct {
	name string
	data string
}

func readSSE(t *testing.T, body io.Reader, out chan<- sseEvent) {
	sc := bufio.NewScanner(body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var ev sseEvent
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if ev.name != "" {
				out <- ev
			}
			ev = sseEvent{}
		case strings.HasPrefix(line, "event: "):
			ev.name = line[len("event: "):]
		case strings.HasPrefix(line, "data: "):
			ev.data = line[len("data: "):]
		}
	}
	close(out)
}

func TestDebuggerStreamsCallsAsTheyArrive(t *testing.T) {
	e := start(t, "")
	e.signIn()
	e.send("/v1/track", `{"userId":"u1","event":"Before Open","messageId":"m-before"}`)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.base+"/console/debugger/stream", nil)
	res, err := e.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("stream = %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	events := make(chan sseEvent, 100)
	go readSSE(t, res.Body, events)
	next := func() sseEvent {
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatal("the stream ended")
			}
			return ev
		case <-time.After(10 * time.Second):
			t.Fatal("no event from the stream")
		}
		return sseEvent{}
	}
	if ev := next(); ev.name != "message" || !strings.Contains(ev.data, "m-before") {
		t.Fatalf("first event = %+v, want the backlog", ev)
	}
	if ev := next(); ev.name != "ready" {
		t.Fatalf("after the backlog = %+v, want ready", ev)
	}
	e.send("/v1/group", `{"userId":"u1","groupId":"acme","messageId":"m-live","traits":{"employees":"many"}}`)
	e.send("/v1/group", `{"userId":"u1","messageId":"m-bad"}`)
	live := next()
	var item struct {
		Kind, Type, MessageID, GroupID, Raw string
		Warnings                            []string
	}
	if err := json.Unmarshal([]byte(live.data), &item); err != nil {
		t.Fatal(err)
	}
	if item.Kind != "event" || item.MessageID != "m-live" || item.GroupID != "acme" || len(item.Warnings) != 1 || !strings.Contains(item.Raw, `"employees":"many"`) {
		t.Errorf("live event = %+v", item)
	}
	quarantined := next()
	if !strings.Contains(quarantined.data, `"kind":"quarantined"`) || !strings.Contains(quarantined.data, "groupId: is required") {
		t.Errorf("quarantined message = %s", quarantined.data)
	}
}

func TestDestinationsShowDeadLettersAndRedrive(t *testing.T) {
	provider := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `{"error":"<b>bad</b> payload"}`) //nolint:errcheck
	}))
	defer provider.Close()
	e := start(t, fmt.Sprintf(`workspaces:
  - id: default
    destinations:
      - {name: Hook, type: webhook, settings: {url: "%s/hook"}}
`, provider.URL))
	e.signIn()
	deadline := time.Now().Add(20 * time.Second)
	var page string
	for {
		e.send("/v1/group", `{"userId":"u1","groupId":"acme"}`)
		page = e.get("/console/destinations").body
		if strings.Contains(page, "Re-drive") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no dead letter shown:\n%s", page)
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, want := range []string{"Hook", "webhook", "HTTP 400", `{&#34;error&#34;:&#34;&lt;b&gt;bad&lt;/b&gt; payload&#34;}`, `action="/console/destinations/Hook/redrive"`} {
		if !strings.Contains(page, want) {
			t.Errorf("destinations page lacks %s", want)
		}
	}
	if !strings.Contains(e.get("/console/").body, "dead letters") {
		t.Errorf("the overview does not show the destination's health")
	}
	r := e.post("/console/destinations/Hook/redrive", url.Values{"csrf": {e.csrf()}})
	if r.status != http.StatusSeeOther || !strings.Contains(r.header.Get("Location"), "redriven=") {
		t.Fatalf("redrive = %d %q", r.status, r.header.Get("Location"))
	}
	if !strings.Contains(e.get(r.header.Get("Location")).body, "Re-drove") {
		t.Errorf("the redrive is not reported")
	}
	if r := e.post("/console/destinations/Nope/redrive", url.Values{"csrf": {e.csrf()}}); r.status != http.StatusNotFound {
		t.Errorf("redrive of an unknown destination = %d", r.status)
	}
}

// The stream is not a request the server's read and write timeouts bound.
func TestDebuggerStreamOutlivesServerTimeouts(t *testing.T) {
	e := start(t, "http: {readTimeout: 1s, writeTimeout: 1s}\n")
	e.signIn()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.base+"/console/debugger/stream", nil)
	res, err := e.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	events := make(chan sseEvent, 100)
	go readSSE(t, res.Body, events)
	if ev := <-events; ev.name != "ready" {
		t.Fatalf("first event = %+v", ev)
	}
	time.Sleep(2500 * time.Millisecond)
	e.send("/v1/track", `{"userId":"u1","event":"Late","messageId":"m-late"}`)
	select {
	case ev, ok := <-events:
		if !ok || !strings.Contains(ev.data, "m-late") {
			t.Fatalf("after the timeouts the stream gave %+v (open: %v)", ev, ok)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no event after the server's timeouts passed")
	}
}
