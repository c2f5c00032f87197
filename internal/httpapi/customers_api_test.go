package httpapi_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/campaignsms/campaignsms/internal/customer"
	"github.com/campaignsms/campaignsms/internal/httpapi"
)

func customerIDs(r reply) []string {
	var out []string
	for _, c := range r.list() {
		id, _ := c["loan_id"].(string)
		if id == "" {
			id, _ = c["lead_id"].(string)
		}
		out = append(out, id)
	}
	return out
}

func TestAddCustomerAndList(t *testing.T) {
	t.Parallel()
	e := newAPI(t, envOpts{})
	e.call("POST", "/api/v1/campaigns/create", tokA, map[string]any{"id": "c", "name": "C"}).must(t, 201)
	for _, rec := range people(0, 3) {
		d := e.call("POST", "/api/v1/customers/add", tokA, map[string]any{"campaignId": "c", "data": rec}).must(t, 201).data()
		if d["id"] != rec["loan_id"] || d["campaignId"] != "c" {
			t.Fatalf("add answer: %v", d)
		}
	}
	lead := map[string]any{"lead_id": 77, "phone_number": "+91 98765 43210", "city": "Pune", "score": 4.50}
	if d := e.call("POST", "/api/v1/customers/add", tokA, map[string]any{"campaignId": "c", "data": lead}).must(t, 201).data(); d["id"] != "77" {
		t.Fatalf("lead id: %v", d)
	}
	// An existing id is updated in place: same position, new data.
	again := people(0, 1)[0]
	again["first_name"] = "Changed"
	e.call("POST", "/api/v1/customers/add", tokA, map[string]any{"campaignId": "c", "data": again}).must(t, 201)

	r := e.call("GET", "/api/v1/campaigns/c/customers", tokA, nil).must(t, 200)
	if ids := customerIDs(r); !slices.Equal(ids, []string{"L00000", "L00001", "L00002", "77"}) {
		t.Fatalf("order: %v", ids)
	}
	first, last := r.list()[0], r.list()[3]
	if first["first_name"] != "Changed" || last["phone_number"] != "+919876543210" || last["city"] != "Pune" || last["score"] != 4.5 {
		t.Fatalf("records: %v / %v", first, last)
	}
	r = e.call("GET", "/api/v1/campaigns/c/customers?page=2&limit=3", tokA, nil).must(t, 200)
	p := r.object("pagination")
	if ids := customerIDs(r); !slices.Equal(ids, []string{"77"}) || num(p, "total") != 4 || num(p, "totalPages") != 2 || num(p, "page") != 2 {
		t.Fatalf("page 2: %v %v", ids, p)
	}

	bad := []struct {
		name   string
		body   any
		status int
		fields []string
	}{
		{"no campaign id", map[string]any{"data": people(9, 1)[0]}, 400, []string{"campaignId"}},
		{"no data", map[string]any{"campaignId": "c"}, 400, []string{"data"}},
		{"data not an object", map[string]any{"campaignId": "c", "data": []any{}}, 400, []string{"data"}},
		{"unknown field", map[string]any{"campaignId": "c", "data": people(9, 1)[0], "extra": 1}, 400, []string{"extra"}},
		{"no id", map[string]any{"campaignId": "c", "data": map[string]any{"first_name": "x"}}, 400, []string{"data.loan_id"}},
		{"bad phone", map[string]any{"campaignId": "c", "data": map[string]any{"loan_id": "x", "phone_number": "12345"}}, 400, []string{"data.phone_number"}},
		{"bad status", map[string]any{"campaignId": "c", "data": map[string]any{"loan_id": "x", "payment_status": "late"}}, 400, []string{"data.payment_status"}},
		{"bad record before missing campaign", map[string]any{"campaignId": "nope", "data": map[string]any{"first_name": "x"}}, 400, nil},
		{"missing campaign", map[string]any{"campaignId": "nope", "data": people(9, 1)[0]}, 404, nil},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			kind := map[int]string{400: "ValidationError", 404: "NotFound"}[tc.status]
			e.call("POST", "/api/v1/customers/add", tokA, tc.body).fails(t, tc.status, kind, tc.fields...)
		})
	}
	// The single add is capped at 1 MiB, not at the bulk cap.
	big := map[string]any{"campaignId": "c", "data": map[string]any{"loan_id": "big", "note": strings.Repeat("x", httpapi.MaxBody)}}
	e.call("POST", "/api/v1/customers/add", tokA, big).fails(t, 413, "PayloadTooLarge")
}

