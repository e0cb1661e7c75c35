package server_test

import (
	"bufio"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"roster/internal/server"
)

// rawRequest is an HTTP/1.1 POST written by hand, so that its framing
// headers are exactly what the test says.
func rawRequest(path, key, headers, body string) string {
	return "POST " + path + " HTTP/1.1\r\nHost: roster\r\nAuthorization: Basic " +
		base64.StdEncoding.EncodeToString([]byte(key+":")) + "\r\nContent-Type: application/json\r\n" + headers + "\r\n" + body
}

func chunked(body string) string {
	return fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\n", len(body), body)
}

// exchange writes raw on a new connection and reads the responses until
// the server closes it or none comes within a second.
func exchange(t *testing.T, base, raw string) (responses []*http.Response, closed bool) {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	for {
		c.SetReadDeadline(time.Now().Add(time.Second))
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return responses, false
			}
			return responses, errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
		}
		io.ReadAll(resp.Body)
		resp.Body.Close()
		responses = append(responses, resp)
	}
}

func trackCall(id string) string {
	return fmt.Sprintf(`{"messageId":%q,"userId":"u1","event":"Smuggled"}`, id)
}

// A request with both Content-Length and Transfer-Encoding: chunked is
// refused and its connection closed (RFC 9112 §6.1): a second request
// hidden after the chunk terminator, which a proxy framing by
// Content-Length would take for body, is neither served nor stored.
func TestContentLengthWithChunkedIsRefusedAndClosed(t *testing.T) {
	r := start(t, server.Options{DataDir: t.TempDir(), WriteKey: "wk_f", AccessToken: "tok_f"})
	first := trackCall("first")
	hidden := rawRequest("/v1/track", "wk_f", fmt.Sprintf("Content-Length: %d\r\n", len(trackCall("hidden"))), trackCall("hidden"))
	for _, headers := range []string{
		fmt.Sprintf("Content-Length: %d\r\nTransfer-Encoding: chunked\r\n", len(chunked(first))),
		fmt.Sprintf("Transfer-Encoding: chunked\r\nContent-Length: %d\r\n", len(chunked(first))+len(hidden)),
		"transfer-encoding: chunked\r\ncontent-length: 0\r\n",
	} {
		responses, closed := exchange(t, r.base, rawRequest("/v1/track", "wk_f", headers, chunked(first))+hidden)
		if len(responses) != 1 || responses[0].StatusCode != http.StatusBadRequest || !closed {
			var got []string
			for _, resp := range responses {
				got = append(got, resp.Status)
			}
			t.Errorf("headers %q: responses %v, closed %v; want one 400, then the connection closed", headers, got, closed)
		}
	}
	// A call on a fresh connection still works, and nothing was stored.
	if status, body := r.do(t, http.MethodPost, "/v1/track", "wk_f", trackCall("after")); status != http.StatusOK {
		t.Fatalf("a call after: %d %s", status, body)
	}
	_, events := r.do(t, http.MethodGet, "/v1/workspaces/default/events", "tok_f", "")
	if strings.Contains(string(events), `"first"`) || strings.Contains(string(events), `"hidden"`) || !strings.Contains(string(events), `"after"`) {
		t.Errorf("events %s; want only the call made after", events)
	}
}

// Pipelined requests framed one way each are all served, in order, on one
// connection: the scanner follows chunks, extensions and trailers, and
// Content-Length bodies.
func TestPipelinedRequestsWithOneFramingAreServed(t *testing.T) {
	r := start(t, server.Options{DataDir: t.TempDir(), WriteKey: "wk_f", AccessToken: "tok_f"})
	body := func(id string) string { return trackCall(id) }
	withExt := fmt.Sprintf("%x;name=value\r\n%s\r\n0\r\nX-Trailer: 1\r\n\r\n", len(body("p2")), body("p2"))
	split := body("p3")
	twoChunks := fmt.Sprintf("%x\r\n%s\r\n%x\r\n%s\r\n0\r\n\r\n", 10, split[:10], len(split)-10, split[10:])
	raw := rawRequest("/v1/track", "wk_f", "Transfer-Encoding: chunked\r\n", chunked(body("p1"))) +
		rawRequest("/v1/track", "wk_f", "Transfer-Encoding: chunked\r\n", withExt) +
		rawRequest("/v1/track", "wk_f", "Transfer-Encoding: chunked\r\n", twoChunks) +
		rawRequest("/v1/track", "wk_f", fmt.Sprintf("Content-Length: %d\r\n", len(body("p4"))), body("p4")) +
		"OPTIONS * HTTP/1.1\r\nHost: roster\r\n\r\n" +
		rawRequest("/v1/track", "wk_f", fmt.Sprintf("Content-Length: %d\r\n", len(body("p5"))), body("p5")) +
		rawRequest("/v1/track", "wk_f", fmt.Sprintf("Content-Length: %d\r\nTransfer-Encoding: chunked\r\n", len(chunked(body("p6")))), chunked(body("p6")))
	responses, closed := exchange(t, r.base, raw)
	var got []int
	for _, resp := range responses {
		got = append(got, resp.StatusCode)
	}
	if fmt.Sprint(got) != "[200 200 200 200 200 200 400]" || !closed {
		t.Errorf("statuses %v, closed %v; want five calls and OPTIONS served, then the ambiguous one refused and the connection closed", got, closed)
	}
	_, events := r.do(t, http.MethodGet, "/v1/workspaces/default/events", "tok_f", "")
	for _, id := range []string{"p1", "p2", "p3", "p4", "p5"} {
		if !strings.Contains(string(events), `"`+id+`"`) {
			t.Errorf("%s was not stored: %s", id, events)
		}
	}
	if strings.Contains(string(events), `"p6"`) {
		t.Errorf("the refused call was stored: %s", events)
	}
}
