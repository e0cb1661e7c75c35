package warehouse

import (
	"errors"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
)

func TestPermanentErrors(t *testing.T) {
	for code, want := range map[string]bool{
		"22P02": true,  // invalid text representation
		"42601": true,  // syntax error
		"42501": false, // insufficient privilege: an admin can grant it
		"42P01": false, // a table dropped behind the loader's back
		"42703": false, // a column dropped behind its back
		"40P01": false, // deadlock
		"57P01": false, // admin shutdown
		"08006": false, // connection failure
	} {
		err := fmt.Errorf("load: %w", &pgconn.PgError{Code: code})
		if got := permanent(err); got != want {
			t.Errorf("permanent(%s) = %v, want %v", code, got, want)
		}
	}
	if permanent(errors.New("connection refused")) {
		t.Error("a network error is not permanent")
	}
}
