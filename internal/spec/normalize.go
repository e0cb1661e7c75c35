package spec

import (
	"bytes"
	"errors"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/go-json-experiment/json/jsontext"
)

// MaxIDBytes bounds userId, anonymousId, groupId, previousId and messageId:
// they become index keys, and nothing real is longer.
const MaxIDBytes = 1024

// member is one name/value pair of a JSON object. quoted is the name as
// sent and name its unquoted form; all three alias the input unless the
// name has escapes.
type member struct {
	quoted jsontext.Value
	name   []byte
	value  jsontext.Value
}

// Defaults are the batch-level fields merged into every message of a batch;
// a field of the message wins over the batch's.
type Defaults struct {
	context      []member
	integrations []member
	hasContext   bool
	hasInteg     bool
	sentAt       jsontext.Value
	// KeepRecorded makes Normalize keep a message's recorded receivedAt and
	// already-corrected timestamp (see keepRecorded). Ingestion sets it on
	// /v1/import only, the endpoint for history.
	KeepRecorded bool
}

// Normalizer decodes and normalizes calls. It reuses its decoder, so a
// Normalizer serves one goroutine at a time.
type Normalizer struct {
	// NewID generates a messageId for calls that have none.
	NewID func() string

	// in is a bytes.Buffer because jsontext reads one in place, so
	// values alias the input instead of a copy of it.
	in bytes.Buffer
	// members and context are reused from message to message.
	members []member
	context []member
	dec     *jsontext.Decoder
}

// NewNormalizer returns a Normalizer that generates message ids with newID.
func NewNormalizer(newID func() string) *Normalizer {
	n := &Normalizer{NewID: newID}
	n.dec = jsontext.NewDecoder(&n.in)
	return n
}

// reset points the decoder at raw.
func (n *Normalizer) reset(raw []byte) {
	n.in = *bytes.NewBuffer(raw)
	n.dec.Reset(&n.in)
}

// object splits a JSON object into its members. The values alias raw.
// Duplicate names and invalid UTF-8 are errors, as is anything after the
// object.
func (n *Normalizer) object(raw []byte, dst []member) ([]member, error) {
	n.reset(raw)
	tok, err := n.dec.ReadToken()
	if err != nil {
		return nil, err
	}
	if tok.Kind() != '{' {
		return nil, errNotObject
	}
	for n.dec.PeekKind() != '}' {
		// Reading the name as a raw value keeps it in the input: no
		// allocation, and the client's spelling is written back as sent.
		q, err := n.dec.ReadValue()
		if err != nil {
			return nil, err
		}
		end := int(n.dec.InputOffset())
		m := member{quoted: jsontext.Value(raw[end-len(q) : end])}
		if m.name = m.quoted[1 : len(m.quoted)-1]; bytes.IndexByte(m.name, '\\') >= 0 {
			if m.name, err = jsontext.AppendUnquote(nil, m.quoted); err != nil {
				return nil, err
			}
		}
		v, err := n.dec.ReadValue()
		if err != nil {
			return nil, err
		}
		end = int(n.dec.InputOffset())
		m.value = jsontext.Value(raw[end-len(v) : end])
		dst = append(dst, m)
	}
	if _, err := n.dec.ReadToken(); err != nil {
		return nil, err
	}
	if _, err := n.dec.ReadToken(); err != io.EOF {
		if err == nil {
			err = errors.New("unexpected data after the top-level value")
		}
		return nil, err
	}
	return dst, nil
}

var errNotObject = errors.New("not a JSON object")

// jsonError turns a decoding error into an invalid_json Error that says where.
func jsonError(field string, err error) *Error {
	if errors.Is(err, errNotObject) {
		if field == "" {
			return errorf(CodeInvalidType, "", "message must be a JSON object")
		}
		return errorf(CodeInvalidType, field, "must be a JSON object")
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return errorf(CodeInvalidJSON, field, "malformed JSON: unexpected end of input")
	}
	msg := err.Error()
	msg = strings.TrimPrefix(msg, "jsontext: ")
	return errorf(CodeInvalidJSON, field, "malformed JSON: %s", msg)
}

// fields are the members of a call that normalization reads or rewrites.
type fields struct {
	typ, messageID, userID, anonymousID, groupID, previousID, event, name jsontext.Value
	traits, properties, context, integrations                             jsontext.Value
	timestamp, originalTimestamp, sentAt, writeKey, receivedAt            jsontext.Value
}

