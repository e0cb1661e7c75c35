package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// VerifyResult is what reading the workspace's events back found.
type VerifyResult struct {
	// Acked is how many acknowledged messageIds were looked for, Found how
	// many of them were stored.
	Acked   int64 `json:"acked"`
	Found   int64 `json:"found"`
	Missing int64 `json:"missing"`
	// Duplicates are extra stored copies of acknowledged messageIds.
	Duplicates int64 `json:"duplicates"`
	// Unacked are stored events of this run that were not acknowledged:
	// committed, but the answer was lost or came after the timeout. Not an
	// error: an SDK would have retried them and dedup would keep one.
	Unacked int64   `json:"unacked"`
	Read    int64   `json:"read"`
	Pages   int     `json:"pages"`
	Seconds float64 `json:"seconds"`
	// MissingSample names a few missing messageIds to look for.
	MissingSample []string `json:"missingSample,omitempty"`
}

// OK is true when every acknowledged event is stored exactly once.
func (v *VerifyResult) OK() bool { return v.Missing == 0 && v.Duplicates == 0 }

// pageSize is the read API's largest page.
const pageSize = 200

// eventPage is the part of GET /v1/workspaces/{ws}/events that
// verification reads.
type eventPage struct {
	Data []struct {
		Seq       int64  `json:"seq"`
		MessageID string `json:"messageId"`
	} `json:"data"`
	Cursor struct {
		HasMore bool   `json:"has_more"`
		Next    string `json:"next"`
	} `json:"cursor"`
}

// newestSeq is the log position before the run: the events list is newest
// first, so verification can stop when it gets back there instead of
// reading the whole history of the workspace.
func newestSeq(ctx context.Context, client *http.Client, cfg Config) (int64, error) {
	p, err := getPage(ctx, client, cfg, "", 1)
	if err != nil || len(p.Data) == 0 {
		return 0, err
	}
	return p.Data[0].Seq, nil
}

// verify pages through the events stored since baseline and checks every
// acknowledged message of the run is among them exactly once.
func verify(ctx context.Context, client *http.Client, cfg Config, t *traffic, acked *bitset, baseline int64) (*VerifyResult, error) {
	ctx, cancel := context.WithTimeout(ctx, cfg.VerifyTimeout)
	defer cancel()
	start := time.Now()
	lastPrint := start
	v := &VerifyResult{}
	var seen bitset
	next := ""
	for {
		p, err := getPage(ctx, client, cfg, next, pageSize)
		if err != nil {
			return nil, fmt.Errorf("after %d pages: %w", v.Pages, err)
		}
		v.Pages++
		done := !p.Cursor.HasMore
		for _, e := range p.Data {
			if e.Seq <= baseline {
				done = true
				break
			}
			v.Read++
			n, ok := t.number(e.MessageID)
			switch {
			case !ok:
				// Another sender's event, written during the run.
			case !acked.has(n):
				v.Unacked++
			case seen.has(n):
				v.Duplicates++
			default:
				seen.add(n)
			}
		}
		if done {
			break
		}
		if p.Cursor.Next == "" || p.Cursor.Next == next {
			return nil, fmt.Errorf("page %d says has_more without a new cursor", v.Pages)
		}
		next = p.Cursor.Next
		if cfg.Progress != nil && time.Since(lastPrint) >= cfg.ProgressEvery {
			lastPrint = time.Now()
			fmt.Fprintf(cfg.Progress, "verify %5.1fs  read %s events (%d pages)\n", time.Since(start).Seconds(), thousands(v.Read), v.Pages)
		}
	}
	acked.each(func(n uint64) {
		v.Acked++
		if seen.has(n) {
			v.Found++
			return
		}
		v.Missing++
		if len(v.MissingSample) < 10 {
			v.MissingSample = append(v.MissingSample, t.prefix+strconv.FormatUint(n, 10))
		}
	})
	v.Seconds = time.Since(start).Seconds()
	return v, nil
}

// getPage reads one page, retrying a few times on errors that may pass
// (a 5xx, a broken connection); a 4xx is an answer and is returned.
func getPage(ctx context.Context, client *http.Client, cfg Config, next string, limit int) (*eventPage, error) {
	q := url.Values{"limit": {strconv.Itoa(limit)}}
	if next != "" {
		q.Set("next", next)
	}
	u := cfg.URL + "/v1/workspaces/" + url.PathEscape(cfg.Workspace) + "/events?" + q.Encode()
	var err error
	for attempt := range 4 {
		if attempt > 0 && !sleepUntil(ctx, time.Now().Add(time.Duration(attempt)*250*time.Millisecond)) {
			break
		}
		var p *eventPage
		var retry bool
		p, retry, err = getPageOnce(ctx, client, cfg.Token, u)
		if err == nil || !retry {
			return p, err
		}
	}
	return nil, errors.Join(err, ctx.Err())
}

func getPageOnce(ctx context.Context, client *http.Client, token, u string) (p *eventPage, retry bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, false, err
	}
	req.SetBasicAuth(token, "")
	resp, err := client.Do(req)
	if err != nil {
		return nil, ctx.Err() == nil, err
	}
	defer func() {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) //nolint:errcheck // only to reuse the connection
		resp.Body.Close()
	}()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
		return nil, resp.StatusCode >= 500, fmt.Errorf("GET %s: %s: %s", u, resp.Status, bytes.TrimSpace(body))
	}
	p = &eventPage{}
	if err := json.NewDecoder(resp.Body).Decode(p); err != nil {
		return nil, true, fmt.Errorf("GET %s: %w", u, err)
	}
	return p, false, nil
}
