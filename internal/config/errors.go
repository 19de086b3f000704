package config

import (
	"errors"
	"fmt"
)

// ErrInvalidInput marks errors caused by what the user asked for (a flag, a
// URL, an id), as opposed to failures of the cluster or the services.
// Commands exit with the usage exit code for them.
var ErrInvalidInput = errors.New("invalid input")

// Invalid marks err as caused by bad input without changing its message.
func Invalid(err error) error {
	if err == nil {
		return nil
	}
	return inputError{err}
}

// Invalidf is Invalid(fmt.Errorf(format, args...)).
func Invalidf(format string, args ...any) error {
	return inputError{fmt.Errorf(format, args...)}
}

type inputError struct{ err error }

func (e inputError) Error() string   { return e.err.Error() }
func (e inputError) Unwrap() []error { return []error{e.err, ErrInvalidInput} }
