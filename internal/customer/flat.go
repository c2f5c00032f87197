package customer

import (
	"encoding/json"
	"unicode/utf8"
)

// decodeFlat parses a JSON object whose values are strings without escapes,
// numbers, booleans or null, into the same Record encoding/json with
// UseNumber would give. ok is false for anything else (nested values,
// escapes, invalid UTF-8, malformed input): the caller then decodes it the
// general way.
func decodeFlat(data []byte) (Record, bool) {
	p := flatParser{b: data}
	p.ws()
	if !p.eat('{') {
		return nil, false
	}
	r := make(Record, 16)
	p.ws()
	if p.eat('}') {
		return r, p.end()
	}
	for {
		p.ws()
		key, ok := p.str()
		if !ok {
			return nil, false
		}
		p.ws()
		if !p.eat(':') {
			return nil, false
		}
		p.ws()
		v, ok := p.value()
		if !ok {
			return nil, false
		}
		r[key] = v
		p.ws()
		if p.eat(',') {
			continue
		}
		if p.eat('}') {
			return r, p.end()
		}
		return nil, false
	}
}

type flatParser struct {
	b []byte
	i int
}

func (p *flatParser) ws() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *flatParser) eat(c byte) bool {
	if p.i < len(p.b) && p.b[p.i] == c {
		p.i++
		return true
	}
	return false
}

// end reports whether only white space follows.
func (p *flatParser) end() bool {
	p.ws()
	return p.i == len(p.b)
}

// str reads a string without escapes or control characters.
func (p *flatParser) str() (string, bool) {
	if !p.eat('"') {
		return "", false
	}
	start := p.i
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			s := p.b[start:p.i]
			p.i++
			if !utf8.Valid(s) {
				return "", false
			}
			return string(s), true
		case c == '\\' || c < 0x20:
			return "", false
		}
		p.i++
	}
	return "", false
}

func (p *flatParser) value() (any, bool) {
	if p.i >= len(p.b) {
		return nil, false
	}
	switch c := p.b[p.i]; {
	case c == '"':
		return p.str()
	case c == '-' || (c >= '0' && c <= '9'):
		return p.number()
	case p.lit("true"):
		return true, true
	case p.lit("false"):
		return false, true
	case p.lit("null"):
		return nil, true
	}
	return nil, false
}

func (p *flatParser) lit(word string) bool {
	if len(p.b)-p.i >= len(word) && string(p.b[p.i:p.i+len(word)]) == word {
		p.i += len(word)
		return true
	}
	return false
}

// number reads a JSON number, checked against the JSON grammar.
func (p *flatParser) number() (any, bool) {
	start := p.i
	p.eat('-')
	switch {
	case p.eat('0'):
	case p.digits() == 0:
		return nil, false
	}
	if p.eat('.') && p.digits() == 0 {
		return nil, false
	}
	if p.eat('e') || p.eat('E') {
		if !p.eat('+') {
			p.eat('-')
		}
		if p.digits() == 0 {
			return nil, false
		}
	}
	return json.Number(p.b[start:p.i]), true
}

func (p *flatParser) digits() int {
	n := 0
	for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
		p.i++
		n++
	}
	return n
}
