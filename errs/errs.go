package errs

import (
	"errors"
	"fmt"
)

// Exit codes of the gauntlet binary. They are part of the public contract:
// CI systems branch on them.
const (
	// OK means every gate passed.
	OK = 0
	// GateFailed means at least one gate failed (and no waiver covered it).
	GateFailed = 1
	// Invalid means bad configuration or bad input (model, data, paths).
	Invalid = 2
	// SuiteFailed means a suite failed at run time.
	SuiteFailed = 3
	// Interrupted means the run was stopped by SIGINT or SIGTERM.
	Interrupted = 130
)

// Error is an error that carries an exit code.
type Error struct {
	Code int
	Err  error
}

// Error implements error.
func (e *Error) Error() string { return e.Err.Error() }

// Unwrap returns the wrapped error.
func (e *Error) Unwrap() error { return e.Err }

// WithCode wraps err with an exit code. A nil err stays nil.
func WithCode(code int, err error) error {
	if err == nil {
		return nil
	}
	return &Error{Code: code, Err: err}
}

// Invalidf returns an error with exit code Invalid (2): bad config or input.
func Invalidf(format string, args ...any) error {
	return &Error{Code: Invalid, Err: fmt.Errorf(format, args...)}
}

// Code returns the exit code carried by err, def if it carries none, and OK
// for a nil error.
func Code(err error, def int) int {
	if err == nil {
		return OK
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return def
}
