package warehouse

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// colType is a column's PostgreSQL type. A column takes the type of the
// first non-null value it is created for, and keeps it.
type colType string

const (
	typeBool  colType = "boolean"
	typeInt   colType = "bigint"
	typeFloat colType = "double precision"
	typeTime  colType = "timestamp with time zone"
	typeText  colType = "text"
)

// typeOf reads the PostgreSQL types information_schema reports.
func typeOf(dataType string) colType {
	switch colType(dataType) {
	case typeBool, typeInt, typeFloat, typeTime:
		return colType(dataType)
	}
	return typeText
}

// timeLayouts are the ISO 8601 forms a string is taken for a timestamp
// in, as Segment's and RudderStack's warehouses detect them.
var timeLayouts = []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02"}

func parseTime(s string) (time.Time, bool) {
	if len(s) < 10 || s[4] != '-' {
		return time.Time{}, false
	}
	for _, l := range timeLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// infer is the type a column gets from its first non-null value: a JSON
// value decoded with UseNumber, flattened (no objects; arrays are text).
func infer(v any) colType {
	switch x := v.(type) {
	case bool:
		return typeBool
	case json.Number:
		if _, err := strconv.ParseInt(string(x), 10, 64); err == nil {
			return typeInt
		}
		return typeFloat
	case string:
		if _, ok := parseTime(x); ok {
			return typeTime
		}
	case time.Time:
		return typeTime
	}
	return typeText
}

// cast converts a value to a column's type. ok is false when it cannot be,
// with the reason RudderStack's discards give ("incompatible schema
// conversion from string to int"); the value is then loaded as NULL and
// kept whole in the discards table.
func cast(v any, t colType) (out any, reason string, ok bool) {
	if v == nil {
		return nil, "", true
	}
	switch t {
	case typeText:
		return text(v), "", true
	case typeBool:
		if b, ok := v.(bool); ok {
			return b, "", true
		}
	case typeInt:
		if n, ok := v.(json.Number); ok {
			if i, err := strconv.ParseInt(string(n), 10, 64); err == nil {
				return i, "", true
			}
			// 3.0 is an integer; 3.5 is not.
			if f, err := n.Float64(); err == nil && f == math.Trunc(f) && math.Abs(f) < 1<<63 {
				return int64(f), "", true
			}
		}
	case typeFloat:
		if n, ok := v.(json.Number); ok {
			if f, err := n.Float64(); err == nil {
				return f, "", true
			}
		}
	case typeTime:
		if tm, ok := v.(time.Time); ok {
			return tm, "", true
		}
		if s, ok := v.(string); ok {
			if tm, ok := parseTime(s); ok {
				return tm, "", true
			}
		}
	}
	return nil, fmt.Sprintf("incompatible schema conversion from %s to %s", kind(v), t), false
}

// kind names a value's type in a discard's reason.
func kind(v any) string {
	switch x := v.(type) {
	case bool:
		return "boolean"
	case json.Number:
		return string(infer(x))
	case string:
		if _, ok := parseTime(x); ok {
			return "timestamp"
		}
		return "string"
	case time.Time:
		return "timestamp"
	}
	return "json"
}

// text is a value as a text column holds it: strings as they are, numbers
// as sent, arrays and objects as JSON.
func text(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case json.Number:
		return string(x)
	case bool:
		return strconv.FormatBool(x)
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return strings.TrimSpace(string(b))
}
