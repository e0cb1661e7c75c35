package server_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"roster/internal/server"
	"roster/internal/store"
	"roster/internal/store/postgres"
	"roster/internal/store/postgres/pgtest"
	"roster/internal/store/storetest"
)

// call is one request of a scenario.
type call struct{ path, body string }

// scenario is the traffic of the multi-node test: one stream of calls per
// user, each stream in order (as one client sends them), the streams at
// once. Group traits are written by one stream per group, so that their
// history does not depend on how streams interleave.
func scenario() [][]call {
	t0 := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	var streams [][]call
	for i := range 12 {
		g := fmt.Sprintf("g%d", i%4)
		n := 0
		at := func() string { n++; return t0.Add(time.Duration(i*100+n) * time.Second).Format(time.RFC3339) }
		msg := func(kind string) string { return fmt.Sprintf("s%d-%s-%d", i, kind, n) }
		var s []call
		add := func(path, kind, body string) {
			ts := at()
			s = append(s, call{path, fmt.Sprintf(`{"messageId":%q,"timestamp":%q,%s}`, msg(kind), ts, body)})
		}
		add("/v1/group", "join", fmt.Sprintf(`"anonymousId":"a%d","groupId":%q`, i, g))
		add("/v1/identify", "identify", fmt.Sprintf(`"anonymousId":"a%d","userId":"u%d","traits":{"name":"User %d","email":"u%d@example.com"}`, i, i, i, i))
		add("/v1/track", "track", fmt.Sprintf(`"userId":"u%d","event":"Report Built","context":{"groupId":%q}`, i, g))
		if i < 4 { // the group's owner writes its traits
			add("/v1/group", "traits", fmt.Sprintf(`"userId":"u%d","groupId":%q,"traits":{"name":"Group %d","plan":"trial","employees":10}`, i, g, i))
			add("/v1/group", "traits", fmt.Sprintf(`"userId":"u%d","groupId":%q,"traits":{"plan":"pro","Employees":20,"address":{"city":"Oslo"}}`, i, g))
			add("/v1/group", "traits", fmt.Sprintf(`"userId":"u%d","groupId":%q,"traits":{"plan":null}`, i, g))
		}
		if i == 5 {
			add("/v1/alias", "alias", `"userId":"u5-renamed","previousId":"u5"`)
		}
		add("/v1/group", "second", fmt.Sprintf(`"userId":"u%d","groupId":"g%d"`, i, (i+1)%4))
		// The first call again, with its messageId: stored once wherever it lands.
		s = append(s, call{"/v1/group", s[0].body})
		streams = append(streams, s)
	}
	return streams
}

var scenarioIDs = func() []storetest.ID {
	var ids []storetest.ID
	for i := range 12 {
		ids = append(ids, storetest.ID{Type: store.IDAnonymousID, ID: fmt.Sprintf("a%d", i)}, storetest.ID{Type: store.IDUserID, ID: fmt.Sprintf("u%d", i)})
	}
	return append(ids, storetest.ID{Type: store.IDUserID, ID: "u5-renamed"})
}()

// send plays the streams at once, stream i to nodes[i % len(nodes)], its
// repeated last call to the next node.
func send(t *testing.T, nodes []*running, streams [][]call) {
	var wg sync.WaitGroup
	for i, s := range streams {
		wg.Go(func() {
			for k, c := range s {
				node := nodes[i%len(nodes)]
				if k == len(s)-1 {
					node = nodes[(i+1)%len(nodes)]
				}
				if code, body := node.do(t, http.MethodPost, c.path, "wk_pg", c.body); code != http.StatusOK {
					t.Errorf("%s %s: %d %s", c.path, c.body, code, body)
				}
			}
		})
	}
	wg.Wait()
}

