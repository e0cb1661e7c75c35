package warehouse

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// maxIdentifier is PostgreSQL's limit on a name, in bytes (NAMEDATALEN-1):
// longer names are cut, as PostgreSQL itself would cut them.
const maxIdentifier = 63

// SnakeCase is a trait, property or event name as a column or table name,
// by Segment's rules (go-snakecase): words split at spaces, punctuation
// and case changes ("totalBilled" → "total_billed", "HTTPServer" →
// "http_server"), lower-cased, joined by "_". A name that starts with a
// digit gets a leading "_"; the result is cut to 63 bytes. It is "" when
// the name has no letter or digit.
func SnakeCase(name string) string {
	var words []string
	var cur []rune
	flush := func() {
		if len(cur) > 0 {
			words = append(words, strings.ToLower(string(cur)))
			cur = cur[:0]
		}
	}
	rs := []rune(name)
	for i, r := range rs {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) {
			flush()
			continue
		}
		if unicode.IsUpper(r) && len(cur) > 0 {
			prev := cur[len(cur)-1]
			nextLower := i+1 < len(rs) && unicode.IsLower(rs[i+1])
			// "totalBilled": lower then upper; "HTTPServer": the last
			// capital of a run starts the next word.
			if unicode.IsLower(prev) || unicode.IsDigit(prev) || (unicode.IsUpper(prev) && nextLower) {
				flush()
			}
		}
		cur = append(cur, r)
	}
	flush()
	s := strings.Join(words, "_")
	if s == "" {
		return ""
	}
	if r, _ := utf8.DecodeRuneInString(s); unicode.IsDigit(r) {
		s = "_" + s
	}
	return cut(s)
}

// cut shortens a name to maxIdentifier bytes at a character boundary.
func cut(s string) string {
	if len(s) <= maxIdentifier {
		return s
	}
	n := maxIdentifier
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// join is a nested name: the parent's column, "_", the child's name.
func join(parent, child string) string {
	if parent == "" {
		return child
	}
	return cut(parent + "_" + child)
}

// quote is a name as a PostgreSQL identifier.
func quote(name string) string {
	return `"` + strings.ReplaceAll(name, `"`, `""`) + `"`
}

// fold is a column name as a folded trait key (spec.FoldKey): a column
// made from any spelling of a trait folds to that trait's key.
func fold(column string) string {
	return strings.ReplaceAll(column, "_", "")
}
