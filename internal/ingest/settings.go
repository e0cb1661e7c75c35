package ingest

import (
	"net/http"
	"strings"
)

// settings serves what analytics.js fetches from its CDN at load, so that a
// page loading it with cdnURL pointing at Roster sends its calls to Roster
// and nowhere else: only the Segment.io integration (any other name makes
// it load that destination's code), apiHost as host and path without a
// scheme, metrics sampled at 0, and no remote plugins or middleware.
func (h *Handler) settings(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD, OPTIONS")
		writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", "", r.Method+" is not allowed here; use GET")
		return
	}
	key := r.PathValue("writeKey")
	if _, ok := h.opts.Sources.Source(key); !ok {
		writeError(w, http.StatusNotFound, "not_found", "writeKey", "no source has this write key")
		return
	}
	scheme, host := h.publicAddress(r)
	writeJSON(w, http.StatusOK, map[string]any{
		"integrations": map[string]any{
			"Segment.io": map[string]any{
				"apiKey":                key,
				"apiHost":               host + "/v1",
				"protocol":              scheme,
				"addBundledMetadata":    true,
				"unbundledIntegrations": []string{},
				"maybeBundledConfigIds": map[string]any{},
			},
		},
		"plan": map[string]any{
			"track":    map[string]any{"__default": map[string]any{"enabled": true, "integrations": map[string]any{}}},
			"identify": map[string]any{"__default": map[string]any{"enabled": true}},
			"group":    map[string]any{"__default": map[string]any{"enabled": true}},
		},
		"metrics":                   map[string]any{"sampleRate": 0},
		"middlewareSettings":        map[string]any{},
		"enabledMiddleware":         map[string]any{},
		"remotePlugins":             []any{},
		"legacyVideoPluginsEnabled": false,
		"edgeFunction":              map[string]any{},
		"analyticsNextEnabled":      true,
	})
}

// publicAddress is the scheme and host (with any path prefix) browsers
// reach Roster at: the configured public URL, else what the request says,
// trusting X-Forwarded-Proto/Host from a proxy in front.
func (h *Handler) publicAddress(r *http.Request) (scheme, host string) {
	if u := strings.TrimSuffix(h.opts.PublicURL, "/"); u != "" {
		scheme, host, ok := strings.Cut(u, "://")
		if ok {
			return scheme, host
		}
		return "https", u
	}
	scheme = "http"
	if r.TLS != nil {
		scheme = "https"
	}
	if p := r.Header.Get("X-Forwarded-Proto"); p == "http" || p == "https" {
		scheme = p
	}
	host = r.Host
	if fh := r.Header.Get("X-Forwarded-Host"); fh != "" {
		host = fh
	}
	return scheme, host
}
