// Package filter parses and applies the "filters" object of an SMS initiation
// (SPEC §4.1): filters combine with AND, the values inside one with OR.
package filter

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/campaignsms/campaignsms/internal/apperr"
	"github.com/campaignsms/campaignsms/internal/customer"
)

// Limits of one filters object.
const (
	MaxIDs        = 100000 // entries of ids and of exclude_ids
	MaxValues     = 10000  // entries of payment_status, language and each custom array
	MaxCustomKeys = customer.MaxKeys
	maxElemErrors = 10 // element errors reported per array
)

// Filters is a parsed filters object. Marshalled to JSON it reads back
// identically through Parse, so it can be stored with an initiation.
type Filters struct {
	IDs           []string            `json:"ids,omitempty"`
	ExcludeIDs    []string            `json:"exclude_ids,omitempty"`
	PaymentStatus []string            `json:"payment_status,omitempty"` // lower-case
	Language      []string            `json:"language,omitempty"`       // lower-case
	Custom        map[string][]string `json:"custom,omitempty"`
}

// Names of the filters, in the order they are checked.
var knownKeys = []string{"ids", "exclude_ids", "payment_status", "language", "custom"}

// Parse reads the filters object raw. Absent (empty raw), null and {} mean no
// filter. Errors name the offending field: "filters", "filters.ids[3]",
// "filters.payment_status", "filters.custom.region", "filters.<unknown key>".
func Parse(raw json.RawMessage) (Filters, []apperr.FieldError) {
	var f Filters
	trimmed := bytes.TrimSpace(raw)
	if len(trimmed) == 0 || string(trimmed) == "null" {
		return f, nil
	}
	if trimmed[0] != '{' {
		return f, []apperr.FieldError{{Field: "filters", Message: "must be an object"}}
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return f, []apperr.FieldError{{Field: "filters", Message: "must be a valid JSON object"}}
	}
	if _, err := dec.Token(); err != io.EOF {
		return f, []apperr.FieldError{{Field: "filters", Message: "must be a valid JSON object"}}
	}

	var errs []apperr.FieldError
	for _, key := range knownKeys {
		v, present := m[key]
		if !present {
			continue
		}
		field := "filters." + key
		switch key {
		case "ids":
			f.IDs = parseIDs(field, v, &errs)
		case "exclude_ids":
			f.ExcludeIDs = parseIDs(field, v, &errs)
		case "payment_status":
			f.PaymentStatus = parseStrings(field, v, &errs, func(s string) string {
				if !customer.ValidPaymentStatus(s) {
					return fmt.Sprintf("unknown payment status %q; allowed: %s", s, strings.Join(customer.PaymentStatuses, ", "))
				}
				return ""
			})
		case "language":
			f.Language = parseStrings(field, v, &errs, nil)
		case "custom":
			f.Custom = parseCustom(field, v, &errs)
		}
	}
	var unknown []string
	for key := range m {
		if !isKnown(key) {
			unknown = append(unknown, key)
		}
	}
	sort.Strings(unknown)
	for _, key := range unknown {
		errs = append(errs, apperr.FieldError{Field: "filters." + key,
			Message: "unknown filter; allowed: " + strings.Join(knownKeys, ", ")})
	}
	if len(errs) > 0 {
		return Filters{}, errs
	}
	return f, nil
}

func isKnown(key string) bool {
	for _, k := range knownKeys {
		if k == key {
			return true
		}
	}
	return false
}

func addErr(errs *[]apperr.FieldError, field, msg string) {
	*errs = append(*errs, apperr.FieldError{Field: field, Message: msg})
}

// emptyValue reports null, "" and [] with the error of SPEC §4.1.
func emptyValue(field string, v any, errs *[]apperr.FieldError) bool {
	switch x := v.(type) {
	case nil:
		addErr(errs, field, "must not be null; leave the filter out to not filter")
	case string:
		if x != "" {
			return false
		}
		addErr(errs, field, "must not be empty")
	case []any:
		if len(x) > 0 {
			return false
		}
		addErr(errs, field, "must not be an empty array")
	default:
		return false
	}
	return true
}

// parseIDs reads an array of non-empty strings, trimmed, duplicates removed.
func parseIDs(field string, v any, errs *[]apperr.FieldError) []string {
	if emptyValue(field, v, errs) {
		return nil
	}
	arr, ok := v.([]any)
	if !ok {
		addErr(errs, field, "must be an array of strings")
		return nil
	}
	if len(arr) > MaxIDs {
		addErr(errs, field, fmt.Sprintf("must have at most %d entries", MaxIDs))
		return nil
	}
	out := make([]string, 0, len(arr))
	seen := make(map[string]struct{}, len(arr))
	bad := 0
	for i, e := range arr {
		s, isStr := e.(string)
		s = strings.TrimSpace(s)
		if !isStr || s == "" {
			if bad < maxElemErrors {
				addErr(errs, fmt.Sprintf("%s[%d]", field, i), "must be a non-empty string")
			}
			bad++
			continue
		}
		if _, dup := seen[s]; !dup {
			seen[s] = struct{}{}
			out = append(out, s)
		}
	}
	return out
}

