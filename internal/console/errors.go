package console

import (
	"errors"

	"roster/internal/store"
)

func errorsIsNotFound(err error) bool { return errors.Is(err, store.ErrNotFound) }

func errorsIsInvalid(err error) bool { return errors.Is(err, store.ErrInvalid) }
