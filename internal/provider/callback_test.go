package provider_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/campaignsms/campaignsms/internal/provider"
)

func fixture(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func cbRequest(method, target, contentType, body string) *http.Request {
	r := httptest.NewRequest(method, target, strings.NewReader(body))
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	return r
}

const formCT = "application/x-www-form-urlencoded"

func parser(t *testing.T, name string) provider.CallbackParser {
	t.Helper()
	p, ok := provider.Parser(name)
	if !ok {
		t.Fatalf("no parser for %s", name)
	}
	return p
}

func dlr(t *testing.T, name string, r *http.Request) []provider.Report {
	t.Helper()
	reps, err := parser(t, name).ParseDLR(r)
	if err != nil {
		t.Fatalf("%s ParseDLR: %v", name, err)
	}
	return reps
}

func TestParseFixtures(t *testing.T) {
	t.Parallel()
	ist := time.FixedZone("IST", 5*3600+1800)
	tests := []struct {
		name, provider string
		req            *http.Request
		want           []provider.Report
	}{
		{"msg91 v2 form", "msg91", cbRequest("POST", "/dlr", formCT, fixture(t, "msg91_dlr_v2.form")), []provider.Report{
			{ProviderMessageID: "3465646f6b73313234353637:919876543210", Status: provider.ReportDelivered, Code: "1", Text: "DELIVERED",
				Phone: "+919876543210", At: time.Date(2024, 5, 22, 10, 6, 20, 0, ist).UTC()},
			{ProviderMessageID: "3465646f6b73313234353637:919876543211", Status: provider.ReportDND, Code: "9", Text: "NDNC",
				Phone: "+919876543211", At: time.Date(2024, 5, 22, 10, 6, 21, 0, ist).UTC()},
			{ProviderMessageID: "3465646f6b73313234353638:919876543212", Status: provider.ReportFailed, Code: "16", Text: "Rejected by operator",
				Phone: "+919876543212", At: time.Date(2024, 5, 22, 10, 7, 0, 0, ist).UTC()},
		}},
		{"msg91 v3 json", "msg91", cbRequest("POST", "/dlr", "application/json", fixture(t, "msg91_dlr_v3.json")), []provider.Report{
			{ProviderMessageID: "3465646f6b73313234353637:919876543210", Status: provider.ReportDelivered, Code: "1", Text: "DELIVERED",
				Phone: "+919876543210", At: time.Date(2024, 5, 22, 9, 58, 16, 0, ist).UTC()},
		}},
		{"msg91 new webhook", "msg91", cbRequest("POST", "/dlr", "application/json", fixture(t, "msg91_dlr_new.json")), []provider.Report{
			{ProviderMessageID: "3465646f6b73313234353637:919876543213", Status: provider.ReportFailed, Code: "Failed", Text: "Absent subscriber",
				Phone: "+919876543213", At: time.Date(2025, 1, 10, 10, 0, 5, 0, ist).UTC()},
		}},
		{"exotel status callback", "exotel", cbRequest("POST", "/dlr", formCT, fixture(t, "exotel_status_callback.form")), []provider.Report{
			{MessageID: "init-1-0000042", ProviderMessageID: "0f477d60517e6e6a0f6d9a7e9af8630e", Status: provider.ReportDelivered,
				Code: "20005", Text: "DELIVERED_TO_HANDSET", Phone: "+919876543210", At: time.Date(2017, 3, 3, 14, 14, 28, 0, ist).UTC()},
		}},
		{"kaleyra callback with mid", "kaleyra", cbRequest("POST", "/dlr?token=x&mid=init-1-0000007", "application/json", fixture(t, "kaleyra_callback.json")), []provider.Report{
			{MessageID: "init-1-0000007", ProviderMessageID: "95a1c2ac-f36a-4e4c-8fc4-2a7bfd0be1d2:1", Status: provider.ReportDND, Code: "DNDNUMB",
				Text: "DND registered number", Phone: "+919876543210", At: time.Date(2020, 2, 10, 11, 21, 45, 0, ist).UTC()},
		}},
		{"gupshup get", "gupshup", cbRequest("GET", "/dlr?"+fixture(t, "gupshup_dlr_get.query"), "", ""), []provider.Report{
			{ProviderMessageID: "3562707498794989059-328736121207676738", Status: provider.ReportDelivered, Code: "000", Text: "SUCCESS",
				Phone: "+919892488888", At: time.UnixMilli(1526347800000).UTC()},
		}},
		{"gupshup post batch", "gupshup", cbRequest("POST", "/dlr", "application/json", fixture(t, "gupshup_dlr_post.json")), []provider.Report{
			{ProviderMessageID: "3562707498794989059-328736121207676738", Status: provider.ReportDelivered, Code: "000", Text: "SUCCESS",
				Phone: "+919892488888", At: time.UnixMilli(1526347800000).UTC()},
			{ProviderMessageID: "3798318073013708082-252169030017029882", Status: provider.ReportFailed, Code: "003", Text: "UNKNOWN_SUBSCRIBER",
				Phone: "+91989237777", At: time.UnixMilli(1526347800000).UTC()},
			{ProviderMessageID: "3798318073013708082-252169030017029883", Status: provider.ReportDND, Code: "006", Text: "DND_FAIL",
				Phone: "+91989237778", At: time.UnixMilli(1526347800000).UTC()},
		}},
		{"gupshup post as response= form", "gupshup", cbRequest("POST", "/dlr", formCT, url.Values{"response": {fixture(t, "gupshup_dlr_post.json")}}.Encode()), nil},
		{"twilio status callback", "twilio", cbRequest("POST", "/dlr?mid=init-9-0000001", formCT, fixture(t, "twilio_status_callback.form")), []provider.Report{
			{MessageID: "init-9-0000001", ProviderMessageID: "SM1342fe1b2c904d1ab04f0fc7a58abca9", Status: provider.ReportFailed, Code: "30003", Phone: "+15558675310"},
		}},
		{"webhook", "webhook", cbRequest("POST", "/dlr", "application/json", `{"messageId":"m-1","status":"Failed","error":"absent subscriber"}`), []provider.Report{
			{MessageID: "m-1", Status: provider.ReportFailed, Text: "absent subscriber"},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := dlr(t, tc.provider, tc.req)
			if tc.want == nil { // same content as the previous case in another envelope
				if len(got) != 3 || got[2].Status != provider.ReportDND {
					t.Fatalf("got %+v", got)
				}
				return
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %d reports %+v, want %d", len(got), got, len(tc.want))
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("report %d =\n%+v\nwant\n%+v", i, got[i], tc.want[i])
				}
			}
		})
	}
}

