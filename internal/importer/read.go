package importer

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/go-json-experiment/json/jsontext"

	"roster/internal/archive"
)

// message is one call to send and where it came from.
type message struct {
	raw  []byte
	line int64
}

// unit is what one input line holds: messages that share batch-level
// fields (defaults: the members other than batch, written as they came,
// or empty).
type unit struct {
	defaults []byte
	messages []message
}

// lineError is a line that cannot be imported.
type lineError struct {
	line int64
	err  error
}

// scanner reads an input, plain or gzip'd, line by line. A file whose
// first line is not JSON on its own (a pretty-printed {"batch":[…]}) is
// read as one JSON value.
type scanner struct {
	br   *bufio.Reader
	line int64
	done bool
	dec  *jsontext.Decoder
	// skip is how many lines a resume passes over unread.
	skip int64
}

// maxLine bounds one line (a whole batch may be one line).
const maxLine = 64 << 20

func newScanner(r io.Reader) (*scanner, error) {
	br := bufio.NewReaderSize(r, 1<<20)
	if magic, err := br.Peek(2); err == nil && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		br = bufio.NewReaderSize(zr, 1<<20)
	}
	return &scanner{br: br, dec: jsontext.NewDecoder(bytes.NewReader(nil))}, nil
}

// next returns the next non-blank line's units, or a line error, or io.EOF.
func (s *scanner) next() (unit, *lineError, error) {
	for !s.done {
		line, err := s.readLine()
		if err == io.EOF {
			s.done = true
			if len(line) == 0 {
				break
			}
		} else if err != nil {
			return unit{}, nil, err
		}
		s.line++
		if s.line <= s.skip {
			continue
		}
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		u, perr := s.parse(line, s.line)
		if perr != nil && s.line == 1 && line[0] == '{' && !jsontext.Value(line).IsValid() {
			// A pretty-printed batch file: the rest belongs to this value.
			rest, rerr := io.ReadAll(s.br)
			if rerr != nil {
				return unit{}, nil, rerr
			}
			whole := append(append(line, '\n'), rest...)
			if jsontext.Value(bytes.TrimSpace(whole)).IsValid() {
				s.done = true
				u, perr = s.parse(bytes.TrimSpace(whole), 1)
				if perr != nil {
					return unit{}, &lineError{1, perr}, nil
				}
				return u, nil, nil
			}
			// Not one value either: report the first line and go on line
			// by line through what was read.
			s.br = bufio.NewReaderSize(bytes.NewReader(rest), 1<<20)
		}
		if perr != nil {
			return unit{}, &lineError{s.line, perr}, nil
		}
		return u, nil, nil
	}
	return unit{}, nil, io.EOF
}

