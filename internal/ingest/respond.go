package ingest

import (
	"encoding/json"
	"errors"
	"net/http"

	"roster/internal/spec"
)

var okBody = []byte(`{"success":true}` + "\n")

// errorBody is the error shape of Segment's tracking API, plus the field
// at fault.
type errorBody struct {
	Success bool   `json:"success"`
	Code    string `json:"code"`
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
}

// batchResponse says what became of a batch's messages: Accepted were
// stored, Duplicates repeated a messageId already stored (earlier, or
// earlier in the batch) and were acknowledged without being stored again,
// Rejected were quarantined. The Segment SDKs only read the status.
type batchResponse struct {
	Success    bool        `json:"success"`
	Code       string      `json:"code,omitempty"`
	Message    string      `json:"message,omitempty"`
	Accepted   int         `json:"accepted"`
	Duplicates int         `json:"duplicates"`
	Rejected   []rejection `json:"rejected"`
}

// duplicateBody answers a single call whose messageId was already stored,
// in the batch answer's terms.
var duplicateBody = []byte(`{"success":true,"accepted":0,"duplicates":1}` + "\n")

// rejection tells an SDK which message of a batch was refused and why.
type rejection struct {
	Index     int    `json:"index"`
	MessageID string `json:"messageId,omitempty"`
	Code      string `json:"code"`
	Field     string `json:"field,omitempty"`
	Message   string `json:"message"`
}

func newRejection(i int, messageID string, err error) rejection {
	r := rejection{Index: i, MessageID: messageID, Code: "invalid", Message: err.Error()}
	var se *spec.Error
	if errors.As(err, &se) {
		r.Code, r.Field = se.Code, se.Field
	}
	return r
}

func writeOK(w http.ResponseWriter, duplicate bool) {
	w.Header().Set("Content-Type", "application/json")
	body := okBody
	if duplicate {
		body = duplicateBody
	}
	w.Write(body) //nolint:errcheck // nothing to do about a failed write
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v) //nolint:errcheck
}

func writeError(w http.ResponseWriter, status int, code, field, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(errorBody{Code: code, Field: field, Message: message}) //nolint:errcheck
}

func writeSpecError(w http.ResponseWriter, status int, err error) {
	var se *spec.Error
	if errors.As(err, &se) {
		writeError(w, status, se.Code, se.Field, se.Error())
		return
	}
	writeError(w, status, "invalid", "", err.Error())
}
