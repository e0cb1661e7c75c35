// Package destination holds what every destination shares: the event a
// conversion receives, the requests it returns, the integrations filter and
// the settings decoder. Each provider's conversion lives in a package below
// this one and does no I/O; delivery (outbox, retries, dead letters) sends
// what conversions return.
package destination

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Event is a logged event as a conversion sees it: the normalized message
// with its common fields read out. Ids are strings: ingestion stored numeric
// ids as their decimal string.
type Event struct {
	Seq         int64           `json:"-"`
	Type        string          `json:"type"`
	MessageID   string          `json:"messageId"`
	UserID      string          `json:"userId"`
	AnonymousID string          `json:"anonymousId"`
	GroupID     string          `json:"groupId"`
	PreviousID  string          `json:"previousId"`
	Event       string          `json:"event"`
	Name        string          `json:"name"`
	Timestamp   time.Time       `json:"timestamp"`
	Traits      json.RawMessage `json:"traits"`
	Properties  json.RawMessage `json:"properties"`
	Context     json.RawMessage `json:"context"`
	// Integrations is the message's integrations object, as sent.
	Integrations json.RawMessage `json:"integrations"`
	// Options is the integrations object's value for this destination
	// when it is an object (per-destination options), else nil. Delivery
	// sets it.
	Options json.RawMessage `json:"-"`
	// Body is the whole normalized message.
	Body json.RawMessage `json:"-"`
}

// Parse reads a logged event's normalized body.
func Parse(seq int64, body []byte) (Event, error) {
	var e Event
	if err := json.Unmarshal(body, &e); err != nil {
		return Event{}, fmt.Errorf("destination: event %d: %w", seq, err)
	}
	e.Seq, e.Body = seq, body
	return e, nil
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
// applies to all of them.
type BatchConverter interface {
	Converter
	MaxBatch() int
	ConvertBatch(evs []Event) ([]Request, error)
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
