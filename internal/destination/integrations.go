package destination

import (
	"bytes"
	"encoding/json"
	"strings"
)

// Enabled applies a message's integrations object to the destination with
// the given configured name. "All" (or "all") defaults to true; a value
// under the destination's own name wins over it: false disables, true
// enables, and an object enables with per-destination options, which are
// returned. The name is matched exactly first, then ignoring case, since
// libraries and people spell "Mixpanel" and "mixpanel" both. Values of
// other types (null, strings) are ignored, as Segment does.
func Enabled(integrations json.RawMessage, name string) (bool, json.RawMessage) {
	integrations = bytes.TrimSpace(integrations)
	if len(integrations) == 0 || integrations[0] != '{' {
		return true, nil
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(integrations, &m) != nil {
		return true, nil
	}
	all := true
	for _, k := range []string{"All", "all"} {
		if b, ok := boolValue(m[k]); ok {
			all = b
			break
		}
	}
	own, ok := m[name]
	if !ok {
		for k, v := range m {
			if strings.EqualFold(k, name) {
				own, ok = v, true
				break
			}
		}
	}
	if !ok {
		return all, nil
	}
	if b, ok := boolValue(own); ok {
		return b, nil
	}
	if v := bytes.TrimSpace(own); len(v) > 0 && v[0] == '{' {
		return true, v
	}
	return all, nil
}

func boolValue(raw json.RawMessage) (bool, bool) {
	switch string(bytes.TrimSpace(raw)) {
	case "true":
		return true, true
	case "false":
		return false, true
	}
	return false, false
}
