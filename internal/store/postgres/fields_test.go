package postgres

import (
	"testing"

	"roster/internal/store/storetest"
)

func TestEventFields(t *testing.T) { storetest.RunEventFields(t, open) }
