package api_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"

	"roster/internal/api"
	"roster/internal/auth"
	"roster/internal/ingest"
	"roster/internal/pipeline"
	"roster/internal/store"
	"roster/internal/store/pebble"
)

// What a client written for Segment's Profile API meets, from ingestion
// through the profiles to the API over a real listener.

// serveIngested ingests batch into a fresh Pebble store, applies it, and
// serves the read API with settings.
func serveIngested(t *testing.T, settings map[string]api.ProfileSettings, batch string) *fixture {
	t.Helper()
	ctx := context.Background()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := pebble.Open(ctx, t.TempDir(), store.Options{}, logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	reg := auth.NewRegistry([]store.Source{{Workspace: "acme", Name: "web", WriteKey: keyWeb}},
		[]store.AccessToken{{Workspace: "acme", Name: "ops", Hash: auth.HashToken(tokAcme)}})
	mux := http.NewServeMux()
	ingest.New(ingest.Options{Log: st, Sources: reg, Logger: logger}).Register(mux)
	api.New(st, reg).WithProfileSettings(settings).Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/batch", strings.NewReader(batch))
	req.SetBasicAuth(keyWeb, "")
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("batch: %s", resp.Status)
	}
	if _, err := pipeline.NewProcessor(st, st, logger).CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	return &fixture{url: srv.URL, client: srv.Client(), store: st}
}

const aliceBatch = `{"batch":[
 {"type":"identify","messageId":"i1","userId":"u1","anonymousId":"a1","timestamp":"2024-05-01T10:00:00Z",
  "traits":{"first_name":"Alice","created_at":"2020-01-01T00:00:00Z","email":"alice@example.com"}},
 {"type":"track","messageId":"t-new","userId":"u1","event":"Newest","timestamp":"2024-05-03T10:00:00Z"},
 {"type":"track","messageId":"t-late","userId":"u1","event":"Late","timestamp":"2024-04-01T10:00:00Z"},
 {"type":"track","messageId":"t-mid","userId":"u1","event":"Middle","timestamp":"2024-05-02T10:00:00Z"},
 {"type":"track","messageId":"t-tie","userId":"u1","event":"Tie","timestamp":"2024-05-02T10:00:00Z"}
]}`

// Traits come back as sent, reserved ones included (Segment's example
// returns first_name), and include finds them by any spelling.
func TestTraitsComeBackAsSpelled(t *testing.T) {
	f := serveIngested(t, nil, aliceBatch)
	var tr struct{ Traits map[string]any }
	body := f.getOK(t, users+"user_id:u1/traits?include=first_name,createdAt", &tr)
	if tr.Traits["first_name"] != "Alice" || tr.Traits["created_at"] != "2020-01-01T00:00:00Z" || len(tr.Traits) != 2 {
		t.Errorf("traits = %s, want first_name and created_at as sent", body)
	}
}

// traits.email is an external id, listed and usable in lookups.
func TestEmailIsAnExternalID(t *testing.T) {
	f := serveIngested(t, nil, aliceBatch)
	var tr struct{ Traits map[string]any }
	f.getOK(t, users+"email:alice@example.com/traits", &tr)
	if tr.Traits["first_name"] != "Alice" {
		t.Errorf("traits by email = %v", tr.Traits)
	}
	var ids struct {
		Data []struct{ Type, ID string }
	}
	f.getOK(t, users+"user_id:u1/external_ids", &ids)
	var got []string
	for _, x := range ids.Data {
		got = append(got, x.Type+":"+x.ID)
	}
	if want := []string{"anonymous_id:a1", "email:alice@example.com", "user_id:u1"}; !slices.Equal(got, want) {
		t.Errorf("external ids = %v, want %v", got, want)
	}
}

// A workspace looks users up by the id types it configures; another type
// is a bad request, and is not listed.
func TestIDTypesAreConfiguredPerWorkspace(t *testing.T) {
	f := serveIngested(t, map[string]api.ProfileSettings{"acme": {IDTypes: []string{store.IDUserID}}}, aliceBatch)
	for _, p := range []string{users + "email:alice@example.com/traits", users + "anonymous_id:a1/metadata"} {
		status, _, body := f.get(t, p, basic(tokAcme))
		assertError(t, status, body, http.StatusBadRequest, "validation_error")
	}
	var ids struct {
		Data []struct{ Type, ID string }
	}
	body := f.getOK(t, users+"user_id:u1/external_ids", &ids)
	if len(ids.Data) != 1 || ids.Data[0].Type != store.IDUserID {
		t.Errorf("external ids = %s, want only user_id", body)
	}
}

