// Package apperr defines the domain error kinds of the service. Domain packages
// return *Error values; the HTTP layer maps each Kind to a status in one table.
package apperr

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// Kind names a class of failure. The string is what clients see in "error".
type Kind string

// The kinds of SPEC §3.
const (
	Validation           Kind = "ValidationError"
	Unauthorized         Kind = "Unauthorized"
	NotFound             Kind = "NotFound"
	MethodNotAllowed     Kind = "MethodNotAllowed"
	Conflict             Kind = "Conflict"
	PayloadTooLarge      Kind = "PayloadTooLarge"
	UnsupportedMediaType Kind = "UnsupportedMediaType"
	Unprocessable        Kind = "Unprocessable"
	Internal             Kind = "InternalServerError"
	Unavailable          Kind = "Unavailable"
)

// FieldError points at one offending field of a request.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Error is a domain error with a client-safe message.
type Error struct {
	Kind    Kind
	Message string
	Details []FieldError
	Err     error // cause, never shown to clients
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Kind, e.Message, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Kind, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// New returns an error of kind k with a formatted message.
func New(k Kind, format string, args ...any) *Error {
	return &Error{Kind: k, Message: fmt.Sprintf(format, args...)}
}

// Invalid returns a validation error with one field detail.
func Invalid(field, message string) *Error {
	return &Error{Kind: Validation, Message: field + ": " + message, Details: []FieldError{{Field: field, Message: message}}}
}

// InvalidFields returns a validation error listing every offending field.
func InvalidFields(details []FieldError) *Error {
	msg := "The request is invalid."
	if len(details) > 0 {
		msg = details[0].Field + ": " + details[0].Message
	}
	return &Error{Kind: Validation, Message: msg, Details: details}
}

// KindOf returns the kind of err, Internal for errors that are not *Error.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return Internal
}

// JSONProblem describes a JSON decoding error in one clause a client can act on.
func JSONProblem(err error) string {
	var syn *json.SyntaxError
	if errors.As(err, &syn) {
		return fmt.Sprintf("%s (at byte %d)", syn.Error(), syn.Offset)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return "unexpected end of input"
	}
	return err.Error()
}