func (f *fields) set(m member) {
	switch string(m.name) {
	case "type":
		f.typ = m.value
	case "messageId":
		f.messageID = m.value
	case "userId":
		f.userID = m.value
	case "anonymousId":
		f.anonymousID = m.value
	case "groupId":
		f.groupID = m.value
	case "previousId":
		f.previousID = m.value
	case "event":
		f.event = m.value
	case "name":
		f.name = m.value
	case "traits":
		f.traits = m.value
	case "properties":
		f.properties = m.value
	case "context":
		f.context = m.value
	case "integrations":
		f.integrations = m.value
	case "timestamp":
		f.timestamp = m.value
	case "originalTimestamp":
		f.originalTimestamp = m.value
	case "sentAt":
		f.sentAt = m.value
	case "writeKey":
		f.writeKey = m.value
	case "receivedAt":
		f.receivedAt = m.value
	}
}

// Normalize decodes, validates and normalizes one call. pathType is the call
// type given by the route ("" for batch messages, which carry their own);
// d holds the batch-level defaults (nil for a single call).
//
// On a validation error Normalize still returns the Message with whatever it
// could read (type, messageId, writeKey) so that the caller can quarantine
// it under its source.
func (n *Normalizer) Normalize(raw []byte, pathType string, d *Defaults, receivedAt time.Time) (*Message, error) {
	msg := &Message{ReceivedAt: Millis(receivedAt)}
	members, err := n.object(raw, n.members[:0])
	n.members = members
	if err != nil {
		return msg, jsonError("", err)
	}
	var f fields
	for _, m := range members {
		f.set(m)
	}
	if d == nil {
		d = &Defaults{}
	}
	if f.writeKey != nil && f.writeKey.Kind() == '"' {
		msg.WriteKey, _ = unquote(f.writeKey)
	}

	// Type and messageId first: they identify the message even when the
	// rest is invalid. Both are read before either is checked, so that a
	// bad type still leaves the messageId for the quarantine.
	msg.Type = pathType
	var typeErr error
	if msg.Type == "" {
		typeErr = stringField(&msg.Type, "type", f.typ)
	}
	idErr := idField(&msg.MessageID, "messageId", f.messageID)
	if msg.MessageID == "" && idErr == nil {
		msg.MessageID = n.NewID()
	}
	if pathType == "" {
		switch {
		case typeErr != nil:
			return msg, typeErr
		case msg.Type == "":
			return msg, errorf(CodeMissingField, "type", "is required in a batch message (one of identify, track, page, screen, group, alias)")
		case !validType(msg.Type):
			return msg, errorf(CodeInvalidValue, "type", "%q is not a call type (one of identify, track, page, screen, group, alias)", msg.Type)
		}
	}
	if idErr != nil {
		return msg, idErr
	}
	for _, id := range []struct {
		dst   *string
		name  string
		value jsontext.Value
	}{
		{&msg.UserID, "userId", f.userID},
		{&msg.AnonymousID, "anonymousId", f.anonymousID},
		{&msg.GroupID, "groupId", f.groupID},
		{&msg.PreviousID, "previousId", f.previousID},
	} {
		if err := idField(id.dst, id.name, id.value); err != nil {
			return msg, err
		}
	}
	for _, obj := range []struct {
		name  string
		value jsontext.Value
	}{{"traits", f.traits}, {"properties", f.properties}, {"context", f.context}, {"integrations", f.integrations}} {
		if k := obj.value.Kind(); obj.value != nil && k != '{' && k != 'n' {
			return msg, errorf(CodeInvalidType, obj.name, "must be an object, got %s", kindName(k))
		}
	}
	if err := validate(msg, &f); err != nil {
		return msg, err
	}
	if err := n.route(msg, &f, d); err != nil {
		return msg, err
	}

	// Times: the client's timestamp is corrected for its clock skew, which
	// is what sentAt measures.
	clientTS := f.timestamp
	if absent(clientTS) {
		clientTS = f.originalTimestamp
	}
	sentAt := f.sentAt
	if absent(sentAt) {
		sentAt = d.sentAt
	}
	var corrected time.Time
	if d.KeepRecorded {
		if clientTS, corrected, err = keepRecorded(msg, &f); err != nil {
			return msg, err
		}
	}
	orig, hasOrig, err := timeField("timestamp", clientTS)
	if err != nil {
		return msg, err
	}
	sent, hasSent, err := timeField("sentAt", sentAt)
	if err != nil {
		return msg, err
	}
	// A recorded timestamp (KeepRecorded) was corrected when first
	// received; it is held to the same bounds.
	var timeWarning string
	if !corrected.IsZero() {
		msg.Timestamp, timeWarning = eventTime(msg.ReceivedAt, corrected, true, time.Time{}, false)
	} else {
		msg.Timestamp, timeWarning = eventTime(msg.ReceivedAt, orig, hasOrig, sent, hasSent)
	}
	if timeWarning != "" {
		msg.Warnings = append(msg.Warnings, timeWarning)
	}

	if (msg.Type == Group || msg.Type == Identify) && f.traits.Kind() == '{' {
		traits, err := n.object(f.traits, nil)
		if err != nil {
			return msg, jsonError("traits", err)
		}
		msg.Warnings = traitWarnings(msg.Type, traits, msg.Warnings)
	}

	out, err := n.encode(msg, members, d, &f, clientTS, sentAt, len(raw))
	if err != nil {
		return msg, err
	}
	msg.JSON = out
	return msg, nil
}

