// Package destinationtest checks conversions against golden files, so that
// every destination package tests its conversions the same way.
package destinationtest

import (
	"bytes"
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"roster/internal/destination"
)

var update = flag.Bool("update", false, "rewrite golden files with the conversions' output")

// Case is one golden input: a normalized message and, optionally, the
// integrations options the destination gets.
type Case struct {
	Event   json.RawMessage `json:"event"`
	Options json.RawMessage `json:"options,omitempty"`
}

// Golden converts every testdata/*.in.json of dir with conv and compares the
// requests with the matching .golden.json. Run `go test -update` to rewrite
// the golden files after a deliberate change, then read the diff.
func Golden(t *testing.T, conv destination.Converter, dir string) {
	t.Helper()
	ins, err := filepath.Glob(filepath.Join(dir, "*.in.json"))
	if err != nil || len(ins) == 0 {
		t.Fatalf("no golden inputs in %s", dir)
	}
	for _, in := range ins {
		name := strings.TrimSuffix(filepath.Base(in), ".in.json")
		t.Run(name, func(t *testing.T) {
			got := Render(t, conv, ReadCase(t, in, 1))
			path := filepath.Join(dir, name+".golden.json")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("conversion of %s differs from %s:\n got: %s\nwant: %s", in, path, got, want)
			}
		})
	}
}

// ReadCase reads a golden input file as the event a destination gets, at
// log position seq, with its integrations options.
func ReadCase(t *testing.T, path string, seq int64) destination.Event {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var c Case
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	ev, err := destination.Parse(seq, c.Event)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	ev.Options = c.Options
	return ev
}

// SettingsCase is a destination's settings and the error they must get:
// Want is a part of its text, or "" for settings that must be accepted.
type SettingsCase struct {
	Name     string
	Settings map[string]any
	Want     string
}

// Settings builds a destination from each case's settings with newConv and
// checks the outcome.
func Settings(t *testing.T, newConv destination.Factory, cases []SettingsCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			_, err := newConv(tc.Settings)
			switch {
			case tc.Want == "" && err != nil:
				t.Fatalf("%v: unexpected error: %v", tc.Settings, err)
			case tc.Want != "" && (err == nil || !strings.Contains(err.Error(), tc.Want)):
				t.Fatalf("error %v, want one containing %q", err, tc.Want)
			}
		})
	}
}

// Render converts ev and renders the requests (or the error) as stable,
// indented JSON: JSON and form bodies are decoded so that a diff shows
// fields, not bytes.
func Render(t *testing.T, conv destination.Converter, ev destination.Event) []byte {
	t.Helper()
	reqs, err := conv.Convert(ev)
	var out any
	if err != nil {
		out = map[string]string{"error": err.Error()}
	} else {
		rs := make([]map[string]any, 0, len(reqs))
		for _, r := range reqs {
			rs = append(rs, renderRequest(r))
		}
		out = rs
	}
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(b, '\n')
}

func renderRequest(r destination.Request) map[string]any {
	m := map[string]any{"method": r.Method, "url": r.URL}
	if len(r.Header) > 0 {
		h := map[string]string{}
		keys := make([]string, 0, len(r.Header))
		for k := range r.Header {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			h[k] = strings.Join(r.Header[k], ", ")
		}
		m["header"] = h
	}
	m["body"] = renderBody(r.Header.Get("Content-Type"), r.Body)
	return m
}

func renderBody(contentType string, body []byte) any {
	if len(body) == 0 {
		return nil
	}
	var v any
	if strings.HasPrefix(contentType, "application/x-www-form-urlencoded") {
		if q, err := url.ParseQuery(string(body)); err == nil {
			form := map[string]any{}
			for k, vs := range q {
				form[k] = vs
				if len(vs) == 1 {
					if j, ok := formJSON(vs[0]); ok {
						form[k] = j
					}
				}
			}
			return map[string]any{"form": form}
		}
	}
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	if d.Decode(&v) == nil {
		return v
	}
	return string(body)
}

// formJSON decodes a form field holding JSON (Amplitude's identification)
// with numbers kept as json.Number, as JSON bodies are, so that large
// integers and ids render exactly as the conversion wrote them. Like
// json.Unmarshal, it refuses a field with anything after the value.
func formJSON(s string) (any, bool) {
	d := json.NewDecoder(strings.NewReader(s))
	d.UseNumber()
	var v any
	if d.Decode(&v) != nil {
		return nil, false
	}
	if _, err := d.Token(); err != io.EOF {
		return nil, false
	}
	return v, true
}

// Send performs a converted request with client, for tests that check the
// requests against a local server standing in for the provider.
func Send(t *testing.T, client *http.Client, r destination.Request) *http.Response {
	t.Helper()
	req, err := http.NewRequest(r.Method, r.URL, bytes.NewReader(r.Body))
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range r.Header {
		req.Header[k] = vs
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}
