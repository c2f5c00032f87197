// Package customer holds the customer records of a campaign (SPEC §4.4): their
// validation, their id and the string form of their fields used by filters and
// templates.
package customer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/campaignsms/campaignsms/internal/apperr"
	"github.com/campaignsms/campaignsms/internal/phone"
)

// Limits of SPEC §4.4 and of a record.
const (
	MaxRecords   = 10000 // records in one bulk add
	MaxKeys      = 100   // keys in one record
	MaxKeyLength = 64    // characters in one key
	MaxIDLength  = 128   // characters in a customer id
)

// Standard field names.
const (
	FieldLoanID        = "loan_id"
	FieldLeadID        = "lead_id"
	FieldPhoneNumber   = "phone_number"
	FieldFirstName     = "first_name"
	FieldLastName      = "last_name"
	FieldLoanAmount    = "loan_amount"
	FieldEMIAmount     = "emi_amount"
	FieldLoanPeriod    = "loan_period"
	FieldCurrentEMI    = "current_emi"
	FieldEMIDueDate    = "emi_due_date"
	FieldPaymentStatus = "payment_status"
	FieldLanguage      = "language"
	FieldLeadDate      = "lead_date"
)

// StandardFields lists the standard fields; any other key is a custom field.
var StandardFields = []string{
	FieldLoanID, FieldLeadID, FieldPhoneNumber, FieldFirstName, FieldLastName,
	FieldLoanAmount, FieldEMIAmount, FieldLoanPeriod, FieldCurrentEMI,
	FieldEMIDueDate, FieldPaymentStatus, FieldLanguage, FieldLeadDate,
}

// PaymentStatuses are the accepted values of payment_status, lower-case.
var PaymentStatuses = []string{"bounced", "pending", "partial", "paid", "received"}

// IsStandardField reports whether name is a standard field.
func IsStandardField(name string) bool {
	for _, f := range StandardFields {
		if f == name {
			return true
		}
	}
	return false
}

// ValidPaymentStatus reports whether s (lower-case) is a known payment status.
func ValidPaymentStatus(s string) bool {
	for _, p := range PaymentStatuses {
		if p == s {
			return true
		}
	}
	return false
}

// Record is one customer: field name to value, values as encoding/json decodes
// them with UseNumber (string, json.Number, bool, nil, []any, map[string]any);
// float64 and Go integers are read too.
type Record map[string]any

// Normalize validates raw and returns the record to store: the id (loan_id,
// else lead_id) trimmed and stringified, phone_number in E.164, payment_status
// lower-cased, language trimmed. A null or empty loan_id, phone_number,
// payment_status or language is dropped. raw is not modified. The returned
// FieldErrors name the offending key, relative to the record ("" for the
// record as a whole); when there are any, the Record is nil.
func Normalize(raw map[string]any) (Record, []apperr.FieldError) {
	var errs []apperr.FieldError
	if len(raw) > MaxKeys {
		return nil, []apperr.FieldError{{Field: "", Message: fmt.Sprintf("a customer record has at most %d fields, got %d", MaxKeys, len(raw))}}
	}
	r := make(Record, len(raw))
	for k, v := range raw {
		switch {
		case k == "":
			errs = append(errs, apperr.FieldError{Field: "", Message: "field names must not be empty"})
		case utf8.RuneCountInString(k) > MaxKeyLength:
			errs = append(errs, apperr.FieldError{Field: truncate(k, MaxKeyLength), Message: fmt.Sprintf("field names have at most %d characters", MaxKeyLength)})
		}
		r[k] = v
	}

	idField := ""
	for _, f := range []string{FieldLoanID, FieldLeadID} {
		v, present := r[f]
		if !present || v == nil {
			delete(r, f)
			continue
		}
		id, msg := normalizeID(v)
		if msg != "" {
			if f == FieldLoanID || idField == "" {
				errs = append(errs, apperr.FieldError{Field: f, Message: msg})
			}
			continue
		}
		if id == "" {
			if f == FieldLoanID {
				delete(r, f) // an empty loan_id gives way to lead_id
			}
			continue
		}
		if idField == "" {
			idField = f
			r[f] = id
		}
	}
	if idField == "" && !hasField(errs, FieldLoanID) && !hasField(errs, FieldLeadID) {
		errs = append(errs, apperr.FieldError{Field: FieldLoanID, Message: "loan_id or lead_id is required"})
	}

	if v, present := r[FieldPhoneNumber]; present {
		s, isStr := scalarString(v)
		switch {
		case v == nil || (isStr && strings.TrimSpace(s) == ""):
			delete(r, FieldPhoneNumber)
		case !isStr:
			errs = append(errs, apperr.FieldError{Field: FieldPhoneNumber, Message: "must be a string"})
		default:
			e164, err := phone.Normalize(s)
			if err != nil {
				errs = append(errs, apperr.FieldError{Field: FieldPhoneNumber, Message: "must be a valid phone number"})
			} else {
				r[FieldPhoneNumber] = e164
			}
		}
	}

	if v, present := r[FieldPaymentStatus]; present {
		s, isStr := v.(string)
		s = strings.ToLower(strings.TrimSpace(s))
		switch {
		case v == nil || (isStr && s == ""):
			delete(r, FieldPaymentStatus)
		case !isStr:
			errs = append(errs, apperr.FieldError{Field: FieldPaymentStatus, Message: "must be a string"})
		case !ValidPaymentStatus(s):
			errs = append(errs, apperr.FieldError{Field: FieldPaymentStatus, Message: "must be one of " + strings.Join(PaymentStatuses, ", ")})
		default:
			r[FieldPaymentStatus] = s
		}
	}

	if v, present := r[FieldLanguage]; present {
		s, isStr := v.(string)
		s = strings.TrimSpace(s)
		switch {
		case v == nil || (isStr && s == ""):
			delete(r, FieldLanguage)
		case !isStr:
			errs = append(errs, apperr.FieldError{Field: FieldLanguage, Message: "must be a string"})
		default:
			r[FieldLanguage] = s
		}
	}

	if len(errs) > 0 {
		return nil, errs
	}
	return r, nil
}