// Every documented status or code, per provider, maps to one report status.
func TestStatusTables(t *testing.T) {
	t.Parallel()
	D, F, N, P := provider.ReportDelivered, provider.ReportFailed, provider.ReportDND, provider.ReportPending
	type row struct {
		fields url.Values
		want   provider.ReportStatus
	}
	v := func(kv ...string) url.Values {
		out := url.Values{}
		for i := 0; i+1 < len(kv); i += 2 {
			out.Set(kv[i], kv[i+1])
		}
		return out
	}
	tables := map[string][]row{
		"msg91": {
			{v("status", "1"), D}, {v("status", "2"), F}, {v("status", "9"), N}, {v("status", "16"), F},
			{v("status", "17"), F}, {v("status", "25"), F}, {v("status", "8"), P}, {v("status", "Delivered"), D},
		},
		"exotel": {
			{v("Status", "queued"), P}, {v("Status", "sending"), P}, {v("Status", "submitted"), P},
			{v("Status", "sent", "DetailedStatusCode", "20005"), D}, {v("Status", "sent", "DetailedStatusCode", "20006"), D},
			{v("Status", "failed_dnd"), N}, {v("Status", "failed", "DetailedStatusCode", "23005", "DetailedStatus", "FAILED_DND"), N},
			{v("Status", "failed", "DetailedStatusCode", "23010"), F}, {v("Status", "failed", "DetailedStatusCode", "23082"), F},
			{v("Status", "delivered"), D}, {v("Status", "undelivered"), F}, {v("Status", "expired"), F},
		},
		"kaleyra": {
			{v("status", "Sent"), P}, {v("status", "Delivered"), D}, {v("status", "DELIVRD"), D}, {v("status", "Failed"), F},
			{v("status", "Undelivered"), F}, {v("status", "DNDNUMB"), N}, {v("status", "NO-CREDITS"), F},
			{v("status", "INV-NUMBER"), F}, {v("status", "BLACKLIST"), F}, {v("status", "EXPIRED"), F}, {v("status", "ABSENT-SUB"), F},
		},
		"gupshup": {
			{v("status", "SUCCESS"), D}, {v("status", "FAILURE", "cause", "ABSENT_SUBSCRIBER"), F}, {v("status", "UNKNOWN"), P},
			{v("status", "FAILURE", "cause", "DND_FAIL"), N}, {v("status", "FAILURE", "cause", "NCPR"), N},
		},
		"twilio": {
			{v("MessageStatus", "queued"), P}, {v("MessageStatus", "sending"), P}, {v("MessageStatus", "sent"), P},
			{v("MessageStatus", "delivered"), D}, {v("MessageStatus", "read"), D}, {v("MessageStatus", "undelivered", "ErrorCode", "30003"), F},
			{v("MessageStatus", "failed", "ErrorCode", "30007"), F}, {v("MessageStatus", "canceled"), F},
			{v("MessageStatus", "failed", "ErrorCode", "21610"), N},
		},
	}
	ids := map[string][]string{
		"msg91": {"requestId", "r1", "number", "919876543210"}, "exotel": {"SmsSid", "s1"}, "kaleyra": {"id", "k1"},
		"gupshup": {"externalId", "g1"}, "twilio": {"MessageSid", "SM1"},
	}
	for name, rows := range tables {
		for _, r := range rows {
			f := r.fields
			for i := 0; i < len(ids[name]); i += 2 {
				f.Set(ids[name][i], ids[name][i+1])
			}
			req := cbRequest("POST", "/dlr", formCT, f.Encode())
			if name == "msg91" {
				// MSG91's form webhook wraps reports in "data".
				req = cbRequest("POST", "/dlr", formCT, url.Values{"data": {
					`[{"requestId":"r1","report":[{"number":"919876543210","status":"` + f.Get("status") + `"}]}]`}}.Encode())
			}
			got := dlr(t, name, req)
			if len(got) != 1 || got[0].Status != r.want {
				t.Errorf("%s %v: got %+v, want %v", name, r.fields, got, r.want)
			}
		}
	}
}

