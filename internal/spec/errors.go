package spec

import "fmt"

// Error codes, stable for clients and the quarantine.
const (
	CodeInvalidJSON     = "invalid_json"
	CodeMissingField    = "missing_field"
	CodeInvalidType     = "invalid_type"
	CodeInvalidValue    = "invalid_value"
	CodeTooLarge        = "too_large"
	CodeTooManyMessages = "too_many_messages"
)

// Error says why a message or body was rejected. Field names the offending
// field (a JSON path such as "traits" or "batch[3]") when there is one.
type Error struct {
	Code    string
	Field   string
	Message string
}

func (e *Error) Error() string {
	if e.Field == "" {
		return e.Message
	}
	return e.Field + ": " + e.Message
}

func errorf(code, field, format string, args ...any) *Error {
	return &Error{Code: code, Field: field, Message: fmt.Sprintf(format, args...)}
}
