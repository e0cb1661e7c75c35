// Package destination holds what every destination shares: the event a
// conversion receives, the requests it returns, the integrations filter and
// the settings decoder. Each provider's conversion lives in a package below
// this one and does no I/O; delivery (outbox, retries, dead letters) sends
// what conversions return.
package destination

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"roster/internal/spec"
	"roster/internal/store"
)

// Event is a logged event as a conversion sees it: the ids, group and name
// that ingestion computed (store.Event), and the parts of the normalized
// message a conversion builds its payload from.
type Event struct {
	Seq int64
	// Source is the name of the source the event came in through.
	Source      string
	Type        string
	MessageID   string
	UserID      string
	AnonymousID string
	// GroupID is a group call's groupId, else the call's context.groupId.
	GroupID    string
	PreviousID string
	// Name is a track call's event, or a page or screen call's name.
	Name       string
	Timestamp  time.Time
	ReceivedAt time.Time
	Traits     json.RawMessage
	Properties json.RawMessage
	Context    json.RawMessage
	// Integrations is the message's integrations object, as sent.
	Integrations json.RawMessage
	// Options is the integrations object's value for this destination
	// when it is an object (per-destination options), else nil. Delivery
	// sets it.
	Options json.RawMessage
	// Body is the whole normalized message.
	Body json.RawMessage
}

// payload is what a conversion reads from the body itself.
type payload struct {
	Traits       json.RawMessage `json:"traits"`
	Properties   json.RawMessage `json:"properties"`
	Context      json.RawMessage `json:"context"`
	Integrations json.RawMessage `json:"integrations"`
}

// FromLog is a logged event as a conversion sees it: what the log stores
// next to the body as it is, the payload from the body.
func FromLog(e store.Event) (Event, error) {
	var p payload
	if err := json.Unmarshal(e.Body, &p); err != nil {
		return Event{}, fmt.Errorf("destination: event %d: %w", e.Seq, err)
	}
	return event(e, p), nil
}

// Parse is the event a body alone holds, for a retry, which the outbox
// keeps as its body: spec reads back what ingestion computed with it, by
// the same rules.
func Parse(seq int64, body []byte) (Event, error) {
	m, err := spec.ReadStored(body)
	if err != nil {
		return Event{}, fmt.Errorf("destination: event %d: %w", seq, err)
	}
	var p struct {
		payload
		Timestamp time.Time `json:"timestamp"`
	}
	if err := json.Unmarshal(body, &p); err != nil {
		return Event{}, fmt.Errorf("destination: event %d: %w", seq, err)
	}
	r := m.Routing
	return event(store.Event{Seq: seq, Type: m.Type, MessageID: m.MessageID, Timestamp: p.Timestamp,
		UserID: r.UserID, AnonymousID: r.AnonymousID, PreviousID: r.PreviousID, GroupID: r.GroupID, Name: r.Name, Body: body}, p.payload), nil
}

func event(e store.Event, p payload) Event {
	return Event{Seq: e.Seq, Source: e.Source, ReceivedAt: e.ReceivedAt, Type: e.Type, MessageID: e.MessageID, UserID: e.UserID, AnonymousID: e.AnonymousID,
		GroupID: e.GroupID, PreviousID: e.PreviousID, Name: e.Name, Timestamp: e.Timestamp,
		Traits: p.Traits, Properties: p.Properties, Context: p.Context, Integrations: p.Integrations, Body: e.Body}
}

// TraitMap decodes an event's traits (or properties) object; an absent or
// non-object value gives an empty map. Numbers stay json.Number so that
// ids and large integers pass through unchanged.
func TraitMap(raw json.RawMessage) map[string]any {
	m := map[string]any{}
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' {
		return m
	}
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	if d.Decode(&m) != nil {
		return map[string]any{}
	}
	return m
}

// Request is one HTTP request to a provider.
type Request struct {
	Method string
	URL    string
	Header http.Header
	Body   []byte
}

// A Converter turns an event into the requests that deliver it to one
// provider. It is a pure function of its settings and the event: no I/O,
// no clock. No requests means the provider takes no such call. An error
// means the event can never be delivered; it goes to the dead letters.
type Converter interface {
	Convert(ev Event) ([]Request, error)
}

// A BatchConverter can also deliver several events in one request. Delivery
// hands it up to MaxBatch events at a time; the outcome of the requests
// applies to all of them. When ConvertBatch fails, delivery converts and
// sends the events one by one, so that an event that cannot be converted
// fails alone.
type BatchConverter interface {
	Converter
	MaxBatch() int
	ConvertBatch(evs []Event) ([]Request, error)
}

// A Loader delivers batches over a connection of its own (a warehouse)
// instead of returning HTTP requests. Delivery hands it up to MaxBatch
// events at a time, in log order, with the same cursor, retries and dead
// letters as any destination. An error wrapping ErrPermanent sends the
// batch to the dead letters; any other error retries it, and a round in
// which every load fails pauses delivery as for a provider that is down.
// Load must be idempotent: a batch may be loaded again after a crash.
type Loader interface {
	MaxBatch() int
	Load(ctx context.Context, evs []Event) error
}

// A ResponseChecker judges a provider's answers itself, for providers
// whose 200 can still mean "rejected" (Mixpanel's {"status":0}). Delivery
// reads at most 4 KB of the body.
type ResponseChecker interface {
	Check(r Request, status int, body []byte) Verdict
}

// Factory builds a destination's converter from its configured settings.
// Errors name the setting, as "settings.projectToken: required".
type Factory func(settings map[string]any) (Converter, error)

// ErrPermanent marks a conversion error: the event can never be delivered
// as it is.
var ErrPermanent = errors.New("cannot be delivered")

// DecodeSettings copies configured settings into v, a pointer to a struct
// with json tags. Unknown settings and wrong types are errors that name the
// setting.
func DecodeSettings(settings map[string]any, v any) error {
	raw, err := json.Marshal(settings)
	if err != nil {
		return fmt.Errorf("settings: %w", err)
	}
	d := json.NewDecoder(bytes.NewReader(raw))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return fmt.Errorf("settings.%s: must be %s, not %s", te.Field, te.Type, te.Value)
		}
		return fmt.Errorf("settings: %w", err)
	}
	return nil
}

// Required reports a missing setting.
func Required(name string) error {
	return fmt.Errorf("settings.%s: required", name)
}
