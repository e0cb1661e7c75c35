// Package openapi holds Roster's OpenAPI 3.1 document, embedded in the
// binary and served at GET /openapi.json. internal/server's tests send a
// request to every route and validate each answer against it.
package openapi

import (
	_ "embed"
	"net/http"
)

// Document is the OpenAPI document, as JSON.
//
//go:embed openapi.json
var Document []byte

// Handler serves the document.
func Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(Document) //nolint:errcheck
	})
}
