package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/campaignsms/campaignsms/internal/apperr"
)

// object is a JSON object request body read field by field. Every problem is
// collected as a detail, so one 400 names all offending fields.
type object struct {
	m       map[string]json.RawMessage
	details []apperr.FieldError
}

// decodeObject parses body as one JSON object; anything else is a 400.
// readObject reads a request body of at most limit bytes that must be one JSON object.
func readObject(c echo.Context, limit int64) (*object, error) {
	body, err := readBody(c, limit)
	if err != nil {
		return nil, err
	}
	return decodeObject(body)
}

func decodeObject(body []byte) (*object, error) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return nil, apperr.Invalid("body", "the request body is empty; expected a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	var raw json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		return nil, apperr.Invalid("body", "the request body is not valid JSON: "+apperr.JSONProblem(err))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, apperr.Invalid("body", "unexpected data after the JSON object")
	}
	var m map[string]json.RawMessage
	if raw[0] != '{' || json.Unmarshal(raw, &m) != nil {
		return nil, apperr.Invalid("body", "the request body must be a JSON object")
	}
	return &object{m: m}, nil
}

func (o *object) fail(field, msg string) {
	o.details = append(o.details, apperr.FieldError{Field: field, Message: msg})
}

// has reports whether the field is present, null included.
func (o *object) has(name string) bool { _, ok := o.m[name]; return ok }

// null reports whether the field is present and null.
func (o *object) null(name string) bool {
	v, ok := o.m[name]
	return ok && string(bytes.TrimSpace(v)) == "null"
}

// given reports whether the field is present and not null.
func (o *object) given(name string) bool { return o.has(name) && !o.null(name) }

// str reads a string field of at most maxLen characters. It returns ok false
// when the field is absent or null (a detail when required) or invalid (a
// detail). Required strings must not be blank.
func (o *object) str(name string, required bool, maxLen int) (string, bool) {
	if !o.given(name) {
		if required {
			o.fail(name, "is required")
		}
		return "", false
	}
	var s string
	if json.Unmarshal(o.m[name], &s) != nil {
		o.fail(name, "must be a string")
		return "", false
	}
	if required && strings.TrimSpace(s) == "" {
		o.fail(name, "must not be empty")
		return "", false
	}
	if utf8.RuneCountInString(s) > maxLen {
		o.fail(name, fmt.Sprintf("must be at most %d characters", maxLen))
		return "", false
	}
	return s, true
}

// strList reads an array of non-empty strings (trimmed).
func (o *object) strList(name string, maxItems, maxLen int) ([]string, bool) {
	if !o.given(name) {
		return nil, false
	}
	var list []string
	if json.Unmarshal(o.m[name], &list) != nil {
		o.fail(name, "must be an array of strings")
		return nil, false
	}
	if len(list) > maxItems {
		o.fail(name, fmt.Sprintf("must have at most %d items", maxItems))
		return nil, false
	}
	out := make([]string, 0, len(list))
	for i, s := range list {
		s = strings.TrimSpace(s)
		switch {
		case s == "":
			o.fail(fmt.Sprintf("%s[%d]", name, i), "must not be empty")
			return nil, false
		case utf8.RuneCountInString(s) > maxLen:
			o.fail(fmt.Sprintf("%s[%d]", name, i), fmt.Sprintf("must be at most %d characters", maxLen))
			return nil, false
		}
		out = append(out, s)
	}
	return out, true
}

// strMap reads an object of strings.
func (o *object) strMap(name string) (map[string]string, bool) {
	if !o.given(name) {
		return nil, false
	}
	var m map[string]string
	if json.Unmarshal(o.m[name], &m) != nil {
		o.fail(name, "must be an object of strings")
		return nil, false
	}
	return m, true
}

// anyValue decodes a field keeping numbers exact (json.Number).
func (o *object) anyValue(name string) (any, bool) {
	if !o.given(name) {
		return nil, false
	}
	dec := json.NewDecoder(bytes.NewReader(o.m[name]))
	dec.UseNumber()
	var v any
	if dec.Decode(&v) != nil {
		return nil, false
	}
	return v, true
}

// record reads a JSON object whose keys are free (a customer record).
func (o *object) record(name string, required bool) (map[string]any, bool) {
	v, ok := o.anyValue(name)
	if !ok {
		if required {
			o.fail(name, "is required")
		}
		return nil, false
	}
	m, isObj := v.(map[string]any)
	if !isObj {
		o.fail(name, "must be a JSON object")
		return nil, false
	}
	return m, true
}

// array reads a JSON array with exact numbers.
func (o *object) array(name string, required bool) ([]any, bool) {
	v, ok := o.anyValue(name)
	if !ok {
		if required {
			o.fail(name, "is required")
		}
		return nil, false
	}
	list, isArr := v.([]any)
	if !isArr {
		o.fail(name, "must be an array")
		return nil, false
	}
	return list, true
}

// only flags every field not in allowed: a typo must not be ignored.
func (o *object) only(allowed ...string) {
	var unknown []string
	for k := range o.m {
		found := false
		for _, a := range allowed {
			if k == a {
				found = true
				break
			}
		}
		if !found {
			unknown = append(unknown, k)
		}
	}
	sort.Strings(unknown)
	for _, k := range unknown {
		o.fail(k, "unknown field; allowed: "+strings.Join(allowed, ", "))
	}
}

// err is the collected problems as one validation error, or nil.
func (o *object) err() error {
	if len(o.details) == 0 {
		return nil
	}
	return apperr.InvalidFields(o.details)
}
