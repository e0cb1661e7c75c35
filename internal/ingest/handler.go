// Package ingest is the Segment-compatible HTTP tracking API: routes, auth,
// body limits, gzip, CORS, and the responses SDKs expect. A 200 is written
// only after the request's events are committed.
package ingest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/google/uuid"

	"roster/internal/auth"
	"roster/internal/config"
	"roster/internal/routes"
	"roster/internal/spec"
	"roster/internal/store"
)

// Appender is where accepted and quarantined messages go; Append returns
// once they are durable, with each event's Seq set as store.Log's says: 0
// for a duplicate.
type Appender interface {
	Append(ctx context.Context, events []store.Event, quarantined []store.Quarantined) error
}

// Sources resolves a write key.
type Sources interface {
	Source(writeKey string) (store.Source, bool)
}

// Options are a Handler's dependencies.
type Options struct {
	Log     Appender
	Sources Sources
	Limits  config.Limits
	// PublicURL overrides the address analytics.js is told to send to.
	PublicURL string
	Now       func() time.Time
	NewID     func() string
	Logger    *slog.Logger
	// Observe, when set, counts every message by its outcome.
	Observe Observer
	// Tap, when set, is shown what each request committed (the console's
	// live debugger). It is called after the commit and must not block.
	Tap Tap
}

// Tap sees committed messages. Committed must return at once whatever its
// readers do, so that watching ingestion never slows it.
type Tap interface {
	Committed(events []store.Event, quarantined []store.Quarantined)
}

// Handler serves the tracking API.
type Handler struct {
	opts        Options
	normalizers sync.Pool
	buffers     sync.Pool
}