func TestBulkAdd(t *testing.T) {
	t.Parallel()
	e := newAPI(t, envOpts{})
	e.call("POST", "/api/v1/campaigns/create", tokA, map[string]any{"id": "c", "name": "C"}).must(t, 201)
	r := e.call("POST", "/api/v1/customers/add/bulk", tokA, map[string]any{"campaignId": "c", "records": people(0, 1200)}).must(t, 201)
	res := r.object("results")
	if r.body["success"] != true || num(res, "total") != 1200 || num(res, "valid") != 1200 || num(res, "successful") != 1200 ||
		num(res, "invalid") != 0 || num(res, "failed") != 0 || num(res, "batchesProcessed") != 2 {
		t.Fatalf("bulk answer: %.300s", r.raw)
	}

	recs := people(1200, 4)
	recs[1]["phone_number"] = "not a phone"
	recs[2] = map[string]any{"first_name": "no id"}
	mixed := []any{recs[0], recs[1], recs[2], recs[3], "not an object"}
	r = e.call("POST", "/api/v1/customers/add/bulk", tokA, map[string]any{"campaignId": "c", "records": mixed}).must(t, 207)
	res = r.object("results")
	if r.body["success"] != false || num(res, "total") != 5 || num(res, "valid") != 2 || num(res, "invalid") != 3 ||
		num(res, "successful") != 2 || num(res, "failed") != 3 || num(res, "batchesProcessed") != 1 {
		t.Fatalf("207 answer: %s", r.raw)
	}
	errs, _ := res["errors"].([]any)
	if len(errs) != 3 {
		t.Fatalf("errors: %v", errs)
	}
	e0, e1 := errs[0].(map[string]any), errs[1].(map[string]any)
	if num(e0, "index") != 1 || e0["id"] != "L01201" || !strings.Contains(e0["message"].(string), "phone_number") ||
		num(e1, "index") != 2 || e1["id"] != "" || num(errs[2].(map[string]any), "index") != 4 {
		t.Fatalf("errors: %v", errs)
	}
	if n := num(e.call("GET", "/api/v1/campaigns/c", tokA, nil).data(), "rowsLen"); n != 1202 {
		t.Fatalf("rowsLen %d, want 1202", n)
	}

	tooMany := make([]map[string]any, customer.MaxRecords+1)
	for i := range tooMany {
		tooMany[i] = map[string]any{"loan_id": i}
	}
	for _, tc := range []struct {
		name   string
		body   any
		status int
		fields []string
	}{
		{"over 10000", map[string]any{"campaignId": "c", "records": tooMany}, 400, []string{"records"}},
		{"empty", map[string]any{"campaignId": "c", "records": []any{}}, 400, []string{"records"}},
		{"none valid", map[string]any{"campaignId": "c", "records": []any{map[string]any{"phone_number": "1"}}}, 400, []string{"records[0].loan_id", "records[0].phone_number"}},
		{"not a list", map[string]any{"campaignId": "c", "records": map[string]any{}}, 400, []string{"records"}},
		{"no records", map[string]any{"campaignId": "c"}, 400, []string{"records"}},
		{"unknown field", map[string]any{"campaignId": "c", "records": people(0, 1), "dryRun": true}, 400, []string{"dryRun"}},
		{"missing campaign", map[string]any{"campaignId": "x", "records": people(0, 1)}, 404, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kind := map[int]string{400: "ValidationError", 404: "NotFound"}[tc.status]
			e.call("POST", "/api/v1/customers/add/bulk", tokA, tc.body).fails(t, tc.status, kind, tc.fields...)
		})
	}
	// The bulk cap is 20 MiB, not 1 MiB: just over 1 MiB passes, 20 MiB does not.
	padded := func(n int) string {
		return `{"campaignId":"c","records":[{"loan_id":"pad","note":"` + strings.Repeat("x", n) + `"}]}`
	}
	e.call("POST", "/api/v1/customers/add/bulk", tokA, padded(httpapi.MaxBody+1000)).must(t, 201)
	e.call("POST", "/api/v1/customers/add/bulk", tokA, padded(httpapi.MaxBulkBody)).fails(t, 413, "PayloadTooLarge")
}

