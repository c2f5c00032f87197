package initiate

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/campaignsms/campaignsms/internal/apperr"
	"github.com/campaignsms/campaignsms/internal/customer"
	"github.com/campaignsms/campaignsms/internal/filter"
)

// Limits of an initiation request body.
const (
	MaxTemplateIDLength = 64
	MaxLimit            = 10_000_000
)

// requestFields are the top-level fields of the body, in the order checked.
var requestFields = []string{"templateId", "limit", "filters", "dryRun"}

// Request is a decoded, validated body of POST /api/v1/initiate/{id}/sms.
type Request struct {
	TemplateID string
	Limit      int // 0: no limit
	Filters    filter.Filters
	DryRun     bool
}

// DecodeRequest reads and validates body (SPEC §4.1). Every error is an
// *apperr.Error of kind Validation whose Details name the offending fields.
func DecodeRequest(body []byte) (Request, error) {
	var req Request
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return req, apperr.Invalid("body", "the request body is empty; expected a JSON object with at least templateId")
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	dec.UseNumber()
	var raw json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		return req, apperr.Invalid("body", "the request body is not valid JSON: "+apperr.JSONProblem(err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return req, apperr.Invalid("body", "unexpected data after the JSON object")
	}
	if raw[0] != '{' {
		return req, apperr.Invalid("body", "the request body must be a JSON object")
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return req, apperr.Invalid("body", "the request body must be a JSON object")
	}

	var details []apperr.FieldError
	add := func(field, msg string) {
		details = append(details, apperr.FieldError{Field: field, Message: msg})
	}

	// templateId
	switch v, ok := m["templateId"]; {
	case !ok || isNull(v):
		add("templateId", "is required")
	default:
		var s string
		if json.Unmarshal(v, &s) != nil {
			add("templateId", "must be a string")
		} else if strings.TrimSpace(s) == "" {
			add("templateId", "must not be empty")
		} else if utf8.RuneCountInString(s) > MaxTemplateIDLength {
			add("templateId", fmt.Sprintf("must be at most %d characters", MaxTemplateIDLength))
		} else {
			req.TemplateID = s
		}
	}

	// limit
	if v, ok := m["limit"]; ok && !isNull(v) {
		n, msg := parseLimit(v)
		if msg != "" {
			add("limit", msg)
		} else {
			req.Limit = n
		}
	}

	// filters
	if v, ok := m["filters"]; ok {
		f, errs := filter.Parse(v)
		details = append(details, errs...)
		req.Filters = f
	}

	// dryRun
	if v, ok := m["dryRun"]; ok && !isNull(v) {
		if err := json.Unmarshal(v, &req.DryRun); err != nil {
			add("dryRun", "must be a boolean")
		}
	}

	var unknown []string
	for k := range m {
		if !isRequestField(k) {
			unknown = append(unknown, k)
		}
	}
	sort.Strings(unknown)
	for _, k := range unknown {
		add(k, "unknown field; allowed: "+strings.Join(requestFields, ", "))
	}

	if len(details) > 0 {
		return Request{}, apperr.InvalidFields(details)
	}
	return req, nil
}

func isRequestField(k string) bool {
	for _, f := range requestFields {
		if f == k {
			return true
		}
	}
	return false
}

func isNull(v json.RawMessage) bool {
	return string(bytes.TrimSpace(v)) == "null"
}

// parseLimit accepts a JSON number of integral value from 1 to MaxLimit
// (10, 1e2 and 10.0 are integers; 1.5, "10", 0 and -1 are not accepted).
func parseLimit(v json.RawMessage) (int, string) {
	const msg = "must be an integer of at least 1"
	dec := json.NewDecoder(bytes.NewReader(v))
	dec.UseNumber()
	var x any
	if dec.Decode(&x) != nil {
		return 0, msg
	}
	num, ok := x.(json.Number)
	if !ok {
		return 0, msg
	}
	s := customer.FormatNumber(num)
	if strings.ContainsAny(s, ".e") {
		return 0, msg
	}
	if strings.HasPrefix(s, "-") || s == "0" {
		return 0, msg
	}
	if len(s) > len(strconv.Itoa(MaxLimit)) {
		return 0, fmt.Sprintf("must be at most %d", MaxLimit)
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, msg
	}
	if n > MaxLimit {
		return 0, fmt.Sprintf("must be at most %d", MaxLimit)
	}
	return n, ""
}

// Canonical is the request as canonical JSON: keys sorted, filters normalized
// (lower-cased, duplicates removed, numbers in shortest form), defaults left
// out (no limit, no filters, dryRun false). Two bodies that decode to the same
// Request have the same Canonical form; it decodes back to the same Request.
func (r Request) Canonical() []byte {
	m := map[string]any{"templateId": r.TemplateID}
	if r.Limit != 0 {
		m["limit"] = r.Limit
	}
	if r.DryRun {
		m["dryRun"] = true
	}
	if !r.Filters.Empty() {
		f := map[string]any{}
		if len(r.Filters.IDs) > 0 {
			f["ids"] = r.Filters.IDs
		}
		if len(r.Filters.ExcludeIDs) > 0 {
			f["exclude_ids"] = r.Filters.ExcludeIDs
		}
		if len(r.Filters.PaymentStatus) > 0 {
			f["payment_status"] = r.Filters.PaymentStatus
		}
		if len(r.Filters.Language) > 0 {
			f["language"] = r.Filters.Language
		}
		if len(r.Filters.Custom) > 0 {
			f["custom"] = r.Filters.Custom
		}
		m["filters"] = f
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(m); err != nil {
		// Only strings, ints, bools and string slices are encoded: unreachable.
		panic("initiate: canonical request: " + err.Error())
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}
