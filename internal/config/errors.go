package config

import "errors"

// ErrInvalidInput marks errors caused by what the user asked for (a flag, a
// URL, an id), as opposed to failures of the cluster or the services.
// Commands exit with the usage exit code for them.
var ErrInvalidInput = errors.New("invalid input")
