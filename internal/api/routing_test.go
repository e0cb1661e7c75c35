package api_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"roster/internal/api"
	"roster/internal/auth"
	"roster/internal/ingest"
	"roster/internal/pipeline"
	"roster/internal/store"
	"roster/internal/store/pebble"
)

// A context.groupId of 1e3 on a track call is the group "1000" from
// ingestion through the profiles to the API, as a numeric groupId is.
func TestContextGroupIDNumberThroughProfiles(t *testing.T) {
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
	api.New(st, reg).Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	f := &fixture{url: srv.URL, client: srv.Client(), store: st}

	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/track",
		strings.NewReader(`{"messageId":"t1","userId":"u1","event":"Report Run","context":{"groupId":1e3}}`))
	req.SetBasicAuth(keyWeb, "")
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("track: %s", resp.Status)
	}
	if _, err := pipeline.NewProcessor(st, st, logger).CatchUp(ctx); err != nil {
		t.Fatal(err)
	}

	var page struct {
		Data []struct {
			MessageID   string `json:"message_id"`
			ExternalIDs []struct {
				Type string `json:"type"`
				ID   string `json:"id"`
			} `json:"external_ids"`
			Related map[string]string `json:"related"`
		} `json:"data"`
	}
	body := f.getOK(t, "/v1/spaces/acme/collections/accounts/profiles/group_id:1000/events", &page)
	if len(page.Data) != 1 || page.Data[0].MessageID != "t1" || page.Data[0].Related["accounts"] != "group_id:1000" {
		t.Fatalf("group 1000's events: %s", body)
	}
	var groups []string
	for _, x := range page.Data[0].ExternalIDs {
		if x.Type == "group_id" {
			groups = append(groups, x.ID)
		}
	}
	if len(groups) != 1 || groups[0] != "1000" {
		t.Errorf("external group ids %v, want [1000]: %s", groups, body)
	}
}
