package ingest

import (
	"errors"

	"roster/internal/spec"
	"roster/internal/store"
)

// What became of a message, as Observer counts it.
const (
	// Accepted: stored in the log as a new event.
	Accepted = "accepted"
	// Deduplicated: acknowledged, but its messageId was already in the
	// log within the dedup window, so it was not stored again.
	Deduplicated = "deduplicated"
	// Rejected: refused for what it holds (a missing field, a wrong
	// type, over the size limit) and kept in the quarantine with the
	// reason.
	Rejected = "rejected"
	// Quarantined: a request body that could not be read as messages at
	// all (malformed JSON), kept whole in the quarantine.
	Quarantined = "quarantined"
)

// Observer counts messages by workspace, source, call type and outcome.
// Its labels are names, never a write key.
type Observer interface {
	Messages(workspace, source, callType, outcome string, n int)
}

// countKey is one line of a request's counts.
type countKey struct{ callType, outcome string }

// observe counts a request's messages: events after Append (which leaves
// a duplicate's Seq at 0), and those quarantined, by the call type each
// claimed, under outcome.
func (h *Handler) observe(src store.Source, events []store.Event, quarantinedTypes []string, outcome string) {
	if h.opts.Observe == nil {
		return
	}
	counts := map[countKey]int{}
	for i := range events {
		o := Accepted
		if events[i].Seq == 0 {
			o = Deduplicated
		}
		counts[countKey{callType(events[i].Type), o}]++
	}
	for _, t := range quarantinedTypes {
		counts[countKey{callType(t), outcome}]++
	}
	for k, n := range counts {
		h.opts.Observe.Messages(src.Workspace, src.Name, k.callType, k.outcome, n)
	}
}

// callType keeps the label to the spec's call types, whatever a rejected
// message claimed to be.
func callType(t string) string {
	switch t {
	case spec.Identify, spec.Track, spec.Page, spec.Screen, spec.Group, spec.Alias:
		return t
	}
	return "unknown"
}

// outcomeOf tells a message that could not be read at all from one that
// was read and refused.
func outcomeOf(err error) string {
	var se *spec.Error
	if errors.As(err, &se) && se.Code == spec.CodeInvalidJSON {
		return Quarantined
	}
	return Rejected
}
