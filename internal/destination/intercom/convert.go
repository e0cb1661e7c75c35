package intercom

import (
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"roster/internal/destination"
	"roster/internal/spec"
)

// Convert turns one event into Intercom requests.
func (ic *Intercom) Convert(ev destination.Event) ([]destination.Request, error) {
	switch ev.Type {
	case spec.Group:
		return ic.group(ev)
	case spec.Identify:
		return ic.identify(ev)
	case spec.Track:
		return ic.track(ev)
	}
	return nil, nil
}

func (ic *Intercom) post(path, version string, body any) (destination.Request, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return destination.Request{}, fmt.Errorf("intercom: %w", err)
	}
	return ic.request(path, version, b), nil
}

func (ic *Intercom) group(ev destination.Event) ([]destination.Request, error) {
	if ev.GroupID == "" {
		return nil, fmt.Errorf("intercom: group without groupId: %w", destination.ErrPermanent)
	}
	company, err := ic.post("/companies", ic.version, ic.company(ev.GroupID, destination.TraitMap(ev.Traits)))
	if err != nil {
		return nil, err
	}
	reqs := []destination.Request{company}
	// traits.email of a group call is the company's; the user's is in
	// context.traits.
	email, _ := destination.Email(destination.ContextTraits(ev))
	if ev.UserID == "" && email == "" {
		return reqs, nil
	}
	u := map[string]any{"companies": []map[string]any{{"company_id": ev.GroupID}}}
	identity(u, ev.UserID, email)
	lastSeen(u, ev)
	attach, err := ic.post("/users", usersAPIVersion, u)
	if err != nil {
		return nil, err
	}
	return append(reqs, attach), nil
}

func (ic *Intercom) identify(ev destination.Event) ([]destination.Request, error) {
	traits := destination.TraitMap(ev.Traits)
	email, _ := destination.Email(traits)
	if ev.UserID == "" && email == "" {
		return nil, nil
	}
	u := map[string]any{}
	identity(u, ev.UserID, email)
	custom := map[string]any{}
	var name, first, last string
	for _, k := range destination.SortedKeys(traits) {
		v := traits[k]
		n, reserved := destination.ReservedFor(spec.Identify, k)
		if !reserved {
			addCustom(custom, attributeName(k), v)
			continue
		}
		switch n {
		case "id", "email":
			// The user's keys, sent as user_id and email.
		case "name":
			name, _ = destination.String(v)
		case "firstName":
			first, _ = destination.String(v)
		case "lastName":
			last, _ = destination.String(v)
		case "phone":
			if s, ok := destination.String(v); ok {
				u["phone"] = s
			}
		case "createdAt":
			if ts, ok := unixSeconds(v); ok {
				u["signed_up_at"] = ts
			} else {
				addCustom(custom, n, v)
			}
		case "company":
			if c := ic.userCompany(v); c != nil {
				u["companies"] = []map[string]any{c}
			}
		case "address":
			addCustom(custom, n, specAddress(v))
		default:
			addCustom(custom, n, v)
		}
	}
	// Segment's destination joins the first and last names when no name is
	// given; Intercom has only name.
	if name == "" {
		name = strings.TrimSpace(first + " " + last)
	}
	if name != "" {
		u["name"] = name
	}
	if len(custom) > 0 {
		u["custom_attributes"] = custom
	}
	lastSeen(u, ev)
	var opts struct {
		UnsubscribedFromEmails *bool `json:"unsubscribedFromEmails"`
	}
	if len(ev.Options) > 0 && json.Unmarshal(ev.Options, &opts) == nil && opts.UnsubscribedFromEmails != nil {
		u["unsubscribed_from_emails"] = *opts.UnsubscribedFromEmails
	}
	r, err := ic.post("/users", usersAPIVersion, u)
	if err != nil {
		return nil, err
	}
	return []destination.Request{r}, nil
}

// identity sets the keys the Users API finds or creates a user by.
func identity(u map[string]any, userID, email string) {
	if userID != "" {
		u["user_id"] = userID
	}
	if email != "" {
		u["email"] = email
	}
}

// lastSeen marks the user seen at the event's time when the call says the
// user was active, as Segment's destination does for server-side calls.
func lastSeen(u map[string]any, ev destination.Event) {
	ctx := destination.TraitMap(ev.Context)
	if active, _ := ctx["active"].(bool); !active {
		return
	}
	u["last_request_at"] = ev.Timestamp.Unix()
	if ip, ok := ctx["ip"].(string); ok && ip != "" {
		u["last_seen_ip"] = ip
	}
	if ua, ok := ctx["userAgent"].(string); ok && ua != "" {
		u["last_seen_user_agent"] = ua
	}
}

