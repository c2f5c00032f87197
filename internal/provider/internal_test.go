package provider

import (
	"net/http"
	"testing"
	"time"
)

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"0", 0},
		{"5", 5 * time.Second},
		{" 7 ", 7 * time.Second},
		{"60", time.Minute},
		{"61", time.Minute},
		{"99999999999999999999999", time.Minute},
		{"-3", 0},
		{"-99999999999999999999999", 0},
		{"1.5", 0},
		{"later", 0},
		{now.Add(30 * time.Second).Format(http.TimeFormat), 30 * time.Second},
		{now.Add(time.Hour).Format(http.TimeFormat), time.Minute},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0},
		{now.Add(10 * time.Second).Format(time.RFC850), 10 * time.Second},
	} {
		if got := parseRetryAfter(c.in, now); got != c.want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", c.in, got, c.want)
		}
	}
}

func TestReasonSnippet(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"", ""},
		{"  \n ", ""},
		{"invalid\nnumber\x00\x07 here", "invalid number here"},
		{`{"error":"x"}`, `{"error":"x"}`},
		{"call 9876543210 now", "call ******3210 now"},
		{"dlt 1107161234567890123 unknown", "dlt 1107161234567890123 unknown"},
		{"bad \xff\xfe utf8", "bad utf8"},
		{string(make([]byte, 10)) + "é" + string(make([]byte, 0)), "é"},
	} {
		if got := reasonSnippet([]byte(c.in)); got != c.want {
			t.Errorf("reasonSnippet(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	long := ""
	for len(long) < 300 {
		long += "é"
	}
	if got := reasonSnippet([]byte(long)); len(got) != 200 {
		t.Errorf("len = %d, want 200", len(got))
	}
	if got := reasonSnippet([]byte("a" + long)); len(got) != 199 {
		t.Errorf("len = %d, want 199 (no cut rune)", len(got))
	}
}

func TestParseProviderMessageID(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{`{"providerMessageId":"abc"}`, "abc"},
		{`{"providerMessageId":42}`, "42"},
		{`{"providerMessageId":null}`, ""},
		{`{"providerMessageId":{"x":1}}`, ""},
		{`OK`, ""},
		{`[]`, ""},
	} {
		if got := parseProviderMessageID([]byte(c.in)); got != c.want {
			t.Errorf("parseProviderMessageID(%s) = %q, want %q", c.in, got, c.want)
		}
	}
}
