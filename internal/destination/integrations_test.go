package destination

import (
	"testing"
)

func TestEnabled(t *testing.T) {
	for _, c := range []struct {
		integrations string
		want         bool
		options      string
	}{
		{``, true, ""},
		{`null`, true, ""},
		{`{}`, true, ""},
		{`{"All":true}`, true, ""},
		{`{"All":false}`, false, ""},
		{`{"all":false}`, false, ""},
		{`{"All":false,"Mixpanel":true}`, true, ""},
		{`{"All":true,"Mixpanel":false}`, false, ""},
		{`{"Mixpanel":false}`, false, ""},
		{`{"mixpanel":false}`, false, ""}, // case-insensitive fallback
		{`{"All":false,"Mixpanel":{"groupKey":"org"}}`, true, `{"groupKey":"org"}`},
		{`{"Mixpanel":{}}`, true, `{}`},
		{`{"All":false,"Mixpanel":"yes"}`, false, ""}, // not a bool or object: All decides
		{`{"All":false,"Mixpanel":null}`, false, ""},
		{`{"All":"false"}`, true, ""},
		{`{"Amplitude":false}`, true, ""},                // another destination's entry
		{`{"Mixpanel":true,"mixpanel":false}`, true, ""}, // the exact name wins
		{`[1,2]`, true, ""},
		{`{"All":fals`, true, ""}, // unreadable: ingestion stored it, so deliver
	} {
		got, opts := Enabled([]byte(c.integrations), "Mixpanel")
		if got != c.want || string(opts) != c.options {
			t.Errorf("Enabled(%s) = %v, %s; want %v, %s", c.integrations, got, opts, c.want, c.options)
		}
	}
}
