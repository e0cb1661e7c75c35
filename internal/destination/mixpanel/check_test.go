package mixpanel

import (
	"testing"

	"roster/internal/destination"
)

func TestCheckReadsTheBodyOfA200(t *testing.T) {
	c := &converter{}
	for _, tc := range []struct {
		status int
		body   string
		want   destination.Verdict
	}{
		{200, `{"status":1,"error":null}`, destination.Delivered},
		{200, `1`, destination.Delivered},
		{200, `{"status":0,"error":"$group_key is required"}`, destination.Permanent},
		{200, `0`, destination.Permanent},
		{200, `{"code":200,"num_records_imported":1,"status":"OK"}`, destination.Delivered},
		{400, `{"code":400,"failed_records":[{"index":0}]}`, destination.Permanent},
		{429, ``, destination.Retry},
		{502, `bad gateway`, destination.Retry},
	} {
		if got := c.Check(destination.Request{}, tc.status, []byte(tc.body)); got != tc.want {
			t.Errorf("Check(%d, %s) = %v, want %v", tc.status, tc.body, got, tc.want)
		}
	}
}
