// Package webhook delivers events to an HTTP endpoint of your own, as
// Segment's Webhooks destination does: every call type (identify, track,
// page, screen, group, alias) is POSTed as the normalized Segment message,
// byte for byte as Roster logged it, with Content-Type application/json.
//
// Settings:
//
//	url        required  absolute http(s) URL the events are POSTed to
//	secret     optional  shared secret that signs every request (below)
//	headers    optional  extra request headers, e.g. Authorization
//	batchSize  optional  events per request, 1 (default) to 1000
//
// With batchSize 1 the body is one message. With batchSize above 1 the body
// is always {"batch": [message, ...]}, the shape of Segment's HTTP Tracking
// API /v1/batch, even when a request happens to hold one event, so that a
// receiver sees one shape per configuration (and can forward the body to
// any Segment-compatible /v1/batch, Roster's own included).
//
// Headers Roster sets on every request:
//
//	User-Agent: Roster-Webhook/1
//	Idempotency-Key: the messageId for a single event; for a batch,
//	    "batch-" + hex SHA-256 of the batch's messageIds joined by "\n",
//	    so a retried request carries the same key. Receivers that keep
//	    state should still dedupe per event by messageId, which every
//	    message carries: a batch may be retried in different company.
//	X-Signature: hex HMAC-SHA1 of the body keyed by the secret (with a
//	    secret only). This is Segment's Webhooks convention ("the HMAC is a
//	    hex-encoded SHA1 hash generated using the shared secret and the
//	    request body"), kept so that receivers written for Segment work
//	    unchanged. Unlike Segment's batched webhooks, which sign only the
//	    first event of a batch, Roster signs the whole body.
//	X-Signature-256: "sha256=" + hex HMAC-SHA256 of the body keyed by the
//	    secret (with a secret only), the GitHub-style header for receivers
//	    that want SHA-256.
//
// To verify a request, compute HMAC-SHA256 over the raw request body bytes
// (before any JSON parsing) with the shared secret as key, hex-encode it,
// and compare it in constant time with X-Signature-256 after its "sha256="
// prefix; or do the same with SHA-1 against X-Signature. Verify does either
// for Go receivers.
//
// Custom headers cannot replace the ones above nor the ones that frame the
// request (Host, Content-Length, Content-Type, Transfer-Encoding and the
// other hop-by-hop headers): New rejects them.
//
// Conversion never fails for a logged event; delivery retries non-2xx
// answers by its own policy.
//
// Docs followed:
//   - https://www.twilio.com/docs/segment/connections/destinations/catalog/webhooks
//     (Segment Webhooks (Classic): the message as the body, shared secret)
//   - https://www.twilio.com/docs/segment/connections/destinations/catalog/actions-webhook
//     (X-Signature: hex HMAC-SHA1 of the body)
//   - https://www.twilio.com/docs/segment/connections/sources/catalog/libraries/server/http-api#batch
//     ({"batch": [...]} body shape)
package webhook

import (
	"fmt"
	"net/http"
	"strings"

	"roster/internal/destination"
)

const (
	defaultBatchSize = 1
	maxBatchSize     = 1000
	userAgent        = "Roster-Webhook/1"
)

type settings struct {
	URL       string            `json:"url"`
	Secret    string            `json:"secret"`
	Headers   map[string]string `json:"headers"`
	BatchSize *int              `json:"batchSize"`
}

// reserved reports the headers that Roster or the HTTP client sets: letting
// settings override them would break signatures, framing or idempotency.
func reserved(canonical string) bool {
	switch canonical {
	case "Connection", "Content-Encoding", "Content-Length", "Content-Type", "Host",
		"Idempotency-Key", "Keep-Alive", "Proxy-Connection", "Te", "Trailer",
		"Transfer-Encoding", "Upgrade", "User-Agent", "X-Signature", "X-Signature-256":
		return true
	}
	return false
}

// Webhook converts events to signed JSON POSTs. It is immutable after New.
type Webhook struct {
	url       string
	secret    []byte
	header    http.Header // custom headers, canonical names
	batchSize int
}

// New builds a webhook converter from its settings.
func New(raw map[string]any) (destination.Converter, error) {
	var s settings
	if err := destination.DecodeSettings(raw, &s); err != nil {
		return nil, err
	}
	if s.URL == "" {
		return nil, destination.Required("url")
	}
	if err := destination.CheckURL(s.URL); err != nil {
		return nil, fmt.Errorf("settings.url: %w", err)
	}
	w := &Webhook{url: s.URL, secret: []byte(s.Secret), header: http.Header{}, batchSize: defaultBatchSize}
	if s.BatchSize != nil {
		if *s.BatchSize < 1 || *s.BatchSize > maxBatchSize {
			return nil, fmt.Errorf("settings.batchSize: must be between 1 and %d, not %d", maxBatchSize, *s.BatchSize)
		}
		w.batchSize = *s.BatchSize
	}
	// In sorted order, so that the first bad header reported is always the
	// same one.
	for _, name := range destination.SortedKeys(s.Headers) {
		value := s.Headers[name]
		if err := checkHeader(name, value); err != nil {
			return nil, fmt.Errorf("settings.headers.%s: %w", name, err)
		}
		w.header.Add(http.CanonicalHeaderKey(name), value)
	}
	return w, nil
}

func checkHeader(name, value string) error {
	if name == "" {
		return fmt.Errorf("empty header name")
	}
	for i := 0; i < len(name); i++ {
		if !isTokenChar(name[i]) {
			return fmt.Errorf("invalid header name")
		}
	}
	if c := http.CanonicalHeaderKey(name); reserved(c) {
		return fmt.Errorf("%s is set by Roster and cannot be configured", c)
	}
	if strings.ContainsAny(value, "\r\n\x00") {
		return fmt.Errorf("value must not contain CR, LF or NUL")
	}
	return nil
}

// isTokenChar reports whether c may appear in a header name (RFC 9110
// token).
func isTokenChar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}
