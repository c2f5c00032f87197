package httpapi_test

import (
	"context"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/campaignsms/campaignsms/internal/providertest"
	"github.com/campaignsms/campaignsms/internal/store"
	"github.com/campaignsms/campaignsms/internal/worker"
)

var rfc3339UTC = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$`)

// messagesFixture: campaign c of org a with 30 customers (statuses bounced,
// pending, paid in turn) and a lead; initiation "mixed" over the 20 bounced
// or pending ones, whose batch 0 is sent (L00000 skipped: now paid) and batch
// 1 rejected by the provider; initiation "open" over everyone, not sent; and
// initiation "gone", cancelled.
type messagesFixture struct {
	e                 *apiEnv
	mixed, open, gone string
	leadMsg           string
}

func newMessagesFixture(t *testing.T) messagesFixture {
	t.Helper()
	e := newAPI(t, envOpts{})
	e.seed(tokA, "c", 30)
	f := messagesFixture{e: e}
	f.mixed = e.initiate(tokA, "c", map[string]any{"templateId": "t", "filters": map[string]any{"payment_status": []string{"bounced", "pending"}}})
	batches := e.q.take()
	e.call("PUT", "/api/v1/customer-data", tokA, map[string]any{"campaignId": "c", "loan_id": "L00000", "data": map[string]any{"payment_status": "paid"}}).must(t, 200)
	h := e.handler(worker.HandlerParams{MaxAttempts: 1})
	if err := h.ProcessBatch(context.Background(), batches[0]); err != nil {
		t.Fatal(err)
	}
	e.fake.SetFaults(providertest.Faults{Reject4xxRate: 1})
	if err := h.ProcessBatch(context.Background(), batches[1]); err != nil {
		t.Fatal(err)
	}
	e.fake.SetFaults(providertest.Faults{})

	e.call("POST", "/api/v1/customers/add", tokA, map[string]any{"campaignId": "c", "data": map[string]any{
		"lead_id": "LEAD-1", "phone_number": "9812345678", "first_name": "Lee", "emi_amount": 5}}).must(t, 201)
	f.open = e.initiate(tokA, "c", nil)
	f.leadMsg = store.MessageID(f.open, 30) // the 31st customer in insertion order
	f.gone = e.initiate(tokA, "c", map[string]any{"templateId": "t", "limit": 3})
	e.call("DELETE", "/api/v1/initiations/"+f.gone, tokA, nil).must(t, 200)
	e.q.take()
	return f
}

func TestMessageView(t *testing.T) {
	t.Parallel()
	f := newMessagesFixture(t)
	get := func(id string) map[string]any {
		t.Helper()
		return f.e.call("GET", "/api/v1/communication/sms/"+id, tokA, nil).must(t, 200).data()
	}
	sent := get(store.MessageID(f.mixed, 1))
	for k, v := range map[string]any{
		"message_id": store.MessageID(f.mixed, 1), "initiation_id": f.mixed, "campaign_id": "c", "loan_id": "L00001",
		"to": "+919800000001", "template_id": "t", "body": "Hi N1, pay 1001", "status": "sent", "attempts": float64(1),
		"error": nil, "delivered_at": nil,
	} {
		if sent[k] != v {
			t.Errorf("sent message: %s = %v, want %v", k, sent[k], v)
		}
	}
	if !strings.HasPrefix(sent["provider_message_id"].(string), "pm-") || !rfc3339UTC.MatchString(sent["sent_at"].(string)) ||
		!rfc3339UTC.MatchString(sent["created_at"].(string)) {
		t.Errorf("sent message: %v", sent)
	}
	if _, has := sent["lead_id"]; has {
		t.Errorf("loan customer's message has lead_id: %v", sent)
	}

	skipped := get(store.MessageID(f.mixed, 0))
	if skipped["status"] != "skipped" || skipped["error_code"] != worker.CodeNoLongerMatches || skipped["body"] != nil || skipped["sent_at"] != nil {
		t.Errorf("skipped message: %v", skipped)
	}
	failed := get(store.MessageID(f.mixed, 15))
	if failed["status"] != "failed" || failed["error_code"] != worker.CodeProviderRejected || failed["error"] == nil || failed["attempts"] != float64(1) {
		t.Errorf("failed message: %v", failed)
	}
	pending := get(store.MessageID(f.open, 2))
	if pending["status"] != "pending" || pending["to"] != "+919800000002" || pending["body"] != nil || pending["attempts"] != float64(0) {
		t.Errorf("pending message: %v", pending)
	}
	if c := get(store.MessageID(f.gone, 2)); c["status"] != "cancelled" {
		t.Errorf("cancelled message: %v", c)
	}
	lead := get(f.leadMsg)
	if lead["lead_id"] != "LEAD-1" || lead["to"] != "+919812345678" {
		t.Errorf("lead message: %v", lead)
	}
	if _, has := lead["loan_id"]; has {
		t.Errorf("lead message has loan_id: %v", lead)
	}
	for _, id := range []string{"nope", "msg_", store.MessageID(f.mixed, 20), store.MessageID("ini_000", 0), store.MessageID(f.mixed, 1) + "x"} {
		f.e.call("GET", "/api/v1/communication/sms/"+id, tokA, nil).fails(t, 404, "NotFound")
	}
}

func TestLogs(t *testing.T) {
	t.Parallel()
	f := newMessagesFixture(t)
	ids := func(r reply) []string {
		var out []string
		for _, m := range r.list() {
			out = append(out, m["message_id"].(string))
		}
		return out
	}
	// Newest initiations first: gone (3), open (31), mixed (20).
	r := f.e.call("GET", "/api/v1/logs?type=sms&per_page=2", tokA, nil).must(t, 200)
	p := r.object("pagination")
	if r.body["success"] != true || !slices.Equal(ids(r), []string{store.MessageID(f.gone, 0), store.MessageID(f.gone, 1)}) ||
		num(p, "total") != 54 || num(p, "total_pages") != 27 || num(p, "page") != 1 || num(p, "per_page") != 2 ||
		p["has_next"] != true || p["has_prev"] != false {
		t.Fatalf("first page: %s", r.raw)
	}
	r = f.e.call("GET", "/api/v1/logs?per_page=3&page=12", tokA, nil).must(t, 200)
	if want := []string{store.MessageID(f.open, 30), store.MessageID(f.mixed, 0), store.MessageID(f.mixed, 1)}; !slices.Equal(ids(r), want) {
		t.Fatalf("page across initiations: %v, want %v", ids(r), want)
	}
	cases := []struct {
		query string
		total int
		first string
	}{
		{"?status=sent", 9, store.MessageID(f.mixed, 1)},
		{"?status=failed", 10, store.MessageID(f.mixed, 10)},
		{"?status=skipped", 1, store.MessageID(f.mixed, 0)},
		{"?status=cancelled", 3, store.MessageID(f.gone, 0)},
		{"?status=pending", 31, store.MessageID(f.open, 0)},
		{"?status=Sent,skipped", 10, store.MessageID(f.mixed, 0)},
		{"?initiation_id=" + f.mixed, 20, store.MessageID(f.mixed, 0)},
		{"?campaign_id=c&initiation_id=" + f.gone, 3, store.MessageID(f.gone, 0)},
		{"?campaign_id=other", 0, ""},
		{"?initiation_id=ini_000", 0, ""},
		{"?phone=98000%2000001", 3, store.MessageID(f.gone, 1)},
		{"?phone=%2B919800000001&status=sent", 1, store.MessageID(f.mixed, 1)},
		{"?phone=9812345678", 1, f.leadMsg},
	}
	for _, tc := range cases {
		r := f.e.call("GET", "/api/v1/logs"+tc.query, tokA, nil).must(t, 200)
		got := ids(r)
		first := ""
		if len(got) > 0 {
			first = got[0]
		}
		if num(r.object("pagination"), "total") != tc.total || first != tc.first {
			t.Errorf("%s: total %d first %q, want %d %q", tc.query, num(r.object("pagination"), "total"), first, tc.total, tc.first)
		}
	}
	for _, m := range f.e.call("GET", "/api/v1/logs?status=failed&per_page=100", tokA, nil).must(t, 200).list() {
		if m["status"] != "failed" {
			t.Fatalf("status filter let through %v", m)
		}
	}
	for _, q := range []string{"?type=email", "?status=done", "?phone=12", "?per_page=0", "?per_page=101", "?page=-1"} {
		f.e.call("GET", "/api/v1/logs"+q, tokA, nil).fails(t, 400, "ValidationError")
	}
	// Org b sees none of it, even by initiation id.
	for _, q := range []string{"", "?initiation_id=" + f.mixed, "?campaign_id=c"} {
		if n := num(f.e.call("GET", "/api/v1/logs"+q, tokB, nil).must(t, 200).object("pagination"), "total"); n != 0 {
			t.Fatalf("org b sees %d messages with %q", n, q)
		}
	}
}
