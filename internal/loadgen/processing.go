package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// Processing says whether the endpoint's profiles kept up with the run:
// how long after the last acknowledgement the profile processor's cursor
// reached the log's head as it was then.
type Processing struct {
	// Head is the log position of the last acknowledged event (at most).
	Head int64 `json:"head"`
	// BehindAtEnd is how many events profiles had still to apply then.
	BehindAtEnd int64 `json:"behindAtEnd"`
	// CaughtUpSeconds is from the end of the run until profiles covered
	// Head; EndToEndPerSec is the acknowledged events over the run and
	// that time together.
	CaughtUpSeconds float64 `json:"caughtUpSeconds"`
	EndToEndPerSec  float64 `json:"endToEndPerSec"`
	// TimedOut is set when profiles had not caught up within the wait.
	TimedOut bool `json:"timedOut,omitempty"`
}

type processingView struct {
	Head   int64 `json:"head"`
	Cursor int64 `json:"cursor"`
	Behind int64 `json:"behind"`
}

// catchUp polls the processing route from the end of a run until the
// profile cursor reaches the head read at the start of the poll.
func catchUp(ctx context.Context, client *http.Client, cfg Config, res *Result, ended time.Time) (*Processing, error) {
	ctx, cancel := context.WithTimeout(ctx, cfg.VerifyTimeout)
	defer cancel()
	u := cfg.URL + "/v1/workspaces/" + url.PathEscape(cfg.Workspace) + "/processing"
	first, err := getProcessing(ctx, client, cfg.Token, u)
	if err != nil {
		return nil, err
	}
	p := &Processing{Head: first.Head, BehindAtEnd: first.Behind}
	for v := first; v.Cursor < p.Head; {
		if !sleepUntil(ctx, time.Now().Add(20*time.Millisecond)) {
			p.TimedOut = true
			break
		}
		if v, err = getProcessing(ctx, client, cfg.Token, u); err != nil {
			return nil, err
		}
	}
	p.CaughtUpSeconds = time.Since(ended).Seconds()
	if p.TimedOut {
		return p, nil
	}
	p.EndToEndPerSec = float64(res.Acked) / (res.Seconds + p.CaughtUpSeconds)
	return p, nil
}

func getProcessing(ctx context.Context, client *http.Client, token, u string) (processingView, error) {
	var v processingView
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return v, err
	}
	req.SetBasicAuth(token, "")
	resp, err := client.Do(req)
	if err != nil {
		return v, fmt.Errorf("processing: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
		return v, fmt.Errorf("GET %s: %s: %s", u, resp.Status, bytes.TrimSpace(body))
	}
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		return v, fmt.Errorf("GET %s: %w", u, err)
	}
	return v, nil
}
