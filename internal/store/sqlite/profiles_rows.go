package sqlite

import (
	"bytes"
	"encoding/binary"
	"slices"
	"strconv"
	"strings"
)

// Writing the rows a batch gathers. A batch writes tens of thousands of
// rows; three things made that slow:
//
//   - binding: every value crossed into SQLite with a cgo call of its own,
//     which cost as much as the inserts themselves. The rows of a table
//     travel instead as one JSON array, bound once, that the statement
//     reads with jsonb_each: one statement per table per batch. (json_each
//     would hand each row to ->> as text to parse again, which cost a
//     fifth of the time; jsonb_each hands it over parsed.)
//   - order: rows at random positions of large B-trees visit a page each.
//     Sorted by primary key, consecutive rows land on the same pages.
//   - allocation: a row as []any boxes every value. rows encodes each row
//     straight into its JSON text and its sort key instead.

// rows gathers the rows of one statement. Values are added column by
// column, as SQLite should read them: str, num or null, then end.
type rows struct {
	keyColumns int // the primary key's columns, which lead every row
	columns    int
	col        int // columns of the current row so far
	keys, text []byte
	refs       []rowRef
	start      rowRef
}

// rowRef locates a row's sort key in keys and its JSON array in text.
type rowRef struct{ key0, key1, text0, text1 int }

func newRows(keyColumns int) *rows { return &rows{keyColumns: keyColumns} }

func (r *rows) len() int { return len(r.refs) }

// reset empties r for rows of another statement, keeping its memory.
func (r *rows) reset(keyColumns int) {
	r.keyColumns, r.col, r.columns = keyColumns, 0, 0
	r.keys, r.text, r.refs = r.keys[:0], r.text[:0], r.refs[:0]
}

func (r *rows) next() {
	if r.col == 0 {
		r.start = rowRef{key0: len(r.keys), text0: len(r.text)}
		r.text = append(r.text, '[')
	} else {
		r.text = append(r.text, ',')
	}
}

// str adds a text value. Its key part ends in NUL so that a shorter
// string sorts first; a string that holds a NUL may sort off, which costs
// only locality.
func (r *rows) str(s string) *rows {
	r.next()
	r.text = appendJSONString(r.text, s)
	if r.col < r.keyColumns {
		r.keys = append(append(r.keys, s...), 0)
	}
	r.col++
	return r
}

// num adds an integer; its key part is big-endian with the sign flipped,
// so that keys compare as the numbers do.
func (r *rows) num(v int64) *rows {
	r.next()
	r.text = strconv.AppendInt(r.text, v, 10)
	if r.col < r.keyColumns {
		r.keys = binary.BigEndian.AppendUint64(r.keys, uint64(v)^(1<<63))
	}
	r.col++
	return r
}

// null adds a NULL; it cannot be part of the key.
func (r *rows) null() *rows {
	r.next()
	r.text = append(r.text, "null"...)
	r.col++
	return r
}

// end finishes the row.
func (r *rows) end() {
	r.text = append(r.text, ']')
	r.start.key1, r.start.text1 = len(r.keys), len(r.text)
	r.refs = append(r.refs, r.start)
	r.columns, r.col = r.col, 0
}

// maxStatementJSON bounds the JSON of one statement. Rows are small, but
// trait values need not be, and SQLite refuses a value past 1 GB
// (SQLITE_MAX_LENGTH): a batch that hit it would fail on every retry.
const maxStatementJSON = 16 << 20

// sort orders the rows by key.
func (r *rows) sort() {
	slices.SortFunc(r.refs, func(x, y rowRef) int {
		return bytes.Compare(r.keys[x.key0:x.key1], r.keys[y.key0:y.key1])
	})
}

// json appends to b, as one JSON array, rows from refs until the array
// reaches maxStatementJSON, and returns what it did not take.
func (r *rows) json(b []byte, refs []rowRef) ([]byte, []rowRef) {
	b = append(b, '[')
	for i, ref := range refs {
		if i > 0 {
			if len(b) >= maxStatementJSON {
				return append(b, ']'), refs[i:]
			}
			b = append(b, ',')
		}
		b = append(b, r.text[ref.text0:ref.text1]...)
	}
	return append(b, ']'), nil
}

// insert writes rs in key order with `into SELECT ... suffix`: into names
// the table and its columns, suffix may be an ON CONFLICT clause. Rows of
// one statement must not conflict with each other, which the maps that
// gather them ensure.
func (a *applier) insert(into string, rs *rows, suffix string) error {
	if rs.len() == 0 {
		return nil
	}
	var sb strings.Builder
	sb.WriteString(into)
	sb.WriteString(" SELECT ")
	for i := range rs.columns {
		if i > 0 {
			sb.WriteString(", ")
		}
		sb.WriteString("value->>")
		sb.WriteString(strconv.Itoa(i))
	}
	// WHERE true: without it, ON CONFLICT would parse as part of the SELECT.
	sb.WriteString(" FROM jsonb_each(?) WHERE true")
	sb.WriteString(suffix)
	query := sb.String()
	rs.sort()
	for refs := rs.refs; len(refs) > 0; {
		a.buf, refs = rs.json(a.buf[:0], refs)
		if _, err := a.tx.ExecContext(a.ctx, query, string(a.buf)); err != nil {
			return err
		}
	}
	return nil
}

// appendJSONString quotes s, escaping only what JSON requires. Bytes that
// are not UTF-8 pass as they are: SQLite's JSON functions give them back
// unchanged (TestRowsRoundTrip holds it to that).
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		default:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		start = i + 1
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