// settled waits until the profiles hold the whole log, and returns the
// profile state with log positions replaced by messageIds: two databases
// that got the same calls in another interleaving number them otherwise.
func settled(t *testing.T, url string) (string, int) {
	t.Helper()
	s, err := postgres.Open(context.Background(), url, store.Options{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	msgs := map[string]string{}
	var last int64
	for {
		evs, err := s.Read(ctx, last, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) == 0 {
			break
		}
		for _, e := range evs {
			msgs[fmt.Sprint(e.Seq)] = e.MessageID
		}
		last = evs[len(evs)-1].Seq
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := s.Cursor(ctx, store.ProfileCursor)
		if err != nil {
			t.Fatal(err)
		}
		if c == last {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("profiles at %d of %d after 20s", c, last)
		}
		time.Sleep(50 * time.Millisecond)
	}
	dump := storetest.Dump(t, s, "default", scenarioIDs)
	dump = regexp.MustCompile(`seq=(\d+)`).ReplaceAllStringFunc(dump, func(m string) string { return "msg=" + msgs[m[4:]] })
	dump = regexp.MustCompile(`events \[([0-9 ]*)\]`).ReplaceAllStringFunc(dump, func(m string) string {
		var ids []string
		for _, seq := range strings.Fields(m[len("events [") : len(m)-1]) {
			ids = append(ids, msgs[seq])
		}
		slices.Sort(ids)
		return "events " + strings.Join(ids, " ")
	})
	return dump, len(msgs)
}

func startOn(t *testing.T, url string) *running {
	return start(t, server.Options{DataDir: t.TempDir(), DatabaseURL: url, WriteKey: "wk_pg", AccessToken: "tok_pg"})
}

// Three nodes on one database, each getting part of the traffic (and
// some of it twice), build the profiles one node builds from the same
// calls; every node reads them.
func TestThreeNodesOnPostgresEqualOneNode(t *testing.T) {
	streams := scenario()
	total := 0
	for _, s := range streams {
		total += len(s) - 1
	}

	multi := pgtest.FreshSchema(t)
	nodes := []*running{startOn(t, multi), startOn(t, multi), startOn(t, multi)}
	send(t, nodes, streams)
	got, stored := settled(t, multi)
	if stored != total {
		t.Errorf("three nodes stored %d events, want %d (each once)", stored, total)
	}

	single := pgtest.FreshSchema(t)
	send(t, []*running{startOn(t, single)}, streams)
	want, _ := settled(t, single)
	if got != want {
		t.Errorf("three nodes:\n%s\none node:\n%s", got, want)
	}
	if !strings.Contains(want, `trait plan name="plan" value=null`) || !strings.Contains(want, "identity user_id:u5-renamed →") {
		t.Errorf("the scenario did not do what it means to:\n%s", want)
	}

	// Every node serves the shared profiles.
	path := "/v1/spaces/default/collections/accounts/profiles/group_id:g1/traits"
	first := nodes[0].eventually(t, path, "tok_pg")
	for _, n := range nodes[1:] {
		if b := n.eventually(t, path, "tok_pg"); string(b) != string(first) {
			t.Errorf("nodes disagree on g1: %s vs %s", b, first)
		}
	}
}

// With the database unreachable, ingestion answers 503 with Retry-After
// (SDKs retry) instead of acknowledging, /ready says so, and both recover
// by themselves; nothing acknowledged is lost or stored twice.
func TestPostgresOutageAnswers503AndRecovers(t *testing.T) {
	url, proxy := pgtest.ThroughProxy(t)
	r := startOn(t, url)

	var mu sync.Mutex
	acked := map[string]bool{}
	retryAfter := ""
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				var b strings.Builder
				var ids []string
				b.WriteString(`{"batch":[`)
				for k := range 20 {
					id := fmt.Sprintf("w%d-%d-%d", w, n, k)
					ids = append(ids, id)
					if k > 0 {
						b.WriteByte(',')
					}
					fmt.Fprintf(&b, `{"type":"group","messageId":%q,"userId":"u%d","groupId":"g%d","traits":{"n":%d}}`, id, k, n%10, n)
				}
				b.WriteString(`]}`)
				req, _ := http.NewRequest(http.MethodPost, r.base+"/v1/batch", strings.NewReader(b.String()))
				req.SetBasicAuth("wk_pg", "")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Errorf("batch: %v", err)
					return
				}
				io.Copy(io.Discard, resp.Body) //nolint:errcheck
				resp.Body.Close()
				mu.Lock()
				switch resp.StatusCode {
				case http.StatusOK:
					for _, id := range ids {
						acked[id] = true
					}
				case http.StatusServiceUnavailable:
					retryAfter = resp.Header.Get("Retry-After")
				default:
					t.Errorf("batch: status %d", resp.StatusCode)
				}
				mu.Unlock()
				time.Sleep(5 * time.Millisecond)
			}
		})
	}
	time.Sleep(500 * time.Millisecond)
	proxy.Refuse()
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, _ := r.do(t, http.MethodGet, "/ready", "", "")
		mu.Lock()
		saw503 := retryAfter != ""
		mu.Unlock()
		if code == http.StatusServiceUnavailable && saw503 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("during the outage /ready answers %d and ingestion 503 seen: %v", code, saw503)
		}
		time.Sleep(50 * time.Millisecond)
	}
	proxy.Restore()
	deadline = time.Now().Add(15 * time.Second)
	for {
		code, _ := r.do(t, http.MethodGet, "/ready", "", "")
		if code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/ready still %d 15s after the database came back", code)
		}
		time.Sleep(50 * time.Millisecond)
	}
	mu.Lock()
	before := len(acked)
	mu.Unlock()
	time.Sleep(500 * time.Millisecond) // ingestion acknowledges again
	close(stop)
	wg.Wait()
	if len(acked) <= before {
		t.Errorf("nothing acknowledged after the database came back (%d before, %d after)", before, len(acked))
	}
	if retryAfter == "" {
		t.Error("no 503 with Retry-After during the outage")
	}

	s, err := postgres.Open(context.Background(), url, store.Options{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	seen := map[string]int{}
	var last int64
	for {
		evs, err := s.Read(context.Background(), last, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) == 0 {
			break
		}
		for _, e := range evs {
			seen[e.MessageID]++
		}
		last = evs[len(evs)-1].Seq
	}
	for id := range acked {
		if seen[id] != 1 {
			t.Errorf("acknowledged %s stored %d times", id, seen[id])
		}
	}
	t.Logf("%d events acknowledged across the outage, %d stored", len(acked), len(seen))
}

// The node applying the log stops; another takes its place and applies
// what arrives after.
func TestAnotherNodeTakesOverProcessing(t *testing.T) {
	db := pgtest.FreshSchema(t)
	a := startOn(t, db)
	group := func(n *running, id string) {
		t.Helper()
		body := fmt.Sprintf(`{"userId":"u1","groupId":%q,"traits":{"name":%q}}`, id, id)
		if code, b := n.do(t, http.MethodPost, "/v1/group", "wk_pg", body); code != http.StatusOK {
			t.Fatalf("group call: %d %s", code, b)
		}
	}
	traits := func(id string) string {
		return "/v1/spaces/default/collections/accounts/profiles/group_id:" + id + "/traits"
	}
	group(a, "before")
	a.eventually(t, traits("before"), "tok_pg") // a holds the processing lease
	b := startOn(t, db)
	group(b, "during")
	b.eventually(t, traits("during"), "tok_pg")
	if err := a.stop(t); err != nil {
		t.Fatal(err)
	}
	group(b, "after")
	b.eventually(t, traits("after"), "tok_pg")
}