// /events is ordered by the corrected timestamp, newest first, ties by log
// order, or oldest first with sort=asc; pages follow the same order.
func TestEventsByTimestamp(t *testing.T) {
	f := serveIngested(t, nil, aliceBatch)
	read := func(query string) []string {
		var ids []string
		path := users + "user_id:u1/events?limit=2" + query
		for range 10 {
			var page struct {
				Data []struct {
					MessageID string `json:"message_id"`
				}
				Cursor struct {
					HasMore bool   `json:"has_more"`
					Next    string `json:"next"`
					Limit   int    `json:"limit"`
				}
			}
			f.getOK(t, path, &page)
			if page.Cursor.Limit != 2 {
				t.Errorf("cursor.limit = %d, want 2", page.Cursor.Limit)
			}
			for _, d := range page.Data {
				ids = append(ids, d.MessageID)
			}
			if !page.Cursor.HasMore {
				return ids
			}
			path = users + "user_id:u1/events?limit=2" + query + "&next=" + page.Cursor.Next
		}
		t.Fatal("paging does not end")
		return nil
	}
	if got, want := read(""), []string{"t-new", "t-tie", "t-mid", "i1", "t-late"}; !slices.Equal(got, want) {
		t.Errorf("events = %v, want %v", got, want)
	}
	if got, want := read("&sort=asc"), []string{"t-late", "i1", "t-mid", "t-tie", "t-new"}; !slices.Equal(got, want) {
		t.Errorf("events sort=asc = %v, want %v", got, want)
	}
	status, _, body := f.get(t, users+"user_id:u1/events?sort=sideways", basic(tokAcme))
	assertError(t, status, body, http.StatusBadRequest, "validation_error")
}

func TestCursorLimitAndRequestID(t *testing.T) {
	f := serveFake(t, profileData())
	ids := map[string]bool{}
	for _, p := range []string{
		users + "user_id:u1/traits?limit=3",
		users + "user_id:u1/external_ids?limit=3",
		users + "user_id:u1/links?limit=3",
		accounts + "group_id:g1/links?limit=3",
	} {
		status, hdr, body := f.get(t, p, basic(tokAcme))
		if status != http.StatusOK {
			t.Fatalf("GET %s: %d %s", p, status, body)
		}
		var page struct{ Cursor map[string]any }
		if err := json.Unmarshal(body, &page); err != nil {
			t.Fatal(err)
		}
		if page.Cursor["limit"] != float64(3) {
			t.Errorf("GET %s: cursor %v, want limit 3", p, page.Cursor)
		}
		id := hdr.Get("Request-Id")
		if !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(id) || ids[id] {
			t.Errorf("GET %s: Request-Id %q, want a new id on each answer", p, id)
		}
		ids[id] = true
	}
	// Errors carry one too: that is when a client quotes it.
	if _, hdr, _ := f.get(t, users+"user_id:nobody/traits", basic(tokAcme)); hdr.Get("Request-Id") == "" {
		t.Error("a 404 has no Request-Id")
	}
}

// A next that decodes but is no cursor of /external_ids would skip ids.
func TestExternalIDsRefuseAMeaninglessCursor(t *testing.T) {
	f := serveFake(t, profileData())
	for _, next := range []string{"zzz", "user_id", "phone\x00555", "user_id\x00"} {
		p := users + "user_id:u1/external_ids?next=" + base64.RawURLEncoding.EncodeToString([]byte(next))
		status, _, body := f.get(t, p, basic(tokAcme))
		assertError(t, status, body, http.StatusBadRequest, "validation_error")
	}
}

// An access token that goes past its workspace's rate gets 429 with
// Retry-After; without a configured rate there is no limit.
func TestRateLimitPerToken(t *testing.T) {
	path := users + "user_id:u1/metadata"
	unlimited := serveFake(t, profileData())
	for i := range 50 {
		if status, _, body := unlimited.get(t, path, basic(tokAcme)); status != http.StatusOK {
			t.Fatalf("request %d without a rate limit: %d %s", i, status, body)
		}
	}
	f := serveFakeWith(t, profileData(), map[string]api.ProfileSettings{"acme": {RateLimit: 5}})
	limited := 0
	for range 20 {
		status, hdr, body := f.get(t, path, basic(tokAcme))
		if status == http.StatusTooManyRequests {
			limited++
			assertError(t, status, body, http.StatusTooManyRequests, "too_many_requests")
			if hdr.Get("Retry-After") != "1" {
				t.Errorf("Retry-After %q, want 1", hdr.Get("Retry-After"))
			}
		}
	}
	if limited < 10 {
		t.Errorf("%d of 20 quick requests limited at 5 a second, want most", limited)
	}
}