// parseStrings reads a string or an array of strings, trimmed, lower-cased,
// duplicates removed; check returns a message for a value it rejects.
func parseStrings(field string, v any, errs *[]apperr.FieldError, check func(string) string) []string {
	if emptyValue(field, v, errs) {
		return nil
	}
	var arr []any
	single := false
	switch x := v.(type) {
	case string:
		arr, single = []any{x}, true
	case []any:
		arr = x
	default:
		addErr(errs, field, "must be a string or an array of strings")
		return nil
	}
	if len(arr) > MaxValues {
		addErr(errs, field, fmt.Sprintf("must have at most %d entries", MaxValues))
		return nil
	}
	var out []string
	bad := 0
	for i, e := range arr {
		efield := field
		if !single {
			efield = fmt.Sprintf("%s[%d]", field, i)
		}
		s, isStr := e.(string)
		s = strings.ToLower(strings.TrimSpace(s))
		msg := ""
		switch {
		case !isStr || s == "":
			msg = "must be a non-empty string"
		case check != nil:
			msg = check(s)
		}
		if msg != "" {
			if bad < maxElemErrors {
				addErr(errs, efield, msg)
			}
			bad++
			continue
		}
		if !contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// parseCustom reads the custom object: field name to a scalar or an array of
// scalars, each stringified as customer.Record.Get does.
func parseCustom(field string, v any, errs *[]apperr.FieldError) map[string][]string {
	if v == nil {
		addErr(errs, field, "must not be null; leave the filter out to not filter")
		return nil
	}
	obj, ok := v.(map[string]any)
	if !ok {
		addErr(errs, field, "must be an object of field names to values")
		return nil
	}
	if len(obj) == 0 {
		addErr(errs, field, "must not be an empty object")
		return nil
	}
	if len(obj) > MaxCustomKeys {
		addErr(errs, field, fmt.Sprintf("must have at most %d fields", MaxCustomKeys))
		return nil
	}
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make(map[string][]string, len(obj))
	for _, k := range keys {
		kfield := field + "." + k
		if k == "" {
			addErr(errs, field, "field names must not be empty")
			continue
		}
		if utf8.RuneCountInString(k) > customer.MaxKeyLength {
			addErr(errs, field, fmt.Sprintf("field names have at most %d characters", customer.MaxKeyLength))
			continue
		}
		val := obj[k]
		if emptyValue(kfield, val, errs) {
			continue
		}
		arr, isArr := val.([]any)
		if !isArr {
			s, msg := customScalar(val)
			if msg != "" {
				addErr(errs, kfield, msg)
				continue
			}
			out[k] = []string{s}
			continue
		}
		if len(arr) > MaxValues {
			addErr(errs, kfield, fmt.Sprintf("must have at most %d entries", MaxValues))
			continue
		}
		var vals []string
		bad := 0
		for i, e := range arr {
			s, msg := customScalar(e)
			if msg != "" {
				if bad < maxElemErrors {
					addErr(errs, fmt.Sprintf("%s[%d]", kfield, i), msg)
				}
				bad++
				continue
			}
			if !contains(vals, s) {
				vals = append(vals, s)
			}
		}
		out[k] = vals
	}
	return out
}

func customScalar(v any) (string, string) {
	switch x := v.(type) {
	case nil:
		return "", "must not be null"
	case string:
		if x == "" {
			return "", "must not be empty"
		}
		return x, ""
	case json.Number, bool:
		s, _ := customer.ValueString(x)
		return s, ""
	case map[string]any:
		return "", "must be a string, number or boolean, not an object"
	case []any:
		return "", "must be a string, number or boolean, not an array"
	default:
		return "", "must be a string, number or boolean"
	}
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

// Empty reports whether no filter is set.
func (f Filters) Empty() bool {
	return len(f.IDs) == 0 && len(f.ExcludeIDs) == 0 && len(f.PaymentStatus) == 0 &&
		len(f.Language) == 0 && len(f.Custom) == 0
}

// MatchAttributes applies payment_status, language and custom, not ids and
// exclude_ids (those are set operations on customer ids, and do not change
// for a customer: at send time this is the check that matters).
func (f Filters) MatchAttributes(r customer.Record) bool {
	if len(f.PaymentStatus) > 0 && !containsFold(f.PaymentStatus, r.PaymentStatus()) {
		return false
	}
	if len(f.Language) > 0 && !containsFold(f.Language, r.Language()) {
		return false
	}
	for k, vals := range f.Custom {
		v, ok := r.Get(k)
		if !ok || !contains(vals, v) {
			return false
		}
	}
	return true
}

// Match is MatchAttributes plus ids (the customer's id must be listed) and
// exclude_ids (its id must not be; exclude wins). It scans the id lists: to
// match many customers use Compile.
func (f Filters) Match(r customer.Record) bool {
	if len(f.IDs) > 0 || len(f.ExcludeIDs) > 0 {
		id := r.ID()
		if len(f.IDs) > 0 && !contains(f.IDs, id) {
			return false
		}
		if contains(f.ExcludeIDs, id) {
			return false
		}
	}
	return f.MatchAttributes(r)
}

// containsFold compares case-insensitively; s (from the record) is never "".
func containsFold(list []string, s string) bool {
	if s == "" {
		return false
	}
	for _, e := range list {
		if strings.EqualFold(e, s) {
			return true
		}
	}
	return false
}
