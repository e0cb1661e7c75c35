package mixpanel

import (
	"bytes"
	"encoding/json"
	"fmt"

	"roster/internal/destination"
)

// maxBatch is the most records Mixpanel's ingestion endpoints (/import,
// /track, /engage, /groups) take in one request.
const maxBatch = 2000

// maxBatchBytes keeps a merged request under the smallest body limit of
// those endpoints, /track's.
const maxBatchBytes = 1 << 20

// MaxBatch implements destination.BatchConverter.
func (c *converter) MaxBatch() int { return maxBatch }

// ConvertBatch implements destination.BatchConverter: each event is
// converted as alone, then the records bound for one endpoint (same URL
// and authorization) are sent together, in log order, in requests of at
// most maxBatch records and maxBatchBytes.
func (c *converter) ConvertBatch(evs []destination.Event) ([]destination.Request, error) {
	type target struct{ url, auth string }
	var order []target
	groups := map[target]*[]destination.Request{}
	for _, ev := range evs {
		reqs, err := c.Convert(ev)
		if err != nil {
			return nil, fmt.Errorf("mixpanel: event %d: %w", ev.Seq, err)
		}
		for _, r := range reqs {
			t := target{r.URL, r.Header.Get("Authorization")}
			if groups[t] == nil {
				groups[t] = &[]destination.Request{}
				order = append(order, t)
			}
			*groups[t] = append(*groups[t], r)
		}
	}
	var out []destination.Request
	for _, t := range order {
		merged, err := merge(*groups[t])
		if err != nil {
			return nil, err
		}
		out = append(out, merged...)
	}
	return out, nil
}

// merge joins requests to one endpoint, whose bodies are JSON arrays, into
// as few requests as the limits allow.
func merge(reqs []destination.Request) ([]destination.Request, error) {
	var out []destination.Request
	var records []json.RawMessage
	size := 0
	flush := func() error {
		if len(records) == 0 {
			return nil
		}
		// The records as each conversion wrote them, byte for byte.
		body := append(append([]byte{'['}, bytes.Join(records2bytes(records), []byte{','})...), ']')
		r := reqs[0]
		r.Header = r.Header.Clone()
		r.Body = body
		out = append(out, r)
		records, size = nil, 0
		return nil
	}
	for _, r := range reqs {
		var rs []json.RawMessage
		d := json.NewDecoder(bytes.NewReader(r.Body))
		d.UseNumber()
		if err := d.Decode(&rs); err != nil {
			return nil, fmt.Errorf("mixpanel: %w", err)
		}
		for _, rec := range rs {
			if len(records) == maxBatch || (size+len(rec) > maxBatchBytes && len(records) > 0) {
				if err := flush(); err != nil {
					return nil, err
				}
			}
			records = append(records, rec)
			size += len(rec) + 1
		}
	}
	return out, flush()
}

func records2bytes(rs []json.RawMessage) [][]byte {
	out := make([][]byte, len(rs))
	for i, r := range rs {
		out[i] = r
	}
	return out
}