func TestParseDLRErrors(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ provider, ct, body string }{
		{"msg91", formCT, "data=not-json"},
		{"msg91", formCT, "other=1"},
		{"msg91", "application/json", `{"requestId":"r"}`},
		{"exotel", formCT, "Status=sent"},
		{"exotel", formCT, "SmsSid=x"},
		{"kaleyra", "application/json", `{"status":"DELIVRD"}`},
		{"gupshup", "application/json", `[{"externalId":"x"}]`},
		{"gupshup", "application/json", `{not json`},
		{"twilio", formCT, "MessageSid=SM1"},
		{"twilio", "application/json", `{"MessageSid":"SM1","MessageStatus":"sent"}`},
		{"webhook", "application/json", `{"messageId":"m","status":"read"}`},
		{"webhook", "application/json", `{"messageId":"m","status":"failed","extra":1}`},
		{"webhook", formCT, "messageId=m&status=failed"},
	} {
		_, err := parser(t, c.provider).ParseDLR(cbRequest("POST", "/dlr", c.ct, c.body))
		if !errors.Is(err, provider.ErrBadCallback) {
			t.Errorf("%s %q: err = %v, want ErrBadCallback", c.provider, c.body, err)
		}
	}
	big := strings.Repeat("a", provider.MaxCallbackBody+1)
	if _, err := parser(t, "exotel").ParseDLR(cbRequest("POST", "/dlr", formCT, "SmsSid="+big)); !errors.Is(err, provider.ErrBadCallback) {
		t.Errorf("oversized body: err = %v", err)
	}
	if _, ok := provider.Parser("sns"); ok {
		t.Error("Parser(sns) found a parser")
	}
}

