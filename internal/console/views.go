package console

import (
	"bytes"
	"cmp"
	"encoding/json"
	"html/template"
	"io/fs"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"

	"roster/internal/spec"
	"roster/internal/store"
)

// parsePages parses each page with the layout it is shown in.
func parsePages() (map[string]*template.Template, error) {
	funcs := template.FuncMap{
		"pathEscape":  url.PathEscape,
		"queryEscape": url.QueryEscape,
		"time":        showTime,
		"pretty":      prettyJSON,
	}
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	pages := map[string]*template.Template{}
	for _, n := range names {
		base := strings.TrimSuffix(path.Base(n), ".html")
		if base == "layout" {
			continue
		}
		t, err := template.New(base).Funcs(funcs).ParseFS(templateFS, "templates/layout.html", n)
		if err != nil {
			return nil, err
		}
		pages[base] = t
	}
	return pages, nil
}

func showTime(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04:05.000 UTC")
}

// prettyJSON indents JSON for reading; text that is not JSON is shown as is.
func prettyJSON(raw []byte) string {
	var b bytes.Buffer
	if json.Indent(&b, raw, "", "  ") != nil {
		return string(raw)
	}
	return b.String()
}

// traitView is one trait as the console shows it.
type traitView struct {
	Name string
	// Value is the JSON value, indented when it is an object or array.
	Value string
	// Link is the value as a link target, only for avatar and website
	// traits that are http(s) URLs.
	Link      string
	Reserved  bool
	UpdatedAt time.Time
	MessageID string
	Source    string
}

func traitViews(callType string, traits []store.Trait) []traitView {
	out := make([]traitView, len(traits))
	for i, t := range traits {
		out[i] = traitView{Name: t.Name, Value: prettyJSON(t.Value), Reserved: reserved(callType, t.Name),
			UpdatedAt: t.UpdatedAt, MessageID: t.MessageID, Source: t.Source}
		if k := spec.FoldKey(t.Name); k == "avatar" || k == "website" {
			out[i].Link = httpURL(t.Value)
		}
	}
	return out
}

// reserved says whether the spec reserves the trait for this kind of
// profile; spec.TraitName gives reserved traits the spec's spelling.
func reserved(callType, name string) bool {
	n, ok := spec.ReservedName(name)
	return ok && spec.TraitName(callType, name) == n
}

// httpURL returns a JSON string value when it is an absolute http(s) URL
// with a host, else "": nothing else becomes a link.
func httpURL(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return ""
	}
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return ""
	}
	return u.String()
}

// traitValue returns a trait's value from a list, "" when absent.
func traitValue(traits []store.Trait, key string) string {
	for _, t := range traits {
		if t.Key == key {
			var s string
			if json.Unmarshal(t.Value, &s) == nil {
				return s
			}
			return string(t.Value)
		}
	}
	return ""
}

// eventView is an event in a list.
type eventView struct {
	Seq        int64
	Type       string
	Name       string
	Source     string
	MessageID  string
	UserID     string
	GroupID    string
	Timestamp  time.Time
	ReceivedAt time.Time
	Warnings   []string
	Body       string
}

func eventViews(evs []store.Event) []eventView {
	out := make([]eventView, len(evs))
	for i, e := range evs {
		out[i] = eventView{Seq: e.Seq, Type: e.Type, Name: e.Name, Source: e.Source, MessageID: e.MessageID,
			UserID: cmp.Or(e.UserID, e.AnonymousID), GroupID: e.GroupID, Timestamp: e.Timestamp,
			ReceivedAt: e.ReceivedAt, Warnings: e.Warnings, Body: prettyJSON(e.Body)}
	}
	return out
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