// A bulk add of 10 000 records is one request that answers well under a
// second on real Redis (SPEC §4.4, issue 3). It runs alone (not parallel) so
// that other tests do not share the CPU; the race detector slows phone
// parsing several times over, so under it there is nothing to measure. The
// bound leaves room for a loaded CI machine; the time is logged.
func TestBulkAdd10kIsFast(t *testing.T) {
	if raceEnabled {
		t.Skip("timing is meaningless under the race detector; run without -race")
	}
	e := newAPI(t, envOpts{})
	e.call("POST", "/api/v1/campaigns/create", tokA, map[string]any{"id": "c", "name": "C"}).must(t, 201)
	body, err := json.Marshal(map[string]any{"campaignId": "c", "records": people(0, customer.MaxRecords)})
	if err != nil {
		t.Fatal(err)
	}
	for round := range 2 { // created, then all updated
		start := time.Now()
		r := e.call("POST", "/api/v1/customers/add/bulk", tokA, body).must(t, 201)
		took := time.Since(start)
		t.Logf("bulk add of %d records (%d KiB), round %d: %v", customer.MaxRecords, len(body)>>10, round, took)
		if num(r.object("results"), "successful") != customer.MaxRecords {
			t.Fatalf("answer: %.300s", r.raw)
		}
		if took > 2*time.Second {
			t.Fatalf("bulk add took %v", took)
		}
	}
	if n := num(e.call("GET", "/api/v1/campaigns/c", tokA, nil).data(), "rowsLen"); n != customer.MaxRecords {
		t.Fatalf("rowsLen %d", n)
	}
}

// dryCount is how many customers of campaign c match filters, by a dry run.
func dryCount(t *testing.T, e *apiEnv, filters map[string]any) int {
	t.Helper()
	r := e.call("POST", "/api/v1/initiate/c/sms", tokA, map[string]any{"templateId": "t", "dryRun": true, "filters": filters})
	switch r.status {
	case 404: // no customer matches
		return 0
	case 200, 207, 500: // the same body; 207 and 500 when some cannot be messaged
		return num(r.object("results"), "totalMatched")
	}
	t.Fatalf("dry run: %d %s", r.status, r.raw)
	return 0
}