func TestParseInbound(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		provider string
		req      *http.Request
		from     string
		text     string
		keyword  provider.Keyword
	}{
		{"twilio", cbRequest("POST", "/in", formCT, fixture(t, "twilio_inbound.form")), "+15558675310", "UNSTOP", provider.KeywordStart},
		{"kaleyra", cbRequest("POST", "/in", "application/json", fixture(t, "kaleyra_inbound.json")), "+919876543210", "Stop", provider.KeywordStop},
		{"exotel", cbRequest("POST", "/in", formCT, "From=09876543210&To=08088919888&Body=hello"), "+09876543210", "hello", provider.KeywordNone},
		{"gupshup", cbRequest("GET", "/in?msisdn=919876543210&content=OPT+OUT&keyword=OPT", "", ""), "+919876543210", "OPT OUT", provider.KeywordStop},
		{"msg91", cbRequest("POST", "/in", "application/json", `{"sender":"919876543210","content":"quit"}`), "+919876543210", "quit", provider.KeywordStop},
		{"webhook", cbRequest("POST", "/in", "application/json", `{"from":"+919876543210","text":"START"}`), "+919876543210", "START", provider.KeywordStart},
	} {
		got, err := parser(t, c.provider).ParseInbound(c.req)
		if err != nil || len(got) != 1 {
			t.Errorf("%s: %+v, %v", c.provider, got, err)
			continue
		}
		if got[0].From != c.from || got[0].Text != c.text || provider.ClassifyKeyword(got[0].Text) != c.keyword {
			t.Errorf("%s: got %+v (%v), want from %s text %q %v", c.provider, got[0], provider.ClassifyKeyword(got[0].Text), c.from, c.text, c.keyword)
		}
	}
	if _, err := parser(t, "twilio").ParseInbound(cbRequest("POST", "/in", formCT, "Body=STOP")); !errors.Is(err, provider.ErrBadCallback) {
		t.Errorf("inbound without From: err = %v", err)
	}
}

func TestClassifyKeyword(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]provider.Keyword{
		"STOP": provider.KeywordStop, " stop ": provider.KeywordStop, "StopAll": provider.KeywordStop, "stop all": provider.KeywordStop,
		"UNSUBSCRIBE": provider.KeywordStop, "end": provider.KeywordStop, "Quit\n": provider.KeywordStop, "cancel": provider.KeywordStop,
		"OptOut": provider.KeywordStop, "opt out": provider.KeywordStop, "START": provider.KeywordStart, " unstop": provider.KeywordStart,
		"": provider.KeywordNone, "stop please": provider.KeywordNone, "STOPP": provider.KeywordNone, "paid already": provider.KeywordNone,
		"\u00a0STOP\u00a0": provider.KeywordStop, "start now": provider.KeywordNone,
	} {
		if got := provider.ClassifyKeyword(in); got != want {
			t.Errorf("ClassifyKeyword(%q) = %v, want %v", in, got, want)
		}
	}
}