// userCompany is the company trait of an identify as an entry of the Users
// API's companies, which Intercom creates when its company_id is new.
func (ic *Intercom) userCompany(v any) map[string]any {
	switch c := v.(type) {
	case string:
		if c == "" {
			return nil
		}
		return map[string]any{"company_id": md5Hex(c), "name": c}
	case map[string]any:
		id := ""
		if raw, ok := destination.ReservedTrait(c, "id"); ok {
			id, _ = destination.String(raw)
		}
		if id == "" {
			raw, _ := destination.ReservedTrait(c, "name")
			name, ok := destination.String(raw)
			if !ok || name == "" {
				return nil
			}
			id = md5Hex(name)
		}
		traits := map[string]any{}
		remove := false
		for k, v := range c {
			if spec.FoldKey(k) == "remove" {
				remove, _ = v.(bool)
				continue
			}
			traits[k] = v
		}
		entry := ic.company(id, traits)
		if remove {
			entry["remove"] = true
		}
		return entry
	}
	return nil
}

// md5Hex is the company_id Segment gives a company known only by name.
func md5Hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

// company is a company's create-or-update body from its traits. Intercom
// 2.x refuses the whole request for a custom attribute the workspace has not
// defined, so only those the companyAttributes setting lists are sent.
func (ic *Intercom) company(id string, traits map[string]any) map[string]any {
	c := map[string]any{"company_id": id}
	custom := map[string]any{}
	for _, k := range destination.SortedKeys(traits) {
		v := traits[k]
		if spec.FoldKey(k) == "monthlyspend" {
			// An integer field up to 2^31-1 (Intercom truncates floats).
			if n, ok := integer(v); ok && n >= 0 && n <= math.MaxInt32 {
				c["monthly_spend"] = n
			} else {
				addCustom(custom, attributeName(k), v)
			}
			continue
		}
		n, reserved := destination.ReservedFor(spec.Group, k)
		if !reserved {
			addCustom(custom, attributeName(k), v)
			continue
		}
		switch n {
		case "id":
			// The company_id.
		case "name", "plan", "website", "industry":
			if s, ok := destination.String(v); ok {
				c[n] = s
			} else if v != nil {
				addCustom(custom, n, v)
			}
		case "employees":
			if size, ok := integer(v); ok {
				c["size"] = size
			} else if v != nil {
				addCustom(custom, n, v)
			}
		case "createdAt":
			if ts, ok := unixSeconds(v); ok {
				c["remote_created_at"] = ts
			} else if v != nil {
				addCustom(custom, n, v)
			}
		case "address":
			addCustom(custom, n, specAddress(v))
		default:
			addCustom(custom, n, v)
		}
	}
	for name := range custom {
		if !ic.companyAttributes[spec.FoldKey(name)] {
			delete(custom, name)
		}
	}
	if len(custom) > 0 {
		c["custom_attributes"] = custom
	}
	return c
}

// specAddress renames the fields of an address object to their spec
// spelling, so that postal_code and postalCode make one attribute.
func specAddress(v any) any {
	m, ok := v.(map[string]any)
	if !ok {
		return v
	}
	out := make(map[string]any, len(m))
	for _, k := range destination.SortedKeys(m) {
		n := k
		if r, ok := spec.ReservedName(k); ok {
			n = r
		}
		if _, dup := out[n]; !dup {
			out[n] = m[k]
		}
	}
	return out
}

func (ic *Intercom) track(ev destination.Event) ([]destination.Request, error) {
	if ev.Name == "" {
		return nil, fmt.Errorf("intercom: track without an event name: %w", destination.ErrPermanent)
	}
	props := destination.TraitMap(ev.Properties)
	body := map[string]any{"event_name": ev.Name, "created_at": ev.Timestamp.Unix()}
	if ev.UserID != "" {
		body["user_id"] = ev.UserID
	} else if email, ok := destination.Email(props); ok {
		body["email"] = email
	} else if email, ok := destination.Email(destination.ContextTraits(ev)); ok {
		body["email"] = email
	} else {
		return nil, nil
	}
	if meta := metadata(props); len(meta) > 0 {
		body["metadata"] = meta
	}
	r, err := ic.post("/events", ic.version, body)
	if err != nil {
		return nil, err
	}
	return []destination.Request{r}, nil
}

// maxMetadata is how many metadata keys Intercom keeps per event.
const maxMetadata = 10

