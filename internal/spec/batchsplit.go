package spec

import (
	"bytes"
	"errors"
	"strconv"
	"strings"

	"github.com/go-json-experiment/json/jsontext"
)

// A batch whose array is intact but some of whose messages are not valid
// JSON (nested too deep, invalid UTF-8, a stray comma) must not lose its
// valid messages: the SDKs drop a batch answered 400. When the strict parse
// of a body fails, salvageBatch scans its structure alone (strings and
// brackets, nothing else), checks each message of the batch array on its
// own, and replaces the broken ones with null so that the strict parse can
// run again over the rest of the body. A body whose own structure is
// broken stays an error.

// brokenMessage is a message of a batch that is not valid JSON.
type brokenMessage struct {
	raw []byte // as sent; it aliases the body
	err *Error
}

// batchPrefix is what a message is wrapped in to be checked, so that its
// nesting counts from the depth it has in the body.
const batchPrefix = `{"batch":[`

// salvageBatch returns body with its broken batch messages replaced by
// null, and those messages by index; ok is false when the body's structure
// is broken or no message is to blame.
func salvageBatch(body []byte) (patched []byte, broken map[int]brokenMessage, ok bool) {
	s := scanner{b: body}
	s.space()
	if !s.next('{') {
		return nil, nil, false
	}
	var spans [][2]int // the broken messages' extents in body
	var wrap []byte
	s.space()
	if s.next('}') {
		return nil, nil, false
	}
	for {
		s.space()
		nameStart := s.i
		if s.peek() != '"' || !s.value() {
			return nil, nil, false
		}
		name := body[nameStart:s.i]
		s.space()
		if !s.next(':') {
			return nil, nil, false
		}
		s.space()
		if string(name) == `"batch"` && s.peek() == '[' {
			s.i++
			for index := 0; ; index++ {
				s.space()
				if index == 0 && s.next(']') {
					break
				}
				start := s.i
				if !s.value() {
					return nil, nil, false
				}
				wrap = append(append(append(wrap[:0], batchPrefix...), body[start:s.i]...), "]}"...)
				if err := checkWrapped(wrap, index, start); err != nil {
					if broken == nil {
						broken = map[int]brokenMessage{}
					}
					broken[index] = brokenMessage{raw: body[start:s.i], err: err}
					spans = append(spans, [2]int{start, s.i})
				}
				s.space()
				if s.next(']') {
					break
				}
				if !s.next(',') {
					return nil, nil, false
				}
			}
		} else if !s.value() {
			return nil, nil, false
		}
		s.space()
		if s.next('}') {
			break
		}
		if !s.next(',') {
			return nil, nil, false
		}
	}
	if len(broken) == 0 {
		return nil, nil, false
	}
	patched = make([]byte, 0, len(body))
	last := 0
	for _, sp := range spans {
		patched = append(append(patched, body[last:sp[0]]...), "null"...)
		last = sp[1]
	}
	return append(patched, body[last:]...), broken, true
}

// checkWrapped parses a message wrapped in batchPrefix and says why it is
// not valid JSON, with the position and JSON pointer it has in the body.
func checkWrapped(wrap []byte, index, offset int) *Error {
	if jsontext.Value(wrap).IsValid() {
		return nil
	}
	dec := jsontext.NewDecoder(bytes.NewReader(wrap))
	_, err := dec.ReadValue()
	if err == nil {
		err = errors.New("invalid JSON")
	}
	var se *jsontext.SyntacticError
	if errors.As(err, &se) {
		moved := *se
		moved.ByteOffset = max(se.ByteOffset-int64(len(batchPrefix))+int64(offset), 0)
		if p, ok := strings.CutPrefix(string(se.JSONPointer), "/batch/0"); ok {
			moved.JSONPointer = jsontext.Pointer("/batch/" + strconv.Itoa(index) + p)
		}
		err = &moved
	}
	return jsonError("", err)
}

// scanner walks the structure of JSON text without validating what is
// inside strings or literals, and without a limit on nesting.
type scanner struct {
	b []byte
	i int
}

func (s *scanner) space() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *scanner) peek() byte {
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

// next consumes c if it comes next.
func (s *scanner) next(c byte) bool {
	if s.peek() == c {
		s.i++
		return true
	}
	return false
}

// value skips one value: a string, a bracketed value whose brackets
// balance, or a run of literal characters. It reports false when there is
// no such value.
func (s *scanner) value() bool {
	switch s.peek() {
	case 0, '}', ']', ',', ':':
		return false
	case '"':
		return s.str()
	case '{', '[':
		var open []byte
		for {
			switch c := s.peek(); c {
			case 0:
				if s.i >= len(s.b) {
					return false
				}
			case '"':
				if !s.str() {
					return false
				}
				continue
			case '{':
				open = append(open, '}')
			case '[':
				open = append(open, ']')
			case '}', ']':
				if len(open) == 0 || open[len(open)-1] != c {
					return false
				}
				open = open[:len(open)-1]
				if len(open) == 0 {
					s.i++
					return true
				}
			}
			s.i++
		}
	}
	start := s.i
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r', ',', ':', '{', '}', '[', ']', '"':
			return s.i > start
		}
		s.i++
	}
	return s.i > start
}

// str skips a string, escapes included.
func (s *scanner) str() bool {
	for s.i++; s.i < len(s.b); s.i++ {
		switch s.b[s.i] {
		case '\\':
			s.i++
		case '"':
			s.i++
			return true
		}
	}
	return false
}
