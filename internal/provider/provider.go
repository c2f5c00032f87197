// Package provider sends SMS messages through a pluggable backend: "log"
// (writes each message to the log, sends nothing), "webhook" (the HTTP
// protocol of SPEC §6) and the gateways of SPEC §8 (msg91, exotel, kaleyra,
// gupshup, twilio). Providers with a bulk request also implement
// BatchProvider; NewFailover puts a circuit breaker and an optional fallback
// in front of any of them. Delivery reports and inbound messages are parsed
// by each provider's CallbackParser.
//
// Every failed send is classified: an *Error says whether retrying can help
// (Transient), the provider's HTTP status, the 429 Retry-After hint and a short
// client-safe Reason. IsTransient applies the retry policy of SPEC §5 to any
// error a Provider returns.
package provider

import (
	"context"
	"errors"
	"strings"
	"time"
)

// Message is one SMS to send. ID is fixed per (initiation, customer) and is
// what the provider sees as the Idempotency-Key on every attempt.
type Message struct {
	ID            string
	To            string
	From          string
	Body          string
	TemplateID    string
	DLTTemplateID string
	DLTEntityID   string
	CampaignID    string
	CustomerID    string
	InitiationID  string
	// ProviderTemplateID is the template's id at the provider when it differs
	// from DLTTemplateID (MSG91's flow template id, SPEC §8); empty: use
	// DLTTemplateID.
	ProviderTemplateID string
	// Vars are the template's variables by name, for providers that render
	// the text themselves from a template registered with them (MSG91 flow);
	// the others send Body.
	Vars map[string]string
}

// Result is what the provider told us about an accepted message.
type Result struct {
	// ProviderMessageID is the provider's own id, empty when it gave none.
	ProviderMessageID string
	// Provider names the provider that accepted the message (SPEC §4.6
	// "provider"): set by the adapters and by the failover decorator, so a
	// message sent by the fallback says so.
	Provider string
}

// Provider sends one SMS. Implementations must be safe for concurrent use.
type Provider interface {
	Send(ctx context.Context, m Message) (Result, error)
}

// MaxRetryAfter caps the Retry-After hint taken from a 429 answer.
const MaxRetryAfter = 60 * time.Second

// Error classifies a failed send.
type Error struct {
	// Transient is true when the same message may succeed on a later attempt
	// (connection errors, timeouts, 408, 429, 5xx).
	Transient bool
	// Status is the provider's HTTP status, 0 for network errors and timeouts.
	Status int
	// RetryAfter is the provider's 429 Retry-After hint (capped at
	// MaxRetryAfter), 0 if none.
	RetryAfter time.Duration
	// Reason is short and client-safe, e.g. "provider answered 400: invalid
	// number" or "timeout". For the gateways it carries the provider's own
	// code and text.
	Reason string
	// Code is the provider's own error code ("21610", "E413"), empty if none.
	Code string
	// SlowDown is set when the provider asked us to send less (429 or its own
	// throttling code): not only this message but every worker should back
	// off, for RetryAfter when set.
	SlowDown bool
	// OptOut is set when the provider refused because the recipient opted out
	// (Twilio 21610): the message fails and the number should be recorded as
	// opted out.
	OptOut bool
	// Err is the underlying cause, if any. Not meant for clients.
	Err error
}

// Error implements error.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("sms provider: ")
	b.WriteString(e.Reason)
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the underlying cause.
func (e *Error) Unwrap() error { return e.Err }

// IsTransient reports whether a send that failed with err may be retried.
// An *Error (anywhere in the chain) decides by its Transient field. Any other
// error is transient, except a context cancellation (context.Canceled): the
// caller gave up, and it is up to the caller what happens to the message.
// A nil error is not transient.
func IsTransient(err error) bool {
	if err == nil {
		return false
	}
	var pe *Error
	if errors.As(err, &pe) {
		return pe.Transient
	}
	return !errors.Is(err, context.Canceled)
}
