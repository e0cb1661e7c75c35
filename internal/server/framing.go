package server

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"strconv"
	"sync"
)

// A request with both Content-Length and Transfer-Encoding is framed one
// way by a proxy that reads Content-Length and another by a server that
// reads the chunks: what the proxy took for one request's body, the server
// serves as a second request (request smuggling). RFC 9112 §6.1 says a
// server may process such a request only if it closes the connection
// after it; Roster refuses it with 400 and closes. net/http drops the
// Content-Length header before a handler sees the request, so each
// connection's bytes are followed, as net/http reads them, by a framing
// scanner that notes which requests had both headers.

// framingListener wraps each accepted connection in a framingConn.
type framingListener struct{ net.Listener }

func (l framingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &framingConn{Conn: c}, nil
}

// framingConn scans what net/http reads from the connection.
type framingConn struct {
	net.Conn
	mu   sync.Mutex // Read runs on net/http's background reader too
	scan framingScanner
}

func (c *framingConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if n > 0 {
		c.mu.Lock()
		c.scan.feed(b[:n])
		c.mu.Unlock()
	}
	return n, err
}

// CloseWrite lets net/http half-close before closing, so that the 400
// reaches a client that is still sending instead of being reset away.
func (c *framingConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// nextAmbiguous says whether the request net/http hands to a handler now,
// the oldest one not yet asked about, had both framing headers.
func (c *framingConn) nextAmbiguous() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.scan.pop()
}

type framingConnKey struct{}

// withFramingConn puts the connection in each of its requests' contexts
// (http.Server.ConnContext).
func withFramingConn(ctx context.Context, c net.Conn) context.Context {
	if fc, ok := c.(*framingConn); ok {
		return context.WithValue(ctx, framingConnKey{}, fc)
	}
	return ctx
}

// refuseAmbiguousFraming answers 400 and closes the connection for a
// request that came with both Content-Length and Transfer-Encoding. It
// must see every request of a connection, so it wraps every other handler.
func refuseAmbiguousFraming(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fc, ok := r.Context().Value(framingConnKey{}).(*framingConn)
		if ok && r.ProtoMajor == 1 && fc.nextAmbiguous() {
			w.Header().Set("Connection", "close")
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			w.Write([]byte(`{"success":false,"code":"invalid_request","message":"a request must not have both Content-Length and Transfer-Encoding (RFC 9112 section 6.1); the connection is closed"}` + "\n")) //nolint:errcheck
			return
		}
		next.ServeHTTP(w, r)
	})
}

// framingScanner follows HTTP/1.1 message framing over a connection's
// bytes as net/http does: a head up to an empty line, then a body of
// Content-Length bytes or of chunks. It keeps no more than the start of
// each line. Once it meets something it cannot frame, net/http cannot
// either and will close the connection, so it stops.
type framingScanner struct {
	state framingState
	// line is the start of the current line, lineLen its whole length.
	line    [80]byte
	lineLen int
	// The head being read.
	requestLine     bool // its request line is read
	skip            bool // OPTIONS *: net/http answers it without a handler
	hasCL, hasTE    bool
	contentLength   int64
	contentLengthOK bool
	remain          int64  // of the body or the chunk being skipped
	heads           []bool // ambiguous, for each request not yet popped
	lost            bool
}

type framingState int

const (
	inHead framingState = iota
	inBody
	inChunkSize
	inChunkData
	inChunkEnd
	inTrailer
)

// pop reports whether the oldest request not yet popped was ambiguous.
func (s *framingScanner) pop() bool {
	if len(s.heads) == 0 {
		return false
	}
	ambiguous := s.heads[0]
	s.heads = s.heads[1:]
	return ambiguous
}

func (s *framingScanner) feed(b []byte) {
	for len(b) > 0 && !s.lost {
		if s.state == inBody || s.state == inChunkData {
			k := int(min(s.remain, int64(len(b))))
			b, s.remain = b[k:], s.remain-int64(k)
			if s.remain == 0 {
				if s.state == inBody {
					s.state = inHead
				} else {
					s.state = inChunkEnd
				}
			}
			continue
		}
		i := bytes.IndexByte(b, '\n')
		part := b
		if i >= 0 {
			part = b[:i]
		}
		if s.lineLen < len(s.line) {
			copy(s.line[s.lineLen:], part)
		}
		s.lineLen += len(part)
		if i < 0 {
			return
		}
		b = b[i+1:]
		whole := s.lineLen <= len(s.line)
		line := s.line[:min(s.lineLen, len(s.line))]
		if whole {
			line = bytes.TrimSuffix(line, []byte("\r"))
		}
		s.endLine(line, whole)
		s.lineLen = 0
	}
}

// endLine handles a line; line is all of it when whole, else its start.
func (s *framingScanner) endLine(line []byte, whole bool) {
	switch s.state {
	case inHead:
		s.headLine(line, whole)
	case inChunkSize:
		size, ok := chunkSize(line, whole)
		switch {
		case !ok:
			s.lost = true
		case size == 0:
			s.state = inTrailer
		default:
			s.state, s.remain = inChunkData, size
		}
	case inChunkEnd:
		if len(line) != 0 {
			s.lost = true
		}
		s.state = inChunkSize
	case inTrailer:
		if len(line) == 0 {
			s.state = inHead
		}
	}
}

func (s *framingScanner) headLine(line []byte, whole bool) {
	switch {
	case !s.requestLine:
		s.requestLine = true
		s.skip = bytes.HasPrefix(line, []byte("OPTIONS * "))
	case len(line) == 0:
		s.endHead()
	case hasName(line, "content-length:"):
		s.hasCL = true
		v := bytes.TrimSpace(line[len("content-length:"):])
		cl, err := strconv.ParseInt(string(v), 10, 64)
		s.contentLength, s.contentLengthOK = cl, err == nil && cl >= 0 && whole
	case hasName(line, "transfer-encoding:"):
		s.hasTE = true
	}
}

// endHead notes the request and goes on to its body as net/http frames
// it: chunks when Transfer-Encoding is set (net/http accepts chunked only),
// else Content-Length bytes.
func (s *framingScanner) endHead() {
	if !s.skip {
		s.heads = append(s.heads, s.hasCL && s.hasTE)
	}
	switch {
	case s.hasTE:
		s.state = inChunkSize
	case s.hasCL && !s.contentLengthOK:
		s.lost = true
	case s.hasCL && s.contentLength > 0:
		s.state, s.remain = inBody, s.contentLength
	}
	s.requestLine, s.skip, s.hasCL, s.hasTE, s.contentLengthOK = false, false, false, false, false
}

// hasName reports whether a header line starts with name, which is lower
// case and ends in its colon.
func hasName(line []byte, name string) bool {
	return len(line) >= len(name) && bytes.EqualFold(line[:len(name)], []byte(name))
}

// chunkSize reads a chunk-size line: hex digits, then maybe extensions,
// which are all a line longer than what is kept of it may hold.
func chunkSize(line []byte, whole bool) (int64, bool) {
	i := bytes.IndexByte(line, ';')
	switch {
	case i >= 0:
		line = line[:i]
	case !whole:
		return 0, false
	}
	size, err := strconv.ParseUint(string(bytes.TrimSpace(line)), 16, 63)
	return int64(size), err == nil
}
