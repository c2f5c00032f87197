package customer

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"
	"strings"
)

// maxPadding is the most zeros FormatNumber writes to place the decimal point;
// beyond it the number is written in scientific notation ("1e400").
const maxPadding = 32

// FormatNumber writes a JSON number literal in its shortest exact decimal
// form: "5000.0" -> "5000", "1e3" -> "1000", "5000.50" -> "5000.5",
// "-0" -> "0"; integers of any size stay exact. A string that is not a JSON
// number is returned unchanged. Customer field values (Record.Get) and filter
// values (package filter) are compared in this form.
func FormatNumber(n json.Number) string {
	s := string(n)
	neg, intPart, fracPart, exp, ok := splitNumber(s)
	if !ok {
		return s
	}
	digits := intPart + fracPart
	point := len(intPart) + exp // position of the decimal point in digits
	i := 0
	for i < len(digits) && digits[i] == '0' {
		i++
	}
	digits = digits[i:]
	point -= i
	digits = strings.TrimRight(digits, "0")
	if digits == "" {
		return "0"
	}
	var b strings.Builder
	b.Grow(len(digits) + 8)
	if neg {
		b.WriteByte('-')
	}
	switch {
	case point > len(digits)+maxPadding || point < -maxPadding:
		b.WriteByte(digits[0])
		if len(digits) > 1 {
			b.WriteByte('.')
			b.WriteString(digits[1:])
		}
		b.WriteByte('e')
		b.WriteString(strconv.Itoa(point - 1))
	case point <= 0:
		b.WriteString("0.")
		b.WriteString(strings.Repeat("0", -point))
		b.WriteString(digits)
	case point >= len(digits):
		b.WriteString(digits)
		b.WriteString(strings.Repeat("0", point-len(digits)))
	default:
		b.WriteString(digits[:point])
		b.WriteByte('.')
		b.WriteString(digits[point:])
	}
	return b.String()
}

// FormatFloat writes f like FormatNumber writes the literal of f, so that a
// value decoded as float64 and one decoded as json.Number read the same.
func FormatFloat(f float64) string {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return strconv.FormatFloat(f, 'g', -1, 64)
	}
	return FormatNumber(json.Number(strconv.FormatFloat(f, 'g', -1, 64)))
}

// splitNumber splits a JSON number literal into its parts. exp is clamped to
// a range that cannot overflow; ok is false when s is not a JSON number.
func splitNumber(s string) (neg bool, intPart, fracPart string, exp int, ok bool) {
	i := 0
	if i < len(s) && s[i] == '-' {
		neg = true
		i++
	}
	start := i
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	intPart = s[start:i]
	if intPart == "" || (len(intPart) > 1 && intPart[0] == '0') {
		return false, "", "", 0, false
	}
	if i < len(s) && s[i] == '.' {
		i++
		start = i
		for i < len(s) && isDigit(s[i]) {
			i++
		}
		fracPart = s[start:i]
		if fracPart == "" {
			return false, "", "", 0, false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		expNeg := false
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			expNeg = s[i] == '-'
			i++
		}
		start = i
		for i < len(s) && isDigit(s[i]) {
			exp = min(exp*10+int(s[i]-'0'), 1_000_000_000)
			i++
		}
		if i == start {
			return false, "", "", 0, false
		}
		if expNeg {
			exp = -exp
		}
	}
	if i != len(s) {
		return false, "", "", 0, false
	}
	return neg, intPart, fracPart, exp, true
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// ValueString renders a field value as a string: strings as they are, numbers
// in shortest form (FormatNumber), bools as "true"/"false", arrays and objects
// as compact JSON. nil (JSON null) is not a value: ok is false.
func ValueString(v any) (s string, ok bool) {
	switch x := v.(type) {
	case nil:
		return "", false
	case string:
		return x, true
	case json.Number:
		return FormatNumber(x), true
	case float64:
		return FormatFloat(x), true
	case float32:
		return FormatFloat(float64(x)), true
	case bool:
		if x {
			return "true", true
		}
		return "false", true
	case int:
		return strconv.FormatInt(int64(x), 10), true
	case int8:
		return strconv.FormatInt(int64(x), 10), true
	case int16:
		return strconv.FormatInt(int64(x), 10), true
	case int32:
		return strconv.FormatInt(int64(x), 10), true
	case int64:
		return strconv.FormatInt(x, 10), true
	case uint:
		return strconv.FormatUint(uint64(x), 10), true
	case uint8:
		return strconv.FormatUint(uint64(x), 10), true
	case uint16:
		return strconv.FormatUint(uint64(x), 10), true
	case uint32:
		return strconv.FormatUint(uint64(x), 10), true
	case uint64:
		return strconv.FormatUint(x, 10), true
	default:
		return compactJSON(x)
	}
}

func compactJSON(v any) (string, bool) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return "", false
	}
	return strings.TrimSuffix(buf.String(), "\n"), true
}
