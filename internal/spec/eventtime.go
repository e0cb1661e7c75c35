package spec

import (
	"fmt"
	"time"

	"github.com/go-json-experiment/json/jsontext"
)

// The corrected timestamp orders trait writes (last writer wins), so a time
// that cannot be right must not be kept: an event dated in the far future
// would win every trait against all later calls, and one dated centuries
// ago would become a profile's first_seen. Roster takes receivedAt instead,
// as for a call that sent no time, and stores a warning with the event.
const (
	// MaxFutureSkew is how far after receivedAt a corrected timestamp may
	// be: clocks and queues are off by minutes or hours, never by days.
	MaxFutureSkew = 24 * time.Hour
)

// EarliestTimestamp is the earliest corrected timestamp Roster keeps, the
// Unix epoch: no analytics event is older, and a clock that has lost its
// time reads the epoch or later. Historical imports (years old) are kept.
var EarliestTimestamp = time.Unix(0, 0).UTC()

// eventTime is the call's timestamp: the client's time corrected for the
// skew of its clock, receivedAt − (sentAt − originalTimestamp), when both
// were sent, else the client's time, else receivedAt. It is computed in
// seconds and nanoseconds apart, so that a skew of centuries does not
// overflow a time.Duration. A result after receivedAt + MaxFutureSkew or
// before EarliestTimestamp is replaced by receivedAt, and the warning says
// so; receivedAt is the event's own (an import keeps the archive's), so the
// rule holds for history as for live traffic.
func eventTime(receivedAt, orig time.Time, hasOrig bool, sent time.Time, hasSent bool) (time.Time, string) {
	var t time.Time
	switch {
	case hasOrig && hasSent:
		sec := receivedAt.Unix() - (sent.Unix() - orig.Unix())
		nsec := int64(receivedAt.Nanosecond()) - int64(sent.Nanosecond()-orig.Nanosecond())
		t = time.Unix(sec, nsec)
	case hasOrig:
		t = orig
	default:
		return receivedAt, ""
	}
	t = Millis(t)
	switch {
	case t.After(receivedAt.Add(MaxFutureSkew)):
		return receivedAt, fmt.Sprintf("timestamp: the corrected time %s is more than %s after receivedAt; receivedAt is used",
			t.Format(time.RFC3339Nano), MaxFutureSkew)
	case t.Before(EarliestTimestamp):
		return receivedAt, fmt.Sprintf("timestamp: the corrected time %s is before %s; receivedAt is used",
			t.Format(time.RFC3339Nano), EarliestTimestamp.Format(time.RFC3339))
	}
	return t, ""
}

// keepRecorded applies the times of a message replayed from an archive
// (a Segment or RudderStack archive, a Roster export): its recorded
// receivedAt replaces server time, unless it is later than server time (a
// clock cannot have received it in the future). A message that carries
// its receivedAt and a timestamp was corrected when first received: that
// timestamp is kept as it is, and originalTimestamp only if it has one.
// Otherwise (a RudderStack payload sends originalTimestamp and sentAt) the
// client's time is corrected against the recorded receivedAt as usual. It
// returns the client's own timestamp and, when kept, the corrected one.
// Dedup is not affected: stores count the window from their own clock.
func keepRecorded(msg *Message, f *fields) (clientTS jsontext.Value, corrected time.Time, err error) {
	clientTS = f.timestamp
	if absent(clientTS) {
		clientTS = f.originalTimestamp
	}
	received, ok, err := timeField("receivedAt", f.receivedAt)
	if err != nil {
		return nil, time.Time{}, err
	}
	if !ok {
		return clientTS, time.Time{}, nil
	}
	if !received.After(msg.ReceivedAt) {
		msg.ReceivedAt = Millis(received)
	}
	if absent(f.timestamp) {
		return clientTS, time.Time{}, nil
	}
	if corrected, _, err = timeField("timestamp", f.timestamp); err != nil {
		return nil, time.Time{}, err
	}
	if absent(f.originalTimestamp) {
		return nil, corrected, nil
	}
	return f.originalTimestamp, corrected, nil
}
