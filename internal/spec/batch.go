package spec

import (
	"errors"

	"github.com/go-json-experiment/json/jsontext"
)

// Batch is a decoded /v1/batch (or /v1/import, /b) body, before its
// messages are normalized.
type Batch struct {
	// Messages alias the body.
	Messages [][]byte
	// Broken are the messages, by index, that are not valid JSON although
	// the batch around them is; Messages holds them as sent.
	Broken   map[int]*Error
	Defaults Defaults
	WriteKey string
}

// DecodeBatch splits a batch body into its messages and the batch-level
// fields. It fails on malformed JSON, on a body that is not a batch, and on
// more than maxMessages messages; the messages themselves are checked by
// Normalize. Once the body is a JSON object, the Batch is returned even with
// an error, carrying the writeKey so that the caller can authenticate, and
// quarantine, a bad batch. A message that is not valid JSON inside an
// intact batch does not fail the batch: it is returned in Broken.
func (n *Normalizer) DecodeBatch(body []byte, maxMessages int) (*Batch, error) {
	b, err := n.decodeBatch(body, maxMessages)
	var se *Error
	if err == nil || !errors.As(err, &se) || se.Code != CodeInvalidJSON {
		return b, err
	}
	patched, broken, ok := salvageBatch(body)
	if !ok {
		return b, err
	}
	salvaged, perr := n.decodeBatch(patched, maxMessages)
	if errors.As(perr, &se) && se.Code == CodeInvalidJSON {
		return b, err // the body is broken beyond its messages
	}
	if salvaged != nil && perr == nil {
		salvaged.Broken = make(map[int]*Error, len(broken))
		for i, m := range broken {
			salvaged.Messages[i] = m.raw
			salvaged.Broken[i] = m.err
		}
	}
	return salvaged, perr
}

func (n *Normalizer) decodeBatch(body []byte, maxMessages int) (*Batch, error) {
	top, err := n.object(body, nil)
	if err != nil {
		jerr := jsonError("", err)
		if jerr.Code == CodeInvalidType {
			jerr.Message = "body must be a JSON object with a batch array"
		}
		return nil, jerr
	}
	b := &Batch{}
	for _, m := range top {
		if string(m.name) == "writeKey" {
			if err := stringField(&b.WriteKey, "writeKey", m.value); err != nil {
				return b, err
			}
		}
	}
	var batch jsontext.Value
	for _, m := range top {
		switch string(m.name) {
		case "batch":
			batch = m.value
		case "context":
			if b.Defaults.context, err = n.defaultObject("context", m.value); err != nil {
				return b, err
			}
			b.Defaults.hasContext = b.Defaults.context != nil
		case "integrations":
			if b.Defaults.integrations, err = n.defaultObject("integrations", m.value); err != nil {
				return b, err
			}
			b.Defaults.hasInteg = b.Defaults.integrations != nil
		case "sentAt":
			if _, _, err := timeField("sentAt", m.value); err != nil {
				return b, err
			}
			b.Defaults.sentAt = m.value
		}
	}
	if batch == nil {
		return b, errorf(CodeMissingField, "batch", "is required: an array of messages")
	}
	if batch.Kind() != '[' {
		return b, errorf(CodeInvalidType, "batch", "must be an array, got %s", kindName(batch.Kind()))
	}
	n.reset(batch)
	if _, err := n.dec.ReadToken(); err != nil {
		return b, jsonError("batch", err)
	}
	for n.dec.PeekKind() != ']' {
		v, err := n.dec.ReadValue()
		if err != nil {
			return b, jsonError("batch", err)
		}
		if len(b.Messages) == maxMessages {
			return b, errorf(CodeTooManyMessages, "batch", "has more than %d messages", maxMessages)
		}
		end := int(n.dec.InputOffset())
		b.Messages = append(b.Messages, batch[end-len(v):end])
	}
	return b, nil
}

// defaultObject parses a batch-level object; null counts as absent.
func (n *Normalizer) defaultObject(name string, v jsontext.Value) ([]member, error) {
	switch v.Kind() {
	case 'n':
		return nil, nil
	case '{':
		ms, err := n.object(v, nil)
		if err != nil {
			return nil, jsonError(name, err)
		}
		if ms == nil {
			ms = []member{}
		}
		return ms, nil
	}
	return nil, errorf(CodeInvalidType, name, "must be an object, got %s", kindName(v.Kind()))
}