func TestUpdateCustomerData(t *testing.T) {
	t.Parallel()
	e := newAPI(t, envOpts{})
	e.seed(tokA, "c", 6) // statuses bounced, pending, paid, bounced, pending, paid
	if n := dryCount(t, e, map[string]any{"payment_status": "paid"}); n != 2 {
		t.Fatalf("paid before: %d", n)
	}
	r := e.call("PUT", "/api/v1/customer-data", tokA, map[string]any{
		"campaignId": "c", "loan_id": "L00000", "data": map[string]any{"payment_status": "PAID", "language": "Hindi", "branch": "Pune", "first_name": nil},
	}).must(t, 200)
	if d := r.data(); d["id"] != "L00000" || d["result"] != "updated" {
		t.Fatalf("answer: %s", r.raw)
	}
	if n := dryCount(t, e, map[string]any{"payment_status": "paid"}); n != 3 {
		t.Fatalf("paid after: %d", n)
	}
	if n := dryCount(t, e, map[string]any{"payment_status": "bounced"}); n != 1 {
		t.Fatalf("bounced after: %d", n)
	}
	if n := dryCount(t, e, map[string]any{"custom": map[string]any{"branch": "Pune"}, "language": "hindi"}); n != 1 {
		t.Fatalf("custom field after merge: %d", n)
	}
	rec := e.call("GET", "/api/v1/campaigns/c/customers?limit=1", tokA, nil).must(t, 200).list()[0]
	if _, has := rec["first_name"]; has || rec["phone_number"] != "+919800000000" || rec["payment_status"] != "paid" || num(rec, "emi_amount") != 1000 {
		t.Fatalf("merged record: %v", rec)
	}
	// Customers added by lead_id are updated by lead_id.
	e.call("POST", "/api/v1/customers/add", tokA, map[string]any{"campaignId": "c", "data": map[string]any{"lead_id": "LD1"}}).must(t, 201)
	e.call("PUT", "/api/v1/customer-data", tokA, map[string]any{"campaignId": "c", "lead_id": "LD1", "data": map[string]any{"score": 5}}).must(t, 200)

	for _, tc := range []struct {
		name   string
		body   map[string]any
		status int
		fields []string
	}{
		{"no id", map[string]any{"campaignId": "c", "data": map[string]any{}}, 400, []string{"loan_id"}},
		{"id not scalar", map[string]any{"campaignId": "c", "loan_id": []any{}, "data": map[string]any{}}, 400, []string{"loan_id"}},
		{"no data", map[string]any{"campaignId": "c", "loan_id": "L00001"}, 400, []string{"data"}},
		{"unknown", map[string]any{"campaignId": "c", "loan_id": "L00001", "data": map[string]any{}, "filter": 1}, 400, []string{"filter"}},
		{"bad phone", map[string]any{"campaignId": "c", "loan_id": "L00001", "data": map[string]any{"phone_number": "0"}}, 400, []string{"data.phone_number"}},
		{"bad status", map[string]any{"campaignId": "c", "loan_id": "L00001", "data": map[string]any{"payment_status": "x"}}, 400, []string{"data.payment_status"}},
		{"id change", map[string]any{"campaignId": "c", "loan_id": "L00001", "data": map[string]any{"loan_id": "L9"}}, 400, []string{"data.loan_id"}},
		{"missing customer", map[string]any{"campaignId": "c", "loan_id": "nobody", "data": map[string]any{"a": 1}}, 404, nil},
		{"missing campaign", map[string]any{"campaignId": "x", "loan_id": "L00001", "data": map[string]any{"a": 1}}, 404, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kind := map[int]string{400: "ValidationError", 404: "NotFound"}[tc.status]
			e.call("PUT", "/api/v1/customer-data", tokA, tc.body).fails(t, tc.status, kind, tc.fields...)
		})
	}
}

// Concurrent updates through the API flip payment_status of the same
// customers; afterwards each is in exactly the status set its record names.
func TestConcurrentStatusUpdatesOverHTTP(t *testing.T) {
	t.Parallel()
	e := newAPI(t, envOpts{})
	e.seed(tokA, "c", 4)
	statuses := customer.PaymentStatuses
	var wg sync.WaitGroup
	for w := range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 15 {
				body := map[string]any{"campaignId": "c", "loan_id": fmt.Sprintf("L%05d", (w+i)%4),
					"data": map[string]any{"payment_status": statuses[(w*7+i)%len(statuses)]}}
				if r := e.call("PUT", "/api/v1/customer-data", tokA, body); r.status != 200 {
					t.Errorf("update: %d %s", r.status, r.raw)
					return
				}
			}
		}()
	}
	wg.Wait()
	total := 0
	for _, ps := range statuses {
		total += dryCount(t, e, map[string]any{"payment_status": ps})
	}
	if total != 4 {
		t.Fatalf("customers counted over all statuses: %d, want 4", total)
	}
	for _, rec := range e.call("GET", "/api/v1/campaigns/c/customers", tokA, nil).must(t, 200).list() {
		r := e.call("POST", "/api/v1/initiate/c/sms", tokA, map[string]any{"templateId": "t", "dryRun": true,
			"filters": map[string]any{"ids": []any{rec["loan_id"]}, "payment_status": rec["payment_status"]}})
		if num(r.must(t, 200).object("results"), "totalMatched") != 1 {
			t.Fatalf("%v is not indexed under its status %v", rec["loan_id"], rec["payment_status"])
		}
	}
}