// The worked example of twilio.com/docs/usage/security: auth token 12345,
// this URL and these parameters sign to this value.
func TestTwilioSignatureDocumentedVector(t *testing.T) {
	t.Parallel()
	const token, u = "12345", "https://mycompany.com/myapp.php?foo=1&bar=2"
	params := url.Values{"CallSid": {"CA1234567890ABCDE"}, "Caller": {"+12349013030"}, "Digits": {"1234"},
		"From": {"+12349013030"}, "To": {"+18005551212"}}
	const want = "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
	if got := provider.TwilioSignature(token, u, params); got != want {
		t.Fatalf("TwilioSignature = %s, want %s", got, want)
	}
	// The current page of the same docs uses other numbers.
	params2 := url.Values{"CallSid": {"CA1234567890ABCDE"}, "Caller": {"+14158675310"}, "Digits": {"1234"},
		"From": {"+14158675310"}, "To": {"+18005551212"}}
	if got := provider.TwilioSignature(token, u, params2); got != "GvWf1cFY/Q7PnoempGyD5oXAezc=" {
		t.Fatalf("TwilioSignature (second example) = %s", got)
	}
	r := cbRequest("POST", "/in", formCT, params.Encode())
	r.Header.Set("X-Twilio-Signature", want)
	if !provider.VerifyTwilioRequest(r, token, u) {
		t.Fatal("documented request does not verify")
	}
	// Verification leaves the body for the parser.
	if b := make([]byte, 10); func() bool { n, _ := r.Body.Read(b); return n == 0 }() {
		t.Fatal("body consumed by verification")
	}

	for name, mod := range map[string]func(*http.Request) (string, string){
		"forged signature": func(r *http.Request) (string, string) {
			r.Header.Set("X-Twilio-Signature", "AAAAAAAAAAAAAAAAAAAAAAAAAAA=")
			return token, u
		},
		"wrong token":     func(r *http.Request) (string, string) { return "54321", u },
		"other url":       func(r *http.Request) (string, string) { return token, u + "&baz=3" },
		"no signature":    func(r *http.Request) (string, string) { r.Header.Del("X-Twilio-Signature"); return token, u },
		"no token":        func(r *http.Request) (string, string) { return "", u },
		"tampered digits": func(r *http.Request) (string, string) { return token, u },
		"signature of body": func(r *http.Request) (string, string) {
			r.Header.Set("X-Twilio-Signature", provider.TwilioSignature(token, "", params))
			return token, u
		},
	} {
		body := params.Encode()
		if name == "tampered digits" {
			body = strings.Replace(body, "Digits=1234", "Digits=9999", 1)
		}
		r := cbRequest("POST", "/in", formCT, body)
		r.Header.Set("X-Twilio-Signature", want)
		tok, target := mod(r)
		if provider.VerifyTwilioRequest(r, tok, target) {
			t.Errorf("%s: verified", name)
		}
	}
}

// Nothing a caller sends makes a parser panic; what it cannot read is
// ErrBadCallback.
func TestParsersSurviveGarbage(t *testing.T) {
	t.Parallel()
	inputs := []struct{ ct, body string }{
		{"application/json", ""}, {"application/json", "["}, {"application/json", "null"}, {"application/json", "[null]"},
		{"application/json", `[1,2]`}, {"application/json", `{"data":1}`}, {"application/json", `{"data":"[{\"report\":5}]"}`},
		{formCT, "%zz"}, {formCT, "data=%5B%7B%22report%22%3A%5B1%5D%7D%5D"}, {formCT, "response=%5B1%5D"}, {"", "\x00\xff"},
		{"text/plain", "{"}, {"application/json", strings.Repeat("[", 10000)},
	}
	for _, name := range []string{"webhook", "msg91", "exotel", "kaleyra", "gupshup", "twilio"} {
		p := parser(t, name)
		for _, in := range inputs {
			for _, parse := range []func(*http.Request) error{
				func(r *http.Request) error { _, err := p.ParseDLR(r); return err },
				func(r *http.Request) error { _, err := p.ParseInbound(r); return err },
			} {
				err := parse(cbRequest("POST", "/cb", in.ct, in.body))
				if err != nil && !errors.Is(err, provider.ErrBadCallback) {
					t.Errorf("%s %q: %v is not ErrBadCallback", name, in.body, err)
				}
			}
		}
	}
}
