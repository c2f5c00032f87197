// Package smstemplate parses SMS template bodies with {{field}} placeholders
// and renders them from a customer's fields (SPEC §4.5).
package smstemplate

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/campaignsms/campaignsms/internal/apperr"
)

// MaxFieldLength is the longest placeholder name accepted, in characters.
const MaxFieldLength = 64

// part is a literal (field < 0) or a placeholder (index into Template.fields).
type part struct {
	lit   string
	field int
}

// Template is a parsed body. It is immutable and safe for concurrent use.
type Template struct {
	body   string
	parts  []part
	fields []string // unique, in order of first use
	litLen int      // total length of the literals
}

// Parse parses body. A placeholder is "{{name}}" with optional spaces or tabs
// around the name; the name is letters (with their combining marks), digits,
// '_', '-' and '.'. An empty body, an unclosed "{{", an empty name or any
// other character in a name is an error. Text outside placeholders, a lone
// "}}" included, is copied as it is.
func Parse(body string) (*Template, error) {
	if strings.TrimSpace(body) == "" {
		return nil, errors.New("must not be empty")
	}
	t := &Template{body: body}
	rest := body
	offset := 0
	for {
		open := strings.Index(rest, "{{")
		if open < 0 {
			t.addLiteral(rest)
			break
		}
		t.addLiteral(rest[:open])
		closeAt := strings.Index(rest[open+2:], "}}")
		if closeAt < 0 {
			return nil, fmt.Errorf("unclosed \"{{\" at character %d", charPos(body, offset+open))
		}
		name := strings.Trim(rest[open+2:open+2+closeAt], " \t")
		if err := checkName(name); err != nil {
			return nil, fmt.Errorf("placeholder at character %d: %w", charPos(body, offset+open), err)
		}
		t.addField(name)
		next := open + 2 + closeAt + 2
		offset += next
		rest = rest[next:]
	}
	return t, nil
}

// MustParse is Parse that panics on error, for constants in tests and demo data.
func MustParse(body string) *Template {
	t, err := Parse(body)
	if err != nil {
		panic("smstemplate: " + err.Error())
	}
	return t
}

func charPos(s string, byteOffset int) int {
	return utf8.RuneCountInString(s[:byteOffset]) + 1
}

func checkName(name string) error {
	if name == "" {
		return errors.New("empty placeholder name")
	}
	if utf8.RuneCountInString(name) > MaxFieldLength {
		return fmt.Errorf("placeholder name longer than %d characters", MaxFieldLength)
	}
	for _, c := range name {
		if !unicode.IsLetter(c) && !unicode.IsMark(c) && !unicode.IsDigit(c) && c != '_' && c != '-' && c != '.' {
			return fmt.Errorf("invalid placeholder name %q: only letters, digits, '_', '-' and '.' are allowed", name)
		}
	}
	return nil
}

func (t *Template) addLiteral(s string) {
	if s == "" {
		return
	}
	if n := len(t.parts); n > 0 && t.parts[n-1].field < 0 {
		t.parts[n-1].lit += s
	} else {
		t.parts = append(t.parts, part{lit: s, field: -1})
	}
	t.litLen += len(s)
}

func (t *Template) addField(name string) {
	idx := -1
	for i, f := range t.fields {
		if f == name {
			idx = i
			break
		}
	}
	if idx < 0 {
		idx = len(t.fields)
		t.fields = append(t.fields, name)
	}
	t.parts = append(t.parts, part{field: idx})
}

// Body is the text the template was parsed from.
func (t *Template) Body() string { return t.body }

// String is Body.
func (t *Template) String() string { return t.body }

// Fields are the placeholder names, unique, in order of first use.
func (t *Template) Fields() []string {
	return append([]string(nil), t.fields...)
}

// Render fills the placeholders with get(name). A value that is absent or
// the empty string is missing; when any is, Render returns "" and the missing
// names (unique, in order of first use) and never a partial text. get is
// called once per distinct name.
func (t *Template) Render(get func(string) (string, bool)) (text string, missing []string) {
	var stack [16]string
	var values []string
	if len(t.fields) <= len(stack) {
		values = stack[:len(t.fields)]
	} else {
		values = make([]string, len(t.fields))
	}
	for i, f := range t.fields {
		v, ok := get(f)
		if !ok || v == "" {
			missing = append(missing, f)
			continue
		}
		values[i] = v
	}
	if missing != nil {
		return "", missing
	}
	if len(t.fields) == 0 {
		return t.body, nil
	}
	n := t.litLen
	for _, p := range t.parts {
		if p.field >= 0 {
			n += len(values[p.field])
		}
	}
	var b strings.Builder
	b.Grow(n)
	for _, p := range t.parts {
		if p.field >= 0 {
			b.WriteString(values[p.field])
		} else {
			b.WriteString(p.lit)
		}
	}
	return b.String(), nil
}

// Set is a template's default body and its bodies per language.
type Set struct {
	Default    *Template
	ByLanguage map[string]*Template // keys trimmed and lower-cased
}

// NewSet parses body and bodies (language -> body). The error is an
// *apperr.Error of kind Validation whose details name "body" or
// "bodies.<language>" (the language as given).
func NewSet(body string, bodies map[string]string) (*Set, error) {
	var details []apperr.FieldError
	s := &Set{}
	t, err := Parse(body)
	if err != nil {
		details = append(details, apperr.FieldError{Field: "body", Message: err.Error()})
	}
	s.Default = t
	langs := make([]string, 0, len(bodies))
	for lang := range bodies {
		langs = append(langs, lang)
	}
	sort.Strings(langs)
	if len(bodies) > 0 {
		s.ByLanguage = make(map[string]*Template, len(bodies))
	}
	seen := make(map[string]string, len(bodies))
	for _, lang := range langs {
		field := "bodies." + lang
		key := strings.ToLower(strings.TrimSpace(lang))
		if key == "" {
			details = append(details, apperr.FieldError{Field: field, Message: "the language must not be empty"})
			continue
		}
		if prev, dup := seen[key]; dup {
			details = append(details, apperr.FieldError{Field: field, Message: fmt.Sprintf("the same language as %q", prev)})
			continue
		}
		seen[key] = lang
		t, err := Parse(bodies[lang])
		if err != nil {
			details = append(details, apperr.FieldError{Field: field, Message: err.Error()})
			continue
		}
		s.ByLanguage[key] = t
	}
	if len(details) > 0 {
		return nil, apperr.InvalidFields(details)
	}
	return s, nil
}

// For returns the body for language (case-insensitive), else Default.
func (s *Set) For(language string) *Template {
	if len(s.ByLanguage) > 0 && language != "" {
		if t, ok := s.ByLanguage[strings.ToLower(strings.TrimSpace(language))]; ok {
			return t
		}
	}
	return s.Default
}

// AllFields are the placeholder names of every body, unique: Default's first,
// then the languages' in the order of their sorted keys.
func (s *Set) AllFields() []string {
	var out []string
	seen := map[string]bool{}
	add := func(t *Template) {
		if t == nil {
			return
		}
		for _, f := range t.fields {
			if !seen[f] {
				seen[f] = true
				out = append(out, f)
			}
		}
	}
	add(s.Default)
	langs := make([]string, 0, len(s.ByLanguage))
	for l := range s.ByLanguage {
		langs = append(langs, l)
	}
	sort.Strings(langs)
	for _, l := range langs {
		add(s.ByLanguage[l])
	}
	return out
}
