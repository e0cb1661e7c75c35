package importer

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// maxAttempts bounds the retries of one request (5xx, 429, network); the
// backoff doubles from retryBase to retryMost.
const (
	maxAttempts = 10
	retryBase   = 200 * time.Millisecond
	retryMost   = 10 * time.Second
)

// importResponse is what /v1/import answers.
type importResponse struct {
	Success      bool   `json:"success"`
	Code         string `json:"code"`
	Message      string `json:"message"`
	Accepted     int    `json:"accepted"`
	Deduplicated int    `json:"duplicates"`
	Rejected     []struct {
		Index     int    `json:"index"`
		MessageID string `json:"messageId"`
		Code      string `json:"code"`
		Message   string `json:"message"`
	} `json:"rejected"`
}

func (b *batch) body() []byte {
	out := make([]byte, 0, b.size+len(b.defaults)+16)
	out = append(out, `{"batch":[`...)
	for i, m := range b.messages {
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, m.raw...)
	}
	out = append(out, ']')
	if len(b.defaults) > 0 {
		out = append(append(out, ','), b.defaults...)
	}
	return append(out, '}')
}

// send delivers one batch, retrying what a retry can cure, and counts the
// answer. A batch too large for the server is split in two.
func (im *Importer) send(ctx context.Context, b *batch) error {
	body := b.body()
	url := strings.TrimRight(im.cfg.URL, "/") + "/v1/import"
	for attempt := 1; ; attempt++ {
		status, resp, retryAfter, err := im.post(ctx, url, body)
		switch {
		case err == nil && status == http.StatusRequestEntityTooLarge && len(b.messages) > 1:
			half := len(b.messages) / 2
			first := &batch{input: b.input, defaults: b.defaults, messages: b.messages[:half]}
			second := &batch{input: b.input, defaults: b.defaults, messages: b.messages[half:]}
			if err := im.send(ctx, first); err != nil {
				return err
			}
			return im.send(ctx, second)
		case err == nil && (status == http.StatusOK || status == http.StatusBadRequest):
			im.count(b, status, resp)
			return nil
		case err == nil && status != http.StatusTooManyRequests && status < 500:
			return fmt.Errorf("import: %s answered %d: %s", url, status, bytes.TrimSpace(resp))
		}
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		if attempt == maxAttempts {
			if err == nil {
				err = fmt.Errorf("%d: %s", status, bytes.TrimSpace(resp))
			}
			return fmt.Errorf("import: %s: gave up after %d attempts: %w", url, attempt, err)
		}
		wait := min(retryBase<<(attempt-1), retryMost)
		if retryAfter > 0 {
			wait = max(wait, retryAfter)
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
}

func (im *Importer) post(ctx context.Context, url string, body []byte) (int, []byte, time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, nil, 0, err
	}
	req.SetBasicAuth(im.cfg.WriteKey, "")
	req.Header.Set("Content-Type", "application/json")
	res, err := im.cfg.Client.Do(req)
	if err != nil {
		return 0, nil, 0, err
	}
	defer res.Body.Close()
	resp, err := io.ReadAll(io.LimitReader(res.Body, 4<<20))
	if err != nil {
		return 0, nil, 0, err
	}
	var after time.Duration
	if s, err := strconv.Atoi(res.Header.Get("Retry-After")); err == nil && s > 0 {
		after = time.Duration(s) * time.Second
	}
	return res.StatusCode, resp, after, nil
}

// count adds an answer to the stats and reports each rejected message
// with its input and line.
func (im *Importer) count(b *batch, status int, raw []byte) {
	im.stats.sent.Add(int64(len(b.messages)))
	var r importResponse
	if err := json.Unmarshal(raw, &r); err != nil || (status == http.StatusBadRequest && r.Rejected == nil) {
		// The whole request was refused: every message is rejected.
		im.stats.rejected.Add(int64(len(b.messages)))
		msg := strings.TrimSpace(string(raw))
		if err == nil {
			msg = r.Code + ": " + r.Message
		}
		im.problem("%s:%d-%d: batch rejected: %s", b.input, b.messages[0].line, b.messages[len(b.messages)-1].line, msg)
		return
	}
	im.stats.accepted.Add(int64(r.Accepted))
	im.stats.dedup.Add(int64(r.Deduplicated))
	im.stats.rejected.Add(int64(len(r.Rejected)))
	for _, rej := range r.Rejected {
		line := int64(0)
		if rej.Index >= 0 && rej.Index < len(b.messages) {
			line = b.messages[rej.Index].line
		}
		im.problem("%s:%d: rejected (%s): %s", b.input, line, rej.Code, rej.Message)
	}
}