// metadata is an event's properties as Intercom metadata: flat, at most
// maxMetadata keys, revenue as a monetary amount.
func metadata(props map[string]any) map[string]any {
	all := map[string]any{}
	var price map[string]any
	revenueKey, currencyKey := "", ""
	for _, k := range destination.SortedKeys(props) {
		switch spec.FoldKey(k) {
		case "revenue":
			if revenueKey == "" {
				revenueKey = k
			}
		case "currency":
			if currencyKey == "" {
				currencyKey = k
			}
		}
	}
	if revenueKey != "" {
		if f, ok := float(props[revenueKey]); ok {
			currency := "usd"
			if c, ok := props[currencyKey].(string); ok && c != "" {
				currency = c
			}
			price = map[string]any{"amount": int64(math.Round(f * 100)), "currency": currency}
		}
	}
	for _, k := range destination.SortedKeys(props) {
		if n, ok := spec.ReservedName(k); ok && n == "email" {
			continue
		}
		if price != nil && (k == revenueKey || k == currencyKey) {
			continue
		}
		addMetadata(all, attributeName(k), props[k])
	}
	out := map[string]any{}
	if price != nil {
		out["price"] = price
		delete(all, "price")
	}
	for _, k := range destination.SortedKeys(all) {
		if len(out) == maxMetadata {
			break
		}
		out[k] = all[k]
	}
	return out
}

func addMetadata(meta map[string]any, name string, v any) {
	switch x := v.(type) {
	case nil:
		return
	case map[string]any:
		if richLink(x) || monetary(x) {
			meta[name] = x
			return
		}
		for _, k := range destination.SortedKeys(x) {
			addMetadata(meta, name+"_"+attributeName(k), x[k])
		}
		return
	}
	if _, dup := meta[name]; !dup {
		meta[name] = flat(v)
	}
}

// richLink and monetary are the two object shapes Intercom's metadata takes.
func richLink(m map[string]any) bool {
	url, ok1 := m["url"].(string)
	_, ok2 := m["value"].(string)
	return len(m) == 2 && ok1 && ok2 && (strings.HasPrefix(url, "http://") || strings.HasPrefix(url, "https://"))
}

func monetary(m map[string]any) bool {
	_, ok1 := m["amount"].(json.Number)
	_, ok2 := m["currency"].(string)
	return len(m) == 2 && ok1 && ok2
}

// addCustom adds a custom attribute, flattening objects into name_key
// attributes since Intercom takes no nested values.
func addCustom(custom map[string]any, name string, v any) {
	if m, ok := v.(map[string]any); ok {
		for _, k := range destination.SortedKeys(m) {
			addCustom(custom, name+"_"+attributeName(k), m[k])
		}
		return
	}
	if _, dup := custom[name]; !dup {
		custom[name] = flat(v)
	}
}

// maxString is the longest string value Intercom stores in an attribute or
// metadata.
const maxString = 255

// flat is a scalar as Intercom stores it: strings cut to maxString
// characters, arrays as their JSON text.
func flat(v any) any {
	switch x := v.(type) {
	case string:
		return truncate(x)
	case []any:
		b, err := json.Marshal(x)
		if err != nil {
			return nil
		}
		return truncate(string(b))
	}
	return v
}

func truncate(s string) string {
	if utf8.RuneCountInString(s) <= maxString {
		return s
	}
	r := []rune(s)
	return string(r[:maxString])
}

// attributeName replaces the characters Intercom forbids in attribute and
// metadata names.
func attributeName(s string) string {
	return strings.Map(func(r rune) rune {
		if r == 0 || strings.ContainsRune(".$~`!@#%^&*'{}|\\\"", r) {
			return '_'
		}
		return r
	}, s)
}

// number is a JSON number or a numeric string as a JSON number.
func number(v any) (json.Number, bool) {
	switch x := v.(type) {
	case json.Number:
		return x, true
	case string:
		s := strings.TrimSpace(x)
		if _, err := strconv.ParseFloat(s, 64); err == nil && json.Valid([]byte(s)) {
			return json.Number(s), true
		}
	}
	return "", false
}

func float(v any) (float64, bool) {
	n, ok := number(v)
	if !ok {
		return 0, false
	}
	f, err := n.Float64()
	return f, err == nil && !math.IsInf(f, 0) && !math.IsNaN(f)
}

// integer is a number (or numeric string) as a whole number, truncated.
func integer(v any) (int64, bool) {
	f, ok := float(v)
	if !ok || f < math.MinInt64 || f > math.MaxInt64 {
		return 0, false
	}
	return int64(f), true
}

// unixSeconds reads a date trait: an ISO-8601 string in the forms Roster
// accepts for event times, or a Unix time in seconds or, when too large
// for seconds, milliseconds (Date.now()).
func unixSeconds(v any) (int64, bool) {
	if s, ok := v.(string); ok {
		if t, ok := spec.ParseTime(strings.TrimSpace(s)); ok {
			return t.Unix(), true
		}
	}
	f, ok := float(v)
	if !ok {
		return 0, false
	}
	if math.Abs(f) >= 1e11 {
		f /= 1000
	}
	return int64(f), true
}
