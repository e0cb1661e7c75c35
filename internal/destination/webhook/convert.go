package webhook

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"net/http"
	"strings"

	"roster/internal/destination"
)

// Convert POSTs one event: the message itself with batchSize 1, else a
// batch of one so that the body shape depends only on the settings.
func (w *Webhook) Convert(ev destination.Event) ([]destination.Request, error) {
	return w.ConvertBatch([]destination.Event{ev})
}

// MaxBatch is the configured batchSize.
func (w *Webhook) MaxBatch() int { return w.batchSize }

// ConvertBatch POSTs the events batchSize at a time. Delivery never hands
// more than MaxBatch, but splitting keeps a larger slice correct anyway.
func (w *Webhook) ConvertBatch(evs []destination.Event) ([]destination.Request, error) {
	var reqs []destination.Request
	for len(evs) > 0 {
		n := min(len(evs), w.batchSize)
		r, err := w.request(evs[:n])
		if err != nil {
			return nil, err
		}
		reqs = append(reqs, r)
		evs = evs[n:]
	}
	return reqs, nil
}

func (w *Webhook) request(evs []destination.Event) (destination.Request, error) {
	for _, ev := range evs {
		if len(bytes.TrimSpace(ev.Body)) == 0 {
			return destination.Request{}, fmt.Errorf("webhook: event %d has no body: %w", ev.Seq, destination.ErrPermanent)
		}
	}
	var body []byte
	var key string
	if w.batchSize == 1 {
		body = evs[0].Body
		key = evs[0].MessageID
	} else {
		body = append(body, `{"batch":[`...)
		ids := make([]string, len(evs))
		for i, ev := range evs {
			if i > 0 {
				body = append(body, ',')
			}
			body = append(body, ev.Body...)
			ids[i] = ev.MessageID
		}
		body = append(body, "]}"...)
		sum := sha256.Sum256([]byte(strings.Join(ids, "\n")))
		key = "batch-" + hex.EncodeToString(sum[:])
	}

	h := w.header.Clone()
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", userAgent)
	if key != "" {
		h.Set("Idempotency-Key", key)
	}
	if len(w.secret) > 0 {
		h.Set("X-Signature", sign(sha1.New, w.secret, body))
		h.Set("X-Signature-256", "sha256="+sign(sha256.New, w.secret, body))
	}
	return destination.Request{Method: http.MethodPost, URL: w.url, Header: h, Body: body}, nil
}

func sign(alg func() hash.Hash, secret, body []byte) string {
	m := hmac.New(alg, secret)
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// Verify reports whether header is a valid signature of body under secret.
// It takes either header Roster sends: X-Signature-256 ("sha256=<hex>", or
// bare 64 hex digits) or X-Signature (40 hex digits, HMAC-SHA1). body must
// be the raw request body, read before any JSON decoding.
func Verify(secret string, body []byte, header string) bool {
	header = strings.TrimSpace(header)
	alg := sha256.New
	if rest, ok := strings.CutPrefix(header, "sha256="); ok {
		header = rest
	} else if len(header) == 2*sha1.Size {
		alg = sha1.New
	}
	got, err := hex.DecodeString(header)
	if err != nil || secret == "" {
		return false
	}
	m := hmac.New(alg, []byte(secret))
	m.Write(body)
	return hmac.Equal(got, m.Sum(nil))
}
