package console

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/google/uuid"

	"roster/internal/api"
	"roster/internal/store"
)

// reservedField is a reserved group trait the playground's form offers,
// with the type the spec gives it.
type reservedField struct {
	Name, Type, Hint string
}

var reservedGroupFields = []reservedField{
	{"name", "string", "Acme Inc"},
	{"plan", "string", "enterprise"},
	{"industry", "string", "Technology"},
	{"employees", "number", "100"},
	{"email", "string", "ops@acme.example"},
	{"phone", "string", "+1 555 0100"},
	{"website", "string (URL)", "https://acme.example"},
	{"avatar", "string (URL)", "https://acme.example/logo.png"},
	{"description", "string", ""},
	{"createdAt", "date (ISO-8601)", "2024-01-15T09:30:00Z"},
	{"id", "string", ""},
}

var addressFields = []string{"street", "city", "state", "postalCode", "country"}

// processingWait bounds how long Send waits for profiles to apply the call.
const processingWait = 5 * time.Second

type playgroundData struct {
	Form     url.Values
	Reserved []reservedField
	Address  []string
	Sources  []string
	Custom   [][2]string
	Result   *sendResult
}

// Field is a form value to show again after a send.
func (d playgroundData) Field(name string) string { return d.Form.Get(name) }

type sendResult struct {
	Answer ingestAnswer
	// Event is the stored call, when the answer was a success.
	Event     *eventView
	Original  string
	SentAt    string
	Processed bool
	Changes   []traitChange
}

type traitChange struct {
	Name, Before, After string
	// Kind is "added", "changed" or "kept".
	Kind string
}

func (h *Handler) playground(w http.ResponseWriter, r *http.Request, ses *session) {
	h.render(w, r, ses, http.StatusOK, "playground", "Playground", h.playgroundForm(r, ses, url.Values{}))
}

func (h *Handler) playgroundForm(r *http.Request, ses *session, form url.Values) playgroundData {
	d := playgroundData{Form: form, Reserved: reservedGroupFields, Address: addressFields}
	for _, s := range h.opts.Credentials.SourcesOf(ses.workspace) {
		d.Sources = append(d.Sources, s.Name)
	}
	keys, values := form["custom_key"], form["custom_value"]
	for i, k := range keys {
		v := ""
		if i < len(values) {
			v = values[i]
		}
		if k != "" || v != "" {
			d.Custom = append(d.Custom, [2]string{k, v})
		}
	}
	for len(d.Custom) < 2 {
		d.Custom = append(d.Custom, [2]string{})
	}
	return d
}

// playgroundSend posts the form's payload through the ingestion route, as
// an SDK would (it adds a messageId and sentAt when missing), and shows
// the answer, the stored call, and the account's traits before and after.
func (h *Handler) playgroundSend(w http.ResponseWriter, r *http.Request, ses *session) {
	ctx := r.Context()
	d := h.playgroundForm(r, ses, r.PostForm)
	src, ok := h.source(ses.workspace, r.PostFormValue("source"))
	if !ok {
		d.Result = &sendResult{Answer: ingestAnswer{Status: http.StatusBadRequest, Body: "choose a source of this workspace"}}
		h.render(w, r, ses, http.StatusBadRequest, "playground", "Playground", d)
		return
	}
	payload, messageID, groupID := completePayload([]byte(r.PostFormValue("payload")), h.opts.Now())
	var before []store.Trait
	if groupID != "" {
		var err error
		if before, err = h.opts.Store.GroupTraits(ctx, ses.workspace, groupID); err != nil && !errorsIsNotFound(err) {
			h.fail(w, r, err)
			return
		}
	}
	res := &sendResult{Answer: h.sendToIngest(ctx, src, "/v1/group", payload)}
	d.Result = res
	if res.Answer.Status == http.StatusOK && messageID != "" {
		res.Processed = h.waitForProfiles(ctx)
		if err := h.findSent(ctx, ses.workspace, src.Name, messageID, res); err != nil {
			h.fail(w, r, err)
			return
		}
		after, err := h.opts.Store.GroupTraits(ctx, ses.workspace, groupID)
		if err != nil && !errorsIsNotFound(err) {
			h.fail(w, r, err)
			return
		}
		res.Changes = traitChanges(before, after)
	}
	h.render(w, r, ses, http.StatusOK, "playground", "Playground", d)
}

// completePayload adds what an SDK adds to a call it sends, a messageId and
// sentAt, when the payload is a JSON object without them, and returns it
// with its messageId and groupId. Anything else is sent as it is, for the
// server to answer.
func completePayload(raw []byte, now time.Time) (payload []byte, messageID, groupID string) {
	var obj map[string]json.RawMessage
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	if d.Decode(&obj) != nil || obj == nil {
		return raw, "", ""
	}
	if _, ok := obj["messageId"]; !ok {
		obj["messageId"], _ = json.Marshal("console-" + uuid.NewString())
	}
	if _, ok := obj["sentAt"]; !ok {
		obj["sentAt"], _ = json.Marshal(now.UTC().Format(time.RFC3339Nano))
	}
	json.Unmarshal(obj["messageId"], &messageID) //nolint:errcheck // a messageId that is not a string is the server's to refuse
	groupID = idString(obj["groupId"])
	out, err := json.Marshal(obj)
	if err != nil {
		return raw, "", ""
	}
	return out, messageID, groupID
}

// idString reads an id as ingestion stores it: a string, or a number's
// decimal text.
func idString(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var n json.Number
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	if d.Decode(&n) == nil {
		return n.String()
	}
	return ""
}

// waitForProfiles waits until the profile processor has applied the log
// as far as it goes now, for at most processingWait.
func (h *Handler) waitForProfiles(ctx context.Context) bool {
	head, err := h.opts.Store.Head(ctx)
	if err != nil {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, processingWait)
	defer cancel()
	for {
		if p, err := api.ReadProcessing(ctx, h.opts.Store); err == nil && p.Cursor >= head {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// findSent reads the stored call back among the workspace's newest events.
func (h *Handler) findSent(ctx context.Context, ws, source, messageID string, res *sendResult) error {
	evs, err := h.opts.Store.RecentEvents(ctx, ws, 0, 200)
	if err != nil {
		return err
	}
	for _, e := range evs {
		if e.MessageID != messageID || e.Source != source {
			continue
		}
		v := eventViews([]store.Event{e})[0]
		res.Event = &v
		var fields struct {
			OriginalTimestamp string `json:"originalTimestamp"`
			SentAt            string `json:"sentAt"`
		}
		json.Unmarshal(e.Body, &fields) //nolint:errcheck // a stored body is JSON
		res.Original, res.SentAt = fields.OriginalTimestamp, fields.SentAt
		return nil
	}
	return nil
}

// traitChanges compares an account's traits before and after a call.
func traitChanges(before, after []store.Trait) []traitChange {
	old := map[string]store.Trait{}
	for _, t := range before {
		old[t.Key] = t
	}
	var out []traitChange
	for _, t := range after {
		c := traitChange{Name: t.Name, After: string(t.Value), Kind: "added"}
		if o, ok := old[t.Key]; ok {
			c.Before, c.Kind = string(o.Value), "changed"
			if bytes.Equal(o.Value, t.Value) {
				c.Kind = "kept"
			}
		}
		out = append(out, c)
	}
	slices.SortStableFunc(out, func(a, b traitChange) int { return kindRank(a.Kind) - kindRank(b.Kind) })
	return out
}

func kindRank(k string) int {
	switch k {
	case "changed":
		return 0
	case "added":
		return 1
	}
	return 2
}
