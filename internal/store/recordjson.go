package store

import (
	"strconv"
	"time"
	"unicode/utf8"
)

// appendJSON appends r as the JSON object encoding/json would read back into
// the same MessageRecord. Finish encodes one per message on the worker's hot
// path, where reflection-based json.Marshal was a quarter of its CPU.
func (r *MessageRecord) appendJSON(b []byte) []byte {
	b = append(b, '{')
	field := func(name string) {
		if len(b) > 1 {
			b = append(b, ',')
		}
		b = append(b, '"')
		b = append(b, name...)
		b = append(b, '"', ':')
	}
	str := func(name, v string) {
		if v != "" {
			field(name)
			b = appendJSONString(b, v)
		}
	}
	str("to", r.To)
	str("body", r.Body)
	field("attempts")
	b = strconv.AppendInt(b, int64(r.Attempts), 10)
	str("providerMessageId", r.ProviderMessageID)
	str("code", r.Code)
	str("error", r.Error)
	if r.SentAt != nil {
		field("sentAt")
		b = appendJSONTime(b, *r.SentAt)
	}
	field("updatedAt")
	b = appendJSONTime(b, r.UpdatedAt)
	if r.Resent {
		field("resent")
		b = append(b, "true"...)
	}
	return append(b, '}')
}

func appendJSONTime(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string; invalid UTF-8 becomes U+FFFD
// as with encoding/json.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c < 0x20:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, `\ufffd`...)
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}