// normalizeID returns the trimmed string form of an id value, "" when it is
// empty, or a message when it is not acceptable.
func normalizeID(v any) (id, msg string) {
	s, ok := scalarString(v)
	if !ok {
		return "", "must be a string or a number"
	}
	s = strings.TrimSpace(s)
	if s == "" {
		return "", ""
	}
	if !utf8.ValidString(s) {
		return "", "must be valid UTF-8"
	}
	if utf8.RuneCountInString(s) > MaxIDLength {
		return "", fmt.Sprintf("must be at most %d characters", MaxIDLength)
	}
	for _, c := range s {
		if unicode.IsControl(c) {
			return "", "must not contain control characters"
		}
	}
	return s, ""
}

// scalarString returns strings and numbers as strings; ok is false otherwise.
func scalarString(v any) (string, bool) {
	switch v.(type) {
	case string, json.Number, float64, float32, int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64:
		return ValueString(v)
	}
	return "", false
}

func hasField(errs []apperr.FieldError, field string) bool {
	for _, e := range errs {
		if e.Field == field {
			return true
		}
	}
	return false
}

func truncate(s string, n int) string {
	i := 0
	for j := range s {
		if i == n {
			return s[:j] + "…"
		}
		i++
	}
	return s
}

// IDField is "loan_id" when the record has a non-empty loan_id, else "lead_id"
// when it has a non-empty lead_id, else "".
func (r Record) IDField() string {
	for _, f := range []string{FieldLoanID, FieldLeadID} {
		if s, ok := scalarString(r[f]); ok && strings.TrimSpace(s) != "" {
			return f
		}
	}
	return ""
}

// ID is the customer id: the value of IDField, trimmed ("" when none).
func (r Record) ID() string {
	f := r.IDField()
	if f == "" {
		return ""
	}
	s, _ := scalarString(r[f])
	return strings.TrimSpace(s)
}

// Get returns the value of field as a string (see ValueString); ok is false
// when the field is absent or null.
func (r Record) Get(field string) (string, bool) {
	v, present := r[field]
	if !present {
		return "", false
	}
	return ValueString(v)
}

// PaymentStatus is payment_status, trimmed and lower-cased ("" when absent).
func (r Record) PaymentStatus() string {
	s, _ := r.Get(FieldPaymentStatus)
	return strings.ToLower(strings.TrimSpace(s))
}

// Language is language, trimmed and lower-cased ("" when absent).
func (r Record) Language() string {
	s, _ := r.Get(FieldLanguage)
	return strings.ToLower(strings.TrimSpace(s))
}

// Phone is phone_number ("" when absent).
func (r Record) Phone() string {
	s, _ := r.Get(FieldPhoneNumber)
	return s
}

// MarshalJSON writes the record as a JSON object; json.Number values are
// written as they are, so no precision is lost. A nil Record is "{}".
func (r Record) MarshalJSON() ([]byte, error) {
	if r == nil {
		return []byte("{}"), nil
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(map[string]any(r)); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// Decode reads a record written by MarshalJSON (or any JSON object), keeping
// numbers as json.Number. It does not validate (see Normalize). Workers
// decode every customer they message, so flat records (the usual case) take
// a scanner without reflection; anything else takes encoding/json.
func Decode(data []byte) (Record, error) {
	if r, ok := decodeFlat(data); ok {
		return r, nil
	}
	return decodeJSON(data)
}

func decodeJSON(data []byte) (Record, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("customer: decode record: %w", err)
	}
	if m == nil {
		return nil, errors.New("customer: decode record: not a JSON object")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("customer: decode record: unexpected data after the object")
	}
	return Record(m), nil
}
