package ingest

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

var errTooLarge = errors.New("body too large")

// readBody reads at most limit bytes of the body, after gzip decompression
// when the body is gzipped, so neither a big body nor a gzip bomb is ever
// read whole. It answers the request itself when it fails.
func (h *Handler) readBody(w http.ResponseWriter, r *http.Request, limit int) (*bytes.Buffer, bool) {
	if r.ContentLength > int64(limit) && !isGzip(r) {
		writeError(w, http.StatusRequestEntityTooLarge, "too_large", "", fmt.Sprintf("request body is larger than the limit of %d bytes", limit))
		return nil, false
	}
	buf := h.buffers.Get().(*bytes.Buffer)
	buf.Reset()
	err := readLimited(buf, r, limit)
	if err == nil {
		return buf, true
	}
	h.buffers.Put(buf)
	switch {
	case errors.Is(err, errTooLarge):
		writeError(w, http.StatusRequestEntityTooLarge, "too_large", "", fmt.Sprintf("request body is larger than the limit of %d bytes", limit))
	case errors.Is(err, errUnsupportedEncoding):
		writeError(w, http.StatusUnsupportedMediaType, "unsupported_encoding", "Content-Encoding", err.Error())
	case errors.Is(err, gzip.ErrHeader), errors.Is(err, gzip.ErrChecksum), errors.Is(err, io.ErrUnexpectedEOF):
		writeError(w, http.StatusBadRequest, "invalid_body", "", "body is not valid gzip: "+err.Error())
	default:
		// A client that went away or a read timeout; the response is
		// unlikely to arrive, but say what happened.
		writeError(w, http.StatusBadRequest, "invalid_body", "", "could not read the request body: "+err.Error())
	}
	return nil, false
}

var errUnsupportedEncoding = errors.New("unsupported Content-Encoding; send gzip or nothing")

func isGzip(r *http.Request) bool {
	switch strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))) {
	case "gzip", "x-gzip":
		return true
	}
	return false
}

func readLimited(buf *bytes.Buffer, r *http.Request, limit int) error {
	wire := &io.LimitedReader{R: r.Body, N: int64(limit) + 1}
	var body io.Reader = wire
	switch enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(body)
		if err != nil {
			return fmt.Errorf("gzip: %w", err)
		}
		defer zr.Close()
		body = io.LimitReader(zr, int64(limit)+1)
	default:
		return fmt.Errorf("%w (got %q)", errUnsupportedEncoding, enc)
	}
	if r.ContentLength > 0 && r.ContentLength <= int64(limit) {
		buf.Grow(int(r.ContentLength))
	}
	n, err := buf.ReadFrom(body)
	if wire.N == 0 {
		// More than limit bytes on the wire: too large, even when that cut
		// a gzip stream short (an incompressible body grows when gzipped).
		return errTooLarge
	}
	if err != nil {
		return err
	}
	if n > int64(limit) {
		return errTooLarge
	}
	return nil
}