// validate applies the per-type required fields.
func validate(msg *Message, f *fields) error {
	if msg.UserID == "" && msg.AnonymousID == "" {
		return errorf(CodeMissingField, "userId", "userId or anonymousId is required")
	}
	switch msg.Type {
	case Group:
		if msg.GroupID == "" {
			return errorf(CodeMissingField, "groupId", "is required for group calls")
		}
	case Alias:
		if msg.UserID == "" {
			return errorf(CodeMissingField, "userId", "is required for alias calls")
		}
		if msg.PreviousID == "" {
			return errorf(CodeMissingField, "previousId", "is required for alias calls")
		}
	case Track:
		var event string
		if err := stringField(&event, "event", f.event); err != nil {
			return err
		}
		if event == "" {
			return errorf(CodeMissingField, "event", "is required for track calls")
		}
	}
	return nil
}

// encode writes the normalized message: type and messageId first, then the
// client's members in their order (ids as strings, context and integrations
// merged with the batch's), then the times.
func (n *Normalizer) encode(msg *Message, members []member, d *Defaults, f *fields, clientTS, sentAt jsontext.Value, size int) ([]byte, error) {
	out := make([]byte, 0, size+192)
	out = append(out, `{"type":`...)
	out, _ = jsontext.AppendQuote(out, msg.Type)
	out = append(out, `,"messageId":`...)
	out, _ = jsontext.AppendQuote(out, msg.MessageID)
	for _, m := range members {
		var v jsontext.Value
		switch string(m.name) {
		case "type", "messageId", "writeKey", "timestamp", "originalTimestamp", "sentAt", "receivedAt":
			continue
		case "userId":
			v = idValue(m.value, msg.UserID)
		case "anonymousId":
			v = idValue(m.value, msg.AnonymousID)
		case "groupId":
			v = idValue(m.value, msg.GroupID)
		case "previousId":
			v = idValue(m.value, msg.PreviousID)
		case "context":
			merged, err := n.merge(m.value, d.context, d.hasContext)
			if err != nil {
				return nil, jsonError("context", err)
			}
			v = merged
		case "integrations":
			merged, err := n.merge(m.value, d.integrations, d.hasInteg)
			if err != nil {
				return nil, jsonError("integrations", err)
			}
			v = merged
		default:
			v = m.value
		}
		out = append(out, ',')
		out = append(out, m.quoted...)
		out = append(out, ':')
		out = append(out, v...)
	}
	if f.context == nil && d.hasContext {
		out = appendObject(append(out, `,"context":`...), d.context)
	}
	if f.integrations == nil && d.hasInteg {
		out = appendObject(append(out, `,"integrations":`...), d.integrations)
	}
	if !absent(clientTS) {
		out = appendMember(out, "originalTimestamp", clientTS)
	}
	if !absent(sentAt) {
		out = appendMember(out, "sentAt", sentAt)
	}
	out = append(out, `,"timestamp":"`...)
	out = msg.Timestamp.AppendFormat(out, TimeLayout)
	out = append(out, `","receivedAt":"`...)
	out = msg.ReceivedAt.AppendFormat(out, TimeLayout)
	out = append(out, `"}`...)
	return out, nil
}

// merge returns the message's object with the batch's members added where
// the message has none of that name.
func (n *Normalizer) merge(v jsontext.Value, batch []member, has bool) (jsontext.Value, error) {
	if !has {
		return v, nil
	}
	if v.Kind() == 'n' {
		return appendObject(nil, batch), nil
	}
	own, err := n.object(v, nil)
	if err != nil {
		return nil, err
	}
	out := make([]member, 0, len(own)+len(batch))
	out = append(out, own...)
	for _, b := range batch {
		found := false
		for _, o := range own {
			if bytes.Equal(o.name, b.name) {
				found = true
				break
			}
		}
		if !found {
			out = append(out, b)
		}
	}
	return appendObject(nil, out), nil
}

