package providertest

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

type rawReq struct {
	method, path, ctype, body string
	header                    map[string]string
	user, pass                string
}

func call(t *testing.T, base string, r rawReq) (int, string, http.Header) {
	t.Helper()
	if r.method == "" {
		r.method = http.MethodPost
	}
	req, err := http.NewRequestWithContext(context.Background(), r.method, base+r.path, strings.NewReader(r.body))
	if err != nil {
		t.Fatal(err)
	}
	if r.ctype != "" {
		req.Header.Set("Content-Type", r.ctype)
	}
	for k, v := range r.header {
		req.Header.Set(k, v)
	}
	if r.user != "" {
		req.SetBasicAuth(r.user, r.pass)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

const form = "application/x-www-form-urlencoded"

// Each fake refuses what its provider refuses, in that provider's shape.
func TestGatewayFakesValidate(t *testing.T) {
	t.Parallel()
	exo := NewExotel("sid", "key", "tok", GatewayFaults{})
	defer exo.Close()
	m91 := NewMSG91("ak", GatewayFaults{})
	defer m91.Close()
	kal := NewKaleyra("HX", "kk", GatewayFaults{})
	defer kal.Close()
	gup := NewGupshup("200", "pw", GatewayFaults{})
	defer gup.Close()
	twi := NewTwilio("AC", "tt", GatewayFaults{})
	defer twi.Close()
	ok := url.Values{"From": {"TMPPAY"}, "To": {"+919876543210"}, "Body": {"hi"}}.Encode()
	tooMany := make([]string, 101)
	for i := range tooMany {
		tooMany[i] = "+9198765" + strings.Repeat("0", 5)
	}
	for _, c := range []struct {
		name, base string
		req        rawReq
		status     int
		contains   string
	}{
		{"exotel xml by default", exo.URL(), rawReq{path: "/v1/Accounts/sid/Sms/send", ctype: form, body: ok, user: "key", pass: "bad"}, 401, "<RestException><Status>401</Status>"},
		{"exotel json with .json", exo.URL(), rawReq{path: "/v1/Accounts/sid/Sms/send.json", ctype: form, body: "To=1", user: "key", pass: "tok"}, 400, `"RestException"`},
		{"exotel form only", exo.URL(), rawReq{path: "/v1/Accounts/sid/Sms/send.json", ctype: "application/json", body: "{}", user: "key", pass: "tok"}, 400, "form-urlencoded"},
		{"exotel body limit", exo.URL(), rawReq{path: "/v1/Accounts/sid/Sms/send.json", ctype: form, user: "key", pass: "tok",
			body: url.Values{"From": {"A"}, "To": {"1"}, "Body": {strings.Repeat("x", 2001)}}.Encode()}, 400, "2000"},
		{"exotel accepts", exo.URL(), rawReq{path: "/v1/Accounts/sid/Sms/send", ctype: form, body: ok, user: "key", pass: "tok"}, 200, "<SMSMessage>"},
		{"msg91 authkey", m91.URL(), rawReq{path: "/api/v5/flow", ctype: "application/json", body: "{}"}, 401, `"type":"error"`},
		{"msg91 json only", m91.URL(), rawReq{path: "/api/v5/flow", ctype: form, body: "a=1", header: map[string]string{"authkey": "ak"}}, 400, "application/json"},
		{"msg91 template required", m91.URL(), rawReq{path: "/api/v5/flow", ctype: "application/json", body: `{"recipients":[{"mobiles":"91"}]}`,
			header: map[string]string{"authkey": "ak"}}, 200, `"type":"error"`},
		{"kaleyra api-key", kal.URL(), rawReq{path: "/v1/HX/messages", ctype: form, body: "to=1"}, 401, "E101"},
		{"kaleyra 100 recipients", kal.URL(), rawReq{path: "/v1/HX/messages", ctype: form, header: map[string]string{"api-key": "kk"},
			body: url.Values{"to": {strings.Join(tooMany, ",")}, "sender": {"KLR"}, "body": {"x"}}.Encode()}, 400, "100"},
		{"gupshup auth answered 200", gup.URL(), rawReq{method: "GET", path: "/GatewayAPI/rest?method=SendMessage&userid=200&password=x&format=json"}, 200, `"id":"105"`},
		{"gupshup text answers", gup.URL(), rawReq{method: "GET", path: "/GatewayAPI/rest?method=SendMessage&userid=200&password=pw&auth_scheme=plain&v=1.1&send_to=919876543210&msg=hi&msg_type=BAD"}, 200, "error | 102 |"},
		{"twilio auth", twi.URL(), rawReq{path: "/2010-04-01/Accounts/AC/Messages.json", ctype: form, body: ok, user: "AC", pass: "x"}, 401, `"code":20003`},
		{"twilio body required", twi.URL(), rawReq{path: "/2010-04-01/Accounts/AC/Messages.json", ctype: form, body: "To=%2B1&From=%2B2", user: "AC", pass: "tt"}, 400, `"code":21602`},
	} {
		status, body, _ := call(t, c.base, c.req)
		if status != c.status || !strings.Contains(body, c.contains) {
			t.Errorf("%s: %d %s", c.name, status, body)
		}
	}
	if n := len(exo.Accepted()); n != 1 {
		t.Errorf("exotel accepted %d", n)
	}
}

func TestGatewayFakeFaultsCount(t *testing.T) {
	t.Parallel()
	twi := NewTwilio("AC", "tt", GatewayFaults{Fail5xx: 1, TooMany: 1, RetryAfter: 1500 * time.Millisecond})
	defer twi.Close()
	r := rawReq{path: "/2010-04-01/Accounts/AC/Messages.json", ctype: form, body: "To=%2B1&From=%2B2&Body=hi", user: "AC", pass: "tt"}
	if st, _, _ := call(t, twi.URL(), r); st != 500 {
		t.Errorf("first: %d", st)
	}
	if st, _, h := call(t, twi.URL(), r); st != 429 || h.Get("Retry-After") != "2" {
		t.Errorf("second: %d Retry-After %q", st, h.Get("Retry-After"))
	}
	if st, _, _ := call(t, twi.URL(), r); st != 201 {
		t.Errorf("third: %d", st)
	}
	if twi.Requests() != 3 || len(twi.Accepted()) != 1 {
		t.Errorf("%d requests, %d accepted", twi.Requests(), len(twi.Accepted()))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := twi.WaitAccepted(ctx, 1); err != nil {
		t.Fatal(err)
	}
}

func TestWebhookBatchForm(t *testing.T) {
	t.Parallel()
	s := start(t, Options{Faults: Faults{RejectIDs: []string{"b"}}})
	c := http.DefaultClient
	for _, bad := range []string{
		`{"messages":[]}`,
		`{"messages":[{"messageId":"a","to":"+1"},{"messageId":"a","to":"+2"}]}`,
		`{"messages":[{"messageId":"a"}]}`,
		`{"messages":"x"}`,
	} {
		if st, _, _, _ := do(t, c, s.URL, req{body: bad}); st != 400 {
			t.Errorf("%s: %d", bad, st)
		}
	}
	st, body, _, err := do(t, c, s.URL, req{body: `{"messages":[{"messageId":"a","to":"+1"},{"messageId":"b","to":"+2"},{"messageId":"c","to":"+3"}]}`})
	if err != nil || st != 200 {
		t.Fatalf("%d %v", st, err)
	}
	want := `{"results":[{"messageId":"a","status":"accepted","providerMessageId":"pm-1"},{"messageId":"b","status":"rejected","error":"invalid number"},{"messageId":"c","status":"accepted","providerMessageId":"pm-2"}]}`
	if body != want {
		t.Errorf("answer %s\nwant   %s", body, want)
	}
	if got := s.Accepted(); got["a"] != 1 || got["c"] != 1 || got["b"] != 0 || s.Batches() != 1 {
		t.Errorf("accepted %v, batches %d", got, s.Batches())
	}
}
