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

type batchResponse struct {
	Success  bool   `json:"success"`
	Code     string `json:"code,omitempty"`
	Message  string `json:"message,omitempty"`
	Accepted int    `json:"accepted"`
	// Deduplicated counts the accepted messages that were in the log
	// already (within the dedup window); /v1/import answers it, for
	// roster import's summary.
	Deduplicated *int        `json:"deduplicated,omitempty"`
	Rejected     []rejection `json:"rejected"`
}

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

func writeOK(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	w.Write(okBody) //nolint:errcheck // nothing to do about a failed write
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
