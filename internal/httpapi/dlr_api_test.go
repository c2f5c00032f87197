package httpapi_test

import (
	"testing"

	"github.com/campaignsms/campaignsms/internal/store"
)

func (e *apiEnv) dlr(token, provider string, body any) reply {
	e.t.Helper()
	return e.call("POST", "/api/v1/webhooks/dlr/"+provider, token, body)
}

// totals reads an initiation's results and checks that its parts add up.
func totals(t *testing.T, e *apiEnv, ini string) map[string]any {
	t.Helper()
	res := e.call("GET", "/api/v1/initiations/"+ini, tokA, nil).must(t, 200).object("results")
	if num(res, "sent")+num(res, "failed")+num(res, "skipped")+num(res, "cancelled")+num(res, "pending") != num(res, "customersSelected") ||
		num(res, "delivered") > num(res, "sent") {
		t.Fatalf("totals do not add up: %v", res)
	}
	return res
}

func TestDeliveryReportsOverHTTP(t *testing.T) {
	t.Parallel()
	e := newAPI(t, envOpts{})
	e.seed(tokA, "c", 12)
	ini := e.initiate(tokA, "c", nil)
	msg := func(n int) string { return store.MessageID(ini, n) }

	// Reports that arrive before the send is recorded are kept; the first wins.
	for _, s := range []struct {
		n      int
		body   map[string]any
		result string
	}{
		{0, map[string]any{"status": "delivered"}, store.DLRStored},
		{0, map[string]any{"status": "failed", "error": "late"}, store.DLRDuplicate},
		{1, map[string]any{"status": "FAILED", "error": "DND registered"}, store.DLRStored},
	} {
		s.body["messageId"] = msg(s.n)
		r := e.dlr(dlrTok, "webhook", s.body).must(t, 200)
		if r.data()["result"] != s.result || r.data()["messageId"] != msg(s.n) {
			t.Fatalf("early report %v: %s", s.body, r.raw)
		}
	}
	if res := totals(t, e, ini); num(res, "delivered") != 0 || num(res, "pending") != 12 {
		t.Fatalf("an early report moved totals: %v", res)
	}
	e.sendAll()
	res := totals(t, e, ini)
	if num(res, "sent") != 11 || num(res, "delivered") != 1 || num(res, "failed") != 1 {
		t.Fatalf("after sending: %v", res)
	}
	m0 := e.call("GET", "/api/v1/communication/sms/"+msg(0), tokA, nil).must(t, 200).data()
	m1 := e.call("GET", "/api/v1/communication/sms/"+msg(1), tokA, nil).must(t, 200).data()
	if m0["status"] != "delivered" || !rfc3339UTC.MatchString(m0["delivered_at"].(string)) || m0["sent_at"] == nil {
		t.Fatalf("message 0: %v", m0)
	}
	if m1["status"] != "failed" || m1["error"] != "DND registered" || m1["error_code"] != store.CodeDeliveryFailed || m1["delivered_at"] != nil {
		t.Fatalf("message 1: %v", m1)
	}

	// Reports after the send: applied once, repeats and later contradictions change nothing.
	for _, s := range []struct {
		n      int
		status string
		result string
	}{
		{2, "delivered", store.DLRApplied}, {2, "delivered", store.DLRIgnored}, {2, "failed", store.DLRIgnored},
		{3, "failed", store.DLRApplied}, {3, "delivered", store.DLRIgnored}, {0, "delivered", store.DLRIgnored},
	} {
		r := e.dlr(dlrTok, "webhook", map[string]any{"messageId": msg(s.n), "status": s.status}).must(t, 200)
		if r.data()["result"] != s.result {
			t.Fatalf("report %d %s: %s", s.n, s.status, r.raw)
		}
	}
	res = totals(t, e, ini)
	if num(res, "sent") != 10 || num(res, "delivered") != 2 || num(res, "failed") != 2 || num(res, "pending") != 0 {
		t.Fatalf("after reports: %v", res)
	}
	errs, _ := res["errors"].([]any)
	codes := map[string]string{}
	for _, x := range errs {
		m := x.(map[string]any)
		codes[m["id"].(string)] = m["code"].(string)
	}
	if codes["L00003"] != store.CodeDeliveryFailed {
		t.Fatalf("errors: %v", errs)
	}

	// Authentication, provider, body and message checks, in that order.
	ok := map[string]any{"messageId": msg(4), "status": "delivered"}
	e.dlr("", "webhook", ok).fails(t, 401, "Unauthorized")
	e.dlr(tokA, "webhook", ok).fails(t, 401, "Unauthorized")
	e.dlr("wrong", "unknown", ok).fails(t, 401, "Unauthorized")
	e.dlr(dlrTok, "unknown", ok).fails(t, 404, "NotFound")
	for _, tc := range []struct {
		body   any
		fields []string
	}{
		{map[string]any{"status": "delivered"}, []string{"messageId"}},
		{map[string]any{"messageId": msg(4)}, []string{"status"}},
		{map[string]any{"messageId": msg(4), "status": "read"}, []string{"status"}},
		{map[string]any{"messageId": msg(4), "status": "delivered", "timestamp": 1}, []string{"timestamp"}},
		{"not json", []string{"body"}},
	} {
		e.dlr(dlrTok, "webhook", tc.body).fails(t, 400, "ValidationError", tc.fields...)
	}
	for _, id := range []string{"msg_nope_0", store.MessageID(ini, 12), "garbage"} {
		e.dlr(dlrTok, "webhook", map[string]any{"messageId": id, "status": "delivered"}).fails(t, 404, "NotFound")
	}
	if res := totals(t, e, ini); num(res, "delivered") != 2 {
		t.Fatalf("a rejected report changed totals: %v", res)
	}
}

func TestDeliveryReportRouteNeedsToken(t *testing.T) {
	t.Parallel()
	none := ""
	e := newAPI(t, envOpts{dlrToken: &none})
	for _, tok := range []string{"", dlrTok, tokA} {
		e.dlr(tok, "webhook", map[string]any{"messageId": "msg_x_0", "status": "delivered"}).fails(t, 404, "NotFound")
	}
	e.call("GET", "/api/v1/webhooks/dlr/webhook", "", nil).fails(t, 404, "NotFound")
}
