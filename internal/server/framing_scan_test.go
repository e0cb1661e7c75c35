package server

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// The scanner frames requests the same however the bytes arrive: whole,
// a byte at a time, or in random pieces.
func TestFramingScannerSplits(t *testing.T) {
	req := func(headers, body string) string {
		return "POST /v1/track HTTP/1.1\r\nHost: h\r\n" + headers + "\r\n" + body
	}
	long := strings.Repeat("x", 300)
	raw := req("Transfer-Encoding: chunked\r\n", "5\r\nhello\r\n0\r\n\r\n") +
		req("Content-Length: 5\r\n", "hello") +
		req("X-Long: "+long+"\r\nTransfer-Encoding: chunked\r\n", "3;ext="+long+"\r\nabc\r\n0\r\nTrailer: "+long+"\r\n\r\n") +
		"OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n" +
		req("content-length: 7\r\n", "a\r\n\r\nb\r\n") + // a body that looks like lines
		"GET /health HTTP/1.1\nHost: h\n\n" + // bare LF, as net/http accepts
		req("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n", "0\r\n\r\n") +
		req("Content-Length: 3\r\n", "abc")
	want := "[false false false false false true false]"
	splits := map[string]func() []string{
		"whole": func() []string { return []string{raw} },
		"bytes": func() []string { return strings.Split(raw, "") },
		"random": func() []string {
			var parts []string
			r := rand.New(rand.NewPCG(1, 2))
			for s := raw; len(s) > 0; {
				n := min(1+r.IntN(40), len(s))
				parts, s = append(parts, s[:n]), s[n:]
			}
			return parts
		},
	}
	for name, split := range splits {
		var s framingScanner
		for _, p := range split() {
			s.feed([]byte(p))
		}
		var got []bool
		for len(s.heads) > 0 {
			got = append(got, s.pop())
		}
		if fmt.Sprint(got) != want || s.lost || s.state != inHead || s.lineLen != 0 {
			t.Errorf("%s: heads %v, lost %v, state %d; want %s, in a head", name, got, s.lost, s.state, want)
		}
	}
}

// What net/http would refuse, the scanner gives up on.
func TestFramingScannerGivesUp(t *testing.T) {
	for _, raw := range []string{
		"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
		"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n",
		"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
		"POST / HTTP/1.1\r\nContent-Length: " + strings.Repeat("1", 100) + "\r\n\r\n",
	} {
		var s framingScanner
		s.feed([]byte(raw))
		if !s.lost {
			t.Errorf("%q: scanner did not give up", raw)
		}
	}
}
