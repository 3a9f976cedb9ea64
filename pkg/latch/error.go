package latch

import (
	"errors"
	"fmt"
)

// ErrorKind classifies an Error. Each edge maps the kind once: an HTTP status,
// a Slack ephemeral text, a CLI exit code.
type ErrorKind string

// The kinds of Error.
const (
	KindInvalid      ErrorKind = "invalid"      // the input is malformed or breaks a rule (400/422)
	KindNotFound     ErrorKind = "not_found"    // the thing named does not exist (404)
	KindConflict     ErrorKind = "conflict"     // the thing is not in a state that allows this (409)
	KindForbidden    ErrorKind = "forbidden"    // the actor may not do this (403)
	KindUnauthorized ErrorKind = "unauthorized" // no or bad credentials (401)
	KindTooMany      ErrorKind = "too_many"     // too many calls; slow down (429)
	KindInternal     ErrorKind = "internal"     // a fault of ours; retrying may help (500)
)

// Error is Latch's one application error. Code is a stable machine-readable
// code (e.g. "self_approval"), Message is safe to show a person, and Err is the
// wrapped cause, never shown.
type Error struct {
	Kind    ErrorKind
	Code    string
	Message string
	Details map[string]any
	Err     error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error of the given kind and code with a formatted message.
func Errorf(kind ErrorKind, code, format string, args ...any) *Error {
	return &Error{Kind: kind, Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorKindOf returns the kind of the first *Error in err's chain, or
// KindInternal when there is none.
func ErrorKindOf(err error) ErrorKind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return KindInternal
}

// ErrorCodeOf returns the code of the first *Error in err's chain, or
// "internal" when there is none.
func ErrorCodeOf(err error) string {
	var e *Error
	if errors.As(err, &e) && e.Code != "" {
		return e.Code
	}
	return "internal"
}

// ErrorMessageOf returns the person-safe message of the first *Error in err's
// chain, or a generic message when there is none.
func ErrorMessageOf(err error) string {
	var e *Error
	if errors.As(err, &e) && e.Message != "" {
		return e.Message
	}
	return "An internal error occurred."
}

// Sentinel errors returned by stores. They are *Error values, so edges map them
// like any other.
var (
	// ErrNotFound: the item does not exist.
	ErrNotFound = &Error{Kind: KindNotFound, Code: "not_found", Message: "Not found."}
	// ErrConflict: a conditional write failed because the item changed since
	// it was read (version mismatch) or already exists.
	ErrConflict = &Error{Kind: KindConflict, Code: "version_conflict", Message: "The item changed; try again."}
	// ErrDuplicate: a change with the same dedup key was already committed.
	ErrDuplicate = &Error{Kind: KindConflict, Code: "duplicate", Message: "Already done."}
	// ErrUndecodable: the item exists but its stored record cannot be
	// decoded (damaged, or written by a newer version).
	ErrUndecodable = &Error{Kind: KindInternal, Code: "undecodable", Message: "A stored record cannot be read."}
)

// permanentError marks an escalator or hook failure that retrying will not fix.
type permanentError struct{ err error }

func (p permanentError) Error() string { return p.err.Error() }
func (p permanentError) Unwrap() error { return p.err }

// Permanent marks err as a failure that retrying will not fix (a target
// system's 4xx, a missing identity). Nil stays nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanentError{err}
}

// IsPermanent reports whether err was marked with Permanent.
func IsPermanent(err error) bool {
	var p permanentError
	return errors.As(err, &p)
}
