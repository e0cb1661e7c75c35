package sqlite

import (
	"context"
	"database/sql"
	"math"
	"strings"
	"testing"

	"roster/internal/store"
)

// TestRowsRoundTrip holds the JSON path of insert to giving back exactly
// what was written: text with quotes, control characters, NUL and bytes
// that are not UTF-8, integers at both ends of their range, and NULL.
func TestRowsRoundTrip(t *testing.T) {
	ctx, tx, a := tempApplier(t, "CREATE TEMP TABLE rt (k TEXT PRIMARY KEY, n INTEGER, v TEXT)")
	texts := []string{"", "plain", "a\x00b", "\x00", "\xff\xfe", "\xed\xa0\x80", "q\"b\\s/\n\r\t\x01\x1f\x7f", "é😀\u2028\u2029", `{"a":[1,"x"]}`}
	nums := []int64{0, -1, 1, math.MinInt64, math.MaxInt64, 1 << 53, 1<<53 + 1}
	rs := newRows(1)
	type row struct {
		n    int64
		v    string
		null bool
	}
	want := map[string]row{}
	for i, text := range texts {
		for j, n := range nums {
			k := text + "|" + string(rune('a'+i)) + string(rune('a'+j))
			rs.str(k).num(n)
			if j%3 == 0 {
				rs.null()
				want[k] = row{n: n, null: true}
			} else {
				rs.str(text)
				want[k] = row{n: n, v: text}
			}
			rs.end()
		}
	}
	if err := a.insert("INSERT INTO rt(k, n, v)", rs, ""); err != nil {
		t.Fatal(err)
	}
	rows, err := tx.QueryContext(ctx, "SELECT k, typeof(k), n, typeof(n), v, typeof(v) FROM rt")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	got := 0
	for rows.Next() {
		var (
			k, v       []byte
			n          int64
			tk, tn, tv string
		)
		if err := rows.Scan(&k, &tk, &n, &tn, &v, &tv); err != nil {
			t.Fatal(err)
		}
		got++
		w, ok := want[string(k)]
		switch {
		case !ok || tk != "text":
			t.Errorf("key %q (%s) was not written", k, tk)
		case tn != "integer" || n != w.n:
			t.Errorf("%q: n = %d (%s), want %d", k, n, tn, w.n)
		case w.null && tv != "null":
			t.Errorf("%q: v = %q (%s), want NULL", k, v, tv)
		case !w.null && (tv != "text" || string(v) != w.v):
			t.Errorf("%q: v = %q (%s), want %q", k, v, tv, w.v)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if got != len(want) {
		t.Errorf("read %d rows, want %d", got, len(want))
	}
}

// TestRowsSplitLargeStatements writes more JSON than one statement takes.
func TestRowsSplitLargeStatements(t *testing.T) {
	ctx, tx, a := tempApplier(t, "CREATE TEMP TABLE big (k INTEGER PRIMARY KEY, v TEXT)")
	value := strings.Repeat("x", 1<<20)
	n := maxStatementJSON>>20 + 5
	rs := newRows(1)
	for i := range n {
		rs.num(int64(i)).str(value).end()
	}
	if err := a.insert("INSERT INTO big(k, v)", rs, ""); err != nil {
		t.Fatal(err)
	}
	var count, total int
	if err := tx.QueryRowContext(ctx, "SELECT count(*), sum(length(v)) FROM big").Scan(&count, &total); err != nil {
		t.Fatal(err)
	}
	if count != n || total != n*len(value) {
		t.Errorf("wrote %d rows of %d bytes, want %d of %d", count, total, n, n*len(value))
	}
}

// tempApplier opens a store and returns an applier in a profiles.db
// transaction, rolled back at the end of the test, in which create has
// made a table to write.
func tempApplier(t *testing.T, create string) (context.Context, *sql.Tx, *applier) {
	t.Helper()
	ctx := t.Context()
	s := open(t, store.Options{}).(*Store)
	tx, err := s.pw.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tx.Rollback() }) //nolint:errcheck
	if _, err := tx.ExecContext(ctx, create); err != nil {
		t.Fatal(err)
	}
	return ctx, tx, newApplier(ctx, tx, 0, newRowBuffers(), nil)
}