func (s *scanner) readLine() ([]byte, error) {
	var out []byte
	for {
		chunk, err := s.br.ReadSlice('\n')
		if out == nil && err == nil {
			return bytes.Clone(chunk), nil
		}
		out = append(out, chunk...)
		if len(out) > maxLine {
			return nil, fmt.Errorf("line %d is longer than %d bytes", s.line+1, maxLine)
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		return out, err
	}
}

// members lists the top-level members of a JSON object; values alias raw.
func (s *scanner) members(raw []byte) ([][2][]byte, error) {
	s.dec.Reset(bytes.NewReader(raw))
	tok, err := s.dec.ReadToken()
	if err != nil {
		return nil, err
	}
	if tok.Kind() != '{' {
		return nil, errNotObject
	}
	var out [][2][]byte
	for s.dec.PeekKind() != '}' {
		tok, err := s.dec.ReadToken()
		if err != nil {
			return nil, err
		}
		name := []byte(tok.String()) // before the decoder moves on
		v, err := s.dec.ReadValue()
		if err != nil {
			return nil, err
		}
		end := int(s.dec.InputOffset())
		out = append(out, [2][]byte{name, raw[end-len(v) : end]})
	}
	if _, err := s.dec.ReadToken(); err != nil {
		return nil, err
	}
	if _, err := s.dec.ReadToken(); err != io.EOF {
		return nil, errors.New("unexpected data after the JSON object")
	}
	return out, nil
}

var errNotObject = errors.New("not a JSON object")

// parse turns a line into the messages it holds: a message (a Segment
// archive line or a Roster export line), a {"batch":[…]} object, or a
// RudderStack backup record ({"EventPayload":{"batch":[…],"receivedAt":…}}).
func (s *scanner) parse(line []byte, at int64) (unit, error) {
	line = archive.Strip(line)
	ms, err := s.members(line)
	if err != nil {
		return unit{}, fmt.Errorf("not a JSON object: %w", err)
	}
	var batch, payload []byte
	for _, m := range ms {
		switch string(m[0]) {
		case "batch":
			batch = m[1]
		case "EventPayload":
			payload = m[1]
		}
	}
	switch {
	case payload != nil:
		if payload[0] == '"' { // some dumps keep the payload as a JSON string
			var v jsontext.Value
			if v, err = jsontext.AppendUnquote(nil, payload); err != nil {
				return unit{}, fmt.Errorf("EventPayload: %w", err)
			}
			payload = v
		}
		pm, err := s.members(payload)
		if err != nil {
			return unit{}, fmt.Errorf("EventPayload: %w", err)
		}
		var received []byte
		for _, m := range pm {
			switch string(m[0]) {
			case "batch":
				batch = m[1]
			case "receivedAt":
				received = m[1]
			}
		}
		if batch == nil {
			return s.single(payload, pm, at, received), nil
		}
		return s.batch(pm, batch, at, received)
	case batch != nil:
		return s.batch(ms, batch, at, nil)
	}
	return s.single(line, ms, at, nil), nil
}

// batch splits a batch object's messages out and keeps its context,
// integrations and sentAt as defaults.
func (s *scanner) batch(top [][2][]byte, batch []byte, at int64, received []byte) (unit, error) {
	var u unit
	for _, m := range top {
		switch string(m[0]) {
		case "context", "integrations", "sentAt":
			if len(u.defaults) > 0 {
				u.defaults = append(u.defaults, ',')
			}
			u.defaults, _ = jsontext.AppendQuote(u.defaults, string(m[0]))
			u.defaults = append(append(u.defaults, ':'), m[1]...)
		}
	}
	dec := jsontext.NewDecoder(bytes.NewReader(batch))
	if tok, err := dec.ReadToken(); err != nil || tok.Kind() != '[' {
		return unit{}, errors.New("batch: must be an array")
	}
	var raws [][]byte
	for dec.PeekKind() != ']' {
		v, err := dec.ReadValue()
		if err != nil {
			return unit{}, fmt.Errorf("batch: %w", err)
		}
		raws = append(raws, bytes.Clone(v))
	}
	for _, raw := range raws {
		ms, err := s.members(raw)
		if err != nil {
			return unit{}, fmt.Errorf("batch: %w", err)
		}
		u.messages = append(u.messages, s.single(raw, ms, at, received).messages...)
	}
	return u, nil
}

// single readies one message: a messageId derived from its content when
// it has none, so that importing it again is deduplicated, and the
// receivedAt of its envelope when it has none of its own.
// ms are raw's members; raw is kept, not copied.
func (s *scanner) single(raw []byte, ms [][2][]byte, at int64, received []byte) unit {
	hasID, hasReceived := false, false
	for _, m := range ms {
		switch string(m[0]) {
		case "messageId":
			hasID = !bytes.Equal(m[1], []byte("null")) && !bytes.Equal(m[1], []byte(`""`))
		case "receivedAt":
			hasReceived = true
		}
	}
	var extra []byte
	if !hasID {
		sum := sha256.Sum256(raw)
		extra = append(extra, `"messageId":`...)
		extra = strconv.AppendQuote(extra, "import-"+hex.EncodeToString(sum[:16]))
	}
	if !hasReceived && received != nil {
		if len(extra) > 0 {
			extra = append(extra, ',')
		}
		extra = append(append(extra, `"receivedAt":`...), received...)
	}
	out := raw
	if len(extra) > 0 {
		out = make([]byte, 0, len(raw)+len(extra)+1)
		out = append(append(out, '{'), extra...)
		if len(ms) > 0 {
			out = append(out, ',')
		}
		out = append(out, bytes.TrimSpace(raw)[1:]...)
	}
	return unit{messages: []message{{raw: out, line: at}}}
}