func appendMember(out []byte, name string, v jsontext.Value) []byte {
	out = append(out, ',')
	out, _ = jsontext.AppendQuote(out, name)
	out = append(out, ':')
	return append(out, v...)
}

func appendObject(out []byte, members []member) []byte {
	out = append(out, '{')
	for i, m := range members {
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, m.quoted...)
		out = append(out, ':')
		out = append(out, m.value...)
	}
	return append(out, '}')
}

// idValue writes an id as a JSON string; a numeric id becomes its decimal
// string. Anything else (null, "") is kept as sent.
func idValue(v jsontext.Value, s string) jsontext.Value {
	if v.Kind() != '0' {
		return v
	}
	q, _ := jsontext.AppendQuote(nil, s)
	return q
}

func unquote(v jsontext.Value) (string, error) {
	if len(v) >= 2 && bytes.IndexByte(v, '\\') < 0 {
		return string(v[1 : len(v)-1]), nil
	}
	b, err := jsontext.AppendUnquote(nil, v)
	return string(b), err
}

// stringField reads an optional string field; null or absent leaves dst empty.
func stringField(dst *string, name string, v jsontext.Value) error {
	switch v.Kind() {
	case 0, 'n':
		return nil
	case '"':
		s, err := unquote(v)
		if err != nil {
			return errorf(CodeInvalidJSON, name, "malformed string")
		}
		*dst = s
		return nil
	}
	return errorf(CodeInvalidType, name, "must be a string, got %s", kindName(v.Kind()))
}

// idField reads an identifier, which may be sent as a string or a number.
func idField(dst *string, name string, v jsontext.Value) error {
	switch v.Kind() {
	case 0, 'n':
		return nil
	case '"':
		if err := stringField(dst, name, v); err != nil {
			return err
		}
	case '0':
		s, err := NumberString(string(v))
		if err != nil {
			return errorf(CodeInvalidValue, name, "%v", err)
		}
		*dst = s
	default:
		return errorf(CodeInvalidType, name, "must be a string or a number, got %s", kindName(v.Kind()))
	}
	if len(*dst) > MaxIDBytes {
		return errorf(CodeInvalidValue, name, "is longer than %d bytes", MaxIDBytes)
	}
	// Ids become keys of profiles, memberships and identities, which a
	// PostgreSQL text column cannot hold with a NUL in it.
	if strings.IndexByte(*dst, 0) >= 0 {
		return errorf(CodeInvalidValue, name, "must not contain the NUL character (U+0000)")
	}
	return nil
}

// NumberString renders a JSON number literal as the decimal string that a
// numeric id is stored as, without exponent: 42 → "42", 1e3 → "1000",
// 1.50 → "1.5".
func NumberString(lit string) (string, error) {
	integer := true
	for i := 0; i < len(lit); i++ {
		if c := lit[i]; (c < '0' || c > '9') && !(i == 0 && c == '-') {
			integer = false
			break
		}
	}
	if integer {
		return lit, nil
	}
	f, err := strconv.ParseFloat(lit, 64)
	if err != nil {
		return "", errors.New("number out of range")
	}
	return strconv.FormatFloat(f, 'f', -1, 64), nil
}

// absent reports whether an optional time field was not sent: missing,
// null or "" (which timeField also reads as no time).
func absent(v jsontext.Value) bool {
	return v == nil || v.Kind() == 'n' || string(v) == `""`
}

// timeField parses an optional ISO-8601 time.
func timeField(name string, v jsontext.Value) (time.Time, bool, error) {
	var s string
	if err := stringField(&s, name, v); err != nil {
		return time.Time{}, false, err
	}
	if s == "" {
		return time.Time{}, false, nil
	}
	t, err := parseTime(s)
	if err != nil {
		return time.Time{}, false, errorf(CodeInvalidValue, name, "%q is not an ISO-8601 date", s)
	}
	// Roster writes times with a four-digit UTC year; a time it could not
	// write (or read back) is not a usable event time.
	if y := t.UTC().Year(); y < 0 || y > 9999 {
		return time.Time{}, false, errorf(CodeInvalidValue, name, "%q is out of range (years 0000 to 9999 in UTC)", s)
	}
	return t, true, nil
}

func kindName(k jsontext.Kind) string {
	switch k {
	case '"':
		return "a string"
	case '0':
		return "a number"
	case 't', 'f':
		return "a boolean"
	case '{':
		return "an object"
	case '[':
		return "an array"
	case 'n':
		return "null"
	}
	return "nothing"
}
