// Package phone normalizes customer phone numbers to E.164 and masks them for
// logs (SPEC §4.4, §5).
package phone

import (
	"errors"
	"fmt"
	"strings"

	"github.com/nyaruka/phonenumbers"
)

// DefaultRegion is the region a number without a country code is read in:
// Indian 10-digit numbers become +91….
const DefaultRegion = "IN"

// maxRawLength bounds the input handed to the parser.
const maxRawLength = 40

// ErrInvalid is wrapped by every error Normalize returns.
var ErrInvalid = errors.New("invalid phone number")

// Normalize parses raw (spaces, dashes, dots, parentheses, a leading "+", "0",
// "91" or "+91" are accepted as libphonenumber reads them, with region IN by
// default) and returns the number in E.164 ("+919876543210"). The number must
// be valid for its region (phonenumbers.IsValidNumber).
func Normalize(raw string) (string, error) {
	s := strings.TrimSpace(raw)
	if s == "" {
		return "", fmt.Errorf("%w: empty", ErrInvalid)
	}
	if len(s) > maxRawLength {
		return "", fmt.Errorf("%w: too long", ErrInvalid)
	}
	digits := 0
	for i, c := range s {
		switch {
		case c >= '0' && c <= '9':
			digits++
		case c == '+' && i == 0:
		case c == ' ' || c == '-' || c == '.' || c == '(' || c == ')' || c == '/':
		default:
			return "", fmt.Errorf("%w: unexpected character %q", ErrInvalid, c)
		}
	}
	if digits == 0 {
		return "", fmt.Errorf("%w: no digits", ErrInvalid)
	}
	num, err := phonenumbers.Parse(s, DefaultRegion)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if num.GetExtension() != "" {
		return "", fmt.Errorf("%w: extensions are not allowed", ErrInvalid)
	}
	if !phonenumbers.IsValidNumber(num) {
		return "", fmt.Errorf("%w: not a valid number", ErrInvalid)
	}
	return phonenumbers.Format(num, phonenumbers.E164), nil
}

// Mask hides all but the country code and the last four digits of an E.164
// number: "+919876543210" -> "+91******3210". Input that is not a plausible
// E.164 number is masked entirely. Mask never panics.
func Mask(e164 string) string {
	n := len(e164)
	if n < 8 || n > 16 || e164[0] != '+' {
		return maskAll(e164)
	}
	for i := 1; i < n; i++ {
		if e164[i] < '0' || e164[i] > '9' {
			return maskAll(e164)
		}
	}
	cc := countryCodeLen(e164[1:])
	national := n - 1 - cc
	if cc == 0 || national < 7 {
		return maskAll(e164)
	}
	var b strings.Builder
	b.Grow(n)
	b.WriteString(e164[:1+cc])
	for i := 0; i < national-4; i++ {
		b.WriteByte('*')
	}
	b.WriteString(e164[n-4:])
	return b.String()
}

// countryCodeLen returns the length (1-3) of the country calling code that
// digits starts with, or 0 when none is known. Calling codes are prefix-free.
func countryCodeLen(digits string) int {
	cc := 0
	for i := 0; i < 3 && i < len(digits); i++ {
		cc = cc*10 + int(digits[i]-'0')
		if cc == 0 {
			return 0
		}
		if phonenumbers.GetRegionCodeForCountryCode(cc) != phonenumbers.UNKNOWN_REGION {
			return i + 1
		}
	}
	return 0
}

// maskAll replaces every character with '*', keeping at most 16 of them so
// that nothing about long input leaks either.
func maskAll(s string) string {
	n := len(s)
	if n == 0 {
		return ""
	}
	if n > 16 {
		n = 16
	}
	return strings.Repeat("*", n)
}