// New returns a Handler. Unset limits are Segment's (config.DefaultLimits),
// an unset NewID generates UUIDs and an unset Logger is slog.Default().
func New(opts Options) *Handler {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.NewID == nil {
		opts.NewID = uuid.NewString
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	opts.Limits = opts.Limits.WithDefaults()
	h := &Handler{opts: opts}
	h.normalizers.New = func() any { return spec.NewNormalizer(opts.NewID) }
	h.buffers.New = func() any { return new(bytes.Buffer) }
	return h
}

// Register adds the tracking routes to mux.
func (h *Handler) Register(mux routes.Mux) {
	batch := cors(post(http.HandlerFunc(h.batch)))
	for _, p := range []string{"/v1/batch", importPath, "/v1/b", "/b"} {
		mux.Handle(p, batch)
	}
	mux.Handle("/v1/{call}", cors(post(http.HandlerFunc(h.single))))
	mux.Handle("/v1/projects/{writeKey}/settings", cors(http.HandlerFunc(h.settings)))
}

// single handles /v1/{identify,track,page,screen,group,alias} and the
// analytics.js one-letter paths.
func (h *Handler) single(w http.ResponseWriter, r *http.Request) {
	callType, ok := spec.TypeFromPath(r.PathValue("call"))
	if !ok {
		writeError(w, http.StatusNotFound, "not_found", "", "no such endpoint: "+r.URL.Path)
		return
	}
	req, ok := h.begin(w, r, h.opts.Limits.MaxMessageBytes)
	if !ok {
		return
	}
	defer req.done()
	msg, err := req.n.Normalize(req.buf.Bytes(), callType, nil, req.receivedAt)
	if !req.keyKnown && !h.sourceFromBody(w, req, msg.WriteKey, err) {
		return
	}
	if err != nil {
		q := quarantined(req.src, msg, req.receivedAt, err, req.buf.Bytes())
		if !h.append(w, r, nil, []store.Quarantined{q}) {
			return
		}
		h.observe(req.src, nil, []string{callType}, outcomeOf(err))
		writeSpecError(w, http.StatusBadRequest, err)
		return
	}
	events := []store.Event{event(req.src, msg)}
	if !h.append(w, r, events, nil) {
		return
	}
	h.observe(req.src, events, nil, "")
	writeOK(w, events[0].Seq == 0)
}

// importPath is Segment's endpoint for historical data. Here it keeps each
// message's recorded receivedAt and corrected timestamp
// (spec.Defaults.KeepRecorded), so that a replayed archive keeps its
// history; the write key authenticates it as it does every call, and the
// other endpoints ignore a receivedAt sent to them.
const importPath = "/v1/import"

// batch handles /v1/batch, /v1/import and analytics.js's /b and /v1/b.
func (h *Handler) batch(w http.ResponseWriter, r *http.Request) {
	req, ok := h.begin(w, r, h.opts.Limits.MaxBatchBytes)
	if !ok {
		return
	}
	defer req.done()
	b, err := req.n.DecodeBatch(req.buf.Bytes(), h.opts.Limits.MaxBatchMessages)
	var se *spec.Error
	if errors.As(err, &se) && se.Code == spec.CodeTooManyMessages {
		// A limit, like the body size: refused before looking for a key in
		// the body, which DecodeBatch does not return then.
		writeSpecError(w, http.StatusRequestEntityTooLarge, err)
		return
	}
	if !req.keyKnown {
		key := ""
		if b != nil {
			key = b.WriteKey
			if key == "" {
				// analytics.js puts the key in every message too.
				for i, raw := range b.Messages {
					if b.Broken[i] == nil {
						if m, _ := req.n.Normalize(raw, "", &b.Defaults, req.receivedAt); m != nil {
							key = m.WriteKey
						}
						break
					}
				}
			}
		}
		if !h.sourceFromBody(w, req, key, err) {
			return
		}
	}
	if b != nil && r.URL.Path == importPath {
		b.Defaults.KeepRecorded = true
	}
	if err != nil {
		q := quarantined(req.src, &spec.Message{}, req.receivedAt, err, req.buf.Bytes())
		if !h.append(w, r, nil, []store.Quarantined{q}) {
			return
		}
		h.observe(req.src, nil, []string{""}, Quarantined)
		writeSpecError(w, http.StatusBadRequest, err)
		return
	}

	events := make([]store.Event, 0, len(b.Messages))
	rejected := []rejection{} // always a list in the response
	var quar []store.Quarantined
	var quarTypes []string
	for i, raw := range b.Messages {
		var (
			msg *spec.Message
			err error
		)
		if broken := b.Broken[i]; broken != nil {
			msg, err = &spec.Message{}, broken
		} else if len(raw) > h.opts.Limits.MaxMessageBytes {
			msg = &spec.Message{}
			err = &spec.Error{Code: spec.CodeTooLarge, Message: fmt.Sprintf("message is larger than the limit of %d bytes", h.opts.Limits.MaxMessageBytes)}
		} else {
			msg, err = req.n.Normalize(raw, "", &b.Defaults, req.receivedAt)
		}
		if err != nil {
			quar = append(quar, quarantined(req.src, msg, req.receivedAt, err, raw))
			rejected = append(rejected, newRejection(i, msg.MessageID, err))
			quarTypes = append(quarTypes, msg.Type)
			continue
		}
		events = append(events, event(req.src, msg))
	}
	if !h.append(w, r, events, quar) {
		return
	}
	h.observe(req.src, events, quarTypes, Rejected)
	stored := 0
	for i := range events {
		if events[i].Seq != 0 { // the log leaves a duplicate's Seq at 0
			stored++
		}
	}
	resp := batchResponse{Success: true, Accepted: stored, Duplicates: len(events) - stored, Rejected: rejected}
	status := http.StatusOK
	if len(events) == 0 && len(rejected) > 0 {
		// Nothing usable: a 4xx, which SDKs do not retry.
		status = http.StatusBadRequest
		resp.Success, resp.Code, resp.Message = false, "invalid_batch", "every message in the batch was rejected"
	}
	writeJSON(w, status, resp)
}

// request is what single and batch calls start from: the source when the
// header named it, the body read, and a normalizer, both pooled.
type request struct {
	h          *Handler
	src        store.Source
	keyKnown   bool
	buf        *bytes.Buffer
	n          *spec.Normalizer
	receivedAt time.Time
}

// begin authenticates by header (if any) and reads the body up to limit;
// it answers the request itself when either fails.
func (h *Handler) begin(w http.ResponseWriter, r *http.Request, limit int) (*request, bool) {
	src, keyKnown, failed := h.authenticate(w, r)
	if failed {
		return nil, false
	}
	buf, ok := h.readBody(w, r, limit)
	if !ok {
		return nil, false
	}
	return &request{h: h, src: src, keyKnown: keyKnown, buf: buf,
		n: h.normalizers.Get().(*spec.Normalizer), receivedAt: h.opts.Now()}, true
}

// done returns the pooled buffer and normalizer.
func (req *request) done() {
	req.h.buffers.Put(req.buf)
	req.h.normalizers.Put(req.n)
}

// authenticate checks the Authorization header. keyKnown is false when the
// request has none, and the key must then come from the body.
func (h *Handler) authenticate(w http.ResponseWriter, r *http.Request) (src store.Source, keyKnown, failed bool) {
	if r.Header.Get("Authorization") == "" {
		return store.Source{}, false, false
	}
	key, _ := auth.Credential(r)
	if key == "" {
		writeError(w, http.StatusUnauthorized, "unauthorized", "", "the Authorization header must be Basic auth with the write key as username")
		return store.Source{}, false, true
	}
	src, ok := h.opts.Sources.Source(key)
	if !ok {
		writeError(w, http.StatusUnauthorized, "unauthorized", "", "invalid write key")
		return store.Source{}, false, true
	}
	return src, true, false
}

// sourceFromBody authenticates by the writeKey field when there was no
// header, and says whether the request may go on. A body that could not be
// parsed has no key to find; its JSON error is the useful answer then.
func (h *Handler) sourceFromBody(w http.ResponseWriter, req *request, key string, parseErr error) bool {
	if key == "" {
		var se *spec.Error
		if errors.As(parseErr, &se) && se.Code == spec.CodeInvalidJSON {
			writeSpecError(w, http.StatusBadRequest, parseErr)
			return false
		}
		writeError(w, http.StatusUnauthorized, "unauthorized", "", "missing write key: send it as the Basic auth username or as writeKey in the body")
		return false
	}
	src, ok := h.opts.Sources.Source(key)
	if !ok {
		writeError(w, http.StatusUnauthorized, "unauthorized", "", "invalid write key")
		return false
	}
	req.src = src
	return true
}

// append commits and, when that fails, answers 503 so that SDKs retry: a
// message we could not store must not be acknowledged.
func (h *Handler) append(w http.ResponseWriter, r *http.Request, events []store.Event, q []store.Quarantined) bool {
	err := h.opts.Log.Append(r.Context(), events, q)
	if err == nil {
		if h.opts.Tap != nil {
			h.opts.Tap.Committed(events, q)
		}
		return true
	}
	if r.Context().Err() != nil {
		return false // the client is gone; it will retry and dedup catches it
	}
	h.opts.Logger.Error("append to the log failed", "err", err, "events", len(events), "quarantined", len(q))
	w.Header().Set("Retry-After", "5")
	writeError(w, http.StatusServiceUnavailable, "unavailable", "", "the event log cannot store events right now; retry later")
	return false
}

func event(src store.Source, m *spec.Message) store.Event {
	r := m.Routing
	return store.Event{
		Workspace:   src.Workspace,
		Source:      src.Name,
		MessageID:   m.MessageID,
		Type:        m.Type,
		ReceivedAt:  m.ReceivedAt,
		Timestamp:   m.Timestamp,
		Warnings:    m.Warnings,
		UserID:      r.UserID,
		AnonymousID: r.AnonymousID,
		PreviousID:  r.PreviousID,
		GroupID:     r.GroupID,
		Name:        r.Name,
		Body:        m.JSON,
	}
}

// quarantined keeps a copy of raw: the request buffer is reused.
func quarantined(src store.Source, m *spec.Message, receivedAt time.Time, err error, raw []byte) store.Quarantined {
	code := "invalid"
	var se *spec.Error
	if errors.As(err, &se) {
		code = se.Code
	}
	return store.Quarantined{
		Workspace:  src.Workspace,
		Source:     src.Name,
		ReceivedAt: spec.Millis(receivedAt),
		MessageID:  m.MessageID,
		Code:       code,
		Reason:     err.Error(),
		Raw:        bytes.Clone(raw),
	}
}
