package httpapi_test

import (
	"testing"

	"github.com/campaignsms/campaignsms/internal/store"
)

// Every management route: no token and a wrong token are 401; org b asking
// for org a's campaign, template, customer, initiation or message gets the
// 404 of a missing one and changes nothing; org b's lists show none of a's.
func TestOrgIsolationOnEveryRoute(t *testing.T) {
	t.Parallel()
	e := newAPI(t, envOpts{})
	e.seed(tokA, "c", 12)
	ini := e.initiate(tokA, "c", nil)
	e.sendAll()
	msg := store.MessageID(ini, 0)
	// Org b has a campaign of its own, also named "c" (ids are per org).
	e.call("POST", "/api/v1/campaigns/create", tokB, map[string]any{"id": "other", "name": "B"}).must(t, 201)

	rec := people(0, 1)[0]
	routes := []struct {
		method, path string
		body         any
	}{
		{"GET", "/api/v1/campaigns/c", nil},
		{"PUT", "/api/v1/campaigns/update/c", map[string]any{"name": "stolen"}},
		{"PATCH", "/api/v1/campaigns/pause/c", nil},
		{"PATCH", "/api/v1/campaigns/resume/c", nil},
		{"DELETE", "/api/v1/campaigns/c", nil},
		{"GET", "/api/v1/campaigns/c/customers", nil},
		{"POST", "/api/v1/customers/add", map[string]any{"campaignId": "c", "data": rec}},
		{"POST", "/api/v1/customers/add/bulk", map[string]any{"campaignId": "c", "records": []any{rec}}},
		{"PUT", "/api/v1/customer-data", map[string]any{"campaignId": "c", "loan_id": "L00000", "data": map[string]any{"payment_status": "paid"}}},
		{"GET", "/api/v1/templates/t", nil},
		{"PUT", "/api/v1/templates/t", map[string]any{"body": "stolen"}},
		{"DELETE", "/api/v1/templates/t", nil},
		{"POST", "/api/v1/initiate/c/sms", map[string]any{"templateId": "t"}},
		{"GET", "/api/v1/initiations/" + ini, nil},
		{"DELETE", "/api/v1/initiations/" + ini, nil},
		{"GET", "/api/v1/communication/sms/" + msg, nil},
	}
	for _, rt := range routes {
		t.Run(rt.method+" "+rt.path, func(t *testing.T) {
			e.call(rt.method, rt.path, "", rt.body).fails(t, 401, "Unauthorized")
			e.call(rt.method, rt.path, "not-a-token", rt.body).fails(t, 401, "Unauthorized")
			e.call(rt.method, rt.path, tokB, rt.body).fails(t, 404, "NotFound")
		})
	}
	for _, path := range []string{"/api/v1/campaigns", "/api/v1/templates", "/api/v1/logs", "/api/v1/initiations", "/api/v1/campaigns/create"} {
		method := "GET"
		if path == "/api/v1/campaigns/create" {
			method = "POST"
		}
		e.call(method, path, "", nil).fails(t, 401, "Unauthorized")
		e.call(method, path, "not-a-token", nil).fails(t, 401, "Unauthorized")
	}
	e.call("POST", "/api/v1/templates", "", map[string]any{"name": "x", "body": "y"}).fails(t, 401, "Unauthorized")

	// b's lists hold only b's things.
	if l := e.call("GET", "/api/v1/campaigns", tokB, nil).must(t, 200).list(); len(l) != 1 || l[0]["id"] != "other" {
		t.Fatalf("b's campaigns: %v", l)
	}
	for _, path := range []string{"/api/v1/templates", "/api/v1/logs", "/api/v1/logs?initiation_id=" + ini, "/api/v1/initiations"} {
		if l := e.call("GET", path, tokB, nil).must(t, 200).list(); len(l) != 0 {
			t.Fatalf("b sees %s: %v", path, l)
		}
	}

	// Nothing of a's changed.
	camp := e.call("GET", "/api/v1/campaigns/c", tokA, nil).must(t, 200).data()
	if camp["name"] != "Campaign c" || camp["status"] != "active" || num(camp, "rowsLen") != 12 {
		t.Fatalf("a's campaign changed: %v", camp)
	}
	if tpl := e.call("GET", "/api/v1/templates/t", tokA, nil).must(t, 200).data(); tpl["body"] != "Hi {{first_name}}, pay {{emi_amount}}" {
		t.Fatalf("a's template changed: %v", tpl)
	}
	if c := e.call("GET", "/api/v1/campaigns/c/customers?limit=1", tokA, nil).must(t, 200).list()[0]; c["payment_status"] != "bounced" {
		t.Fatalf("a's customer changed: %v", c)
	}
	if st := e.call("GET", "/api/v1/initiations/"+ini, tokA, nil).must(t, 200); st.body["state"] != "completed" {
		t.Fatalf("a's initiation changed: %s", st.raw)
	}
	// The same id in two orgs names two campaigns.
	e.call("POST", "/api/v1/campaigns/create", tokB, map[string]any{"id": "c", "name": "B's c", "jsonData": people(100, 1)}).must(t, 201)
	if n := num(e.call("GET", "/api/v1/campaigns/c", tokB, nil).must(t, 200).data(), "rowsLen"); n != 1 {
		t.Fatalf("b's c has %d customers", n)
	}
	if n := num(e.call("GET", "/api/v1/campaigns/c", tokA, nil).must(t, 200).data(), "rowsLen"); n != 12 {
		t.Fatalf("a's c has %d customers", n)
	}
}
