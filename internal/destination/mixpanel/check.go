package mixpanel

import (
	"bytes"
	"encoding/json"
	"net/http"

	"roster/internal/destination"
)

// Check implements destination.ResponseChecker. /track, /engage and
// /groups answer 200 even when they reject the data; with verbose=1 the
// body says {"status":0,"error":...}, and sending it again would be
// rejected again.
func (c *converter) Check(_ destination.Request, status int, body []byte) destination.Verdict {
	if status != http.StatusOK {
		return destination.ClassifyStatus(status)
	}
	if string(bytes.TrimSpace(body)) == "0" { // the answer without verbose=1
		return destination.Permanent
	}
	var v struct {
		Status *json.RawMessage `json:"status"`
	}
	if json.Unmarshal(body, &v) != nil || v.Status == nil {
		// /import answers {"code":200,"status":"OK",...}; anything else
		// with a 200 is taken at its word.
		return destination.Delivered
	}
	if string(*v.Status) == "0" {
		return destination.Permanent
	}
	return destination.Delivered
}
