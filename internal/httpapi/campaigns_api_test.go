package httpapi_test

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/campaignsms/campaignsms/internal/store"
	"github.com/campaignsms/campaignsms/internal/worker"
)

func TestCampaignCreateGetUpdate(t *testing.T) {
	t.Parallel()
	e := newAPI(t, envOpts{})
	r := e.call("POST", "/api/v1/campaigns/create", tokA, map[string]any{
		"id": "emi-june", "name": "EMI June", "description": "June reminders", "campaignType": "EMI",
		"startDate": "2026-06-01", "endDate": "2026-06-30", "startTime": "09:00", "endTime": "18:30",
		"timezone": "Europe/London", "languages": []string{"english", "hindi"}, "region": "north",
		"tags": []string{"emi"}, "jsonData": people(0, 3),
	}).must(t, 201)
	if r.body["success"] != true || r.body["message"] != "Campaign created successfully" ||
		r.data()["id"] != "emi-june" || r.data()["name"] != "EMI June" {
		t.Fatalf("create answer: %s", r.raw)
	}
	if res := r.object("results"); num(res, "successful") != 3 || num(res, "failed") != 0 {
		t.Fatalf("create results: %s", r.raw)
	}

	got := e.call("GET", "/api/v1/campaigns/emi-june", tokA, nil).must(t, 200).data()
	want := map[string]any{
		"id": "emi-june", "name": "EMI June", "description": "June reminders", "status": "active",
		"campaignType": "emi", "startDate": "2026-06-01", "endDate": "2026-06-30", "startTime": "09:00",
		"endTime": "18:30", "timezone": "Europe/London", "region": "north", "rowsLen": float64(3),
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	for _, k := range []string{"languages", "tags", "createdAt", "updatedAt"} {
		if _, ok := got[k]; !ok {
			t.Errorf("campaign lacks %s", k)
		}
	}

	// Generated ids are valid store ids; the timezone defaults to Asia/Kolkata.
	r = e.call("POST", "/api/v1/campaigns/create", tokA, map[string]any{"name": "No id"}).must(t, 201)
	gen, _ := r.data()["id"].(string)
	if !store.ValidID(gen) {
		t.Fatalf("generated id %q", gen)
	}
	if tz := e.call("GET", "/api/v1/campaigns/"+gen, tokA, nil).must(t, 200).data()["timezone"]; tz != "Asia/Kolkata" {
		t.Fatalf("default timezone %v", tz)
	}
	e.call("POST", "/api/v1/campaigns/create", tokA, map[string]any{"id": "emi-june", "name": "Again"}).fails(t, 409, "Conflict")

	r = e.call("PUT", "/api/v1/campaigns/update/emi-june", tokA, map[string]any{
		"name": "EMI June v2", "tags": []string{"emi", "q2"}, "description": nil,
	}).must(t, 200)
	fields, _ := r.body["updatedFields"].([]any)
	if !slices.Equal(fields, []any{"name", "description", "tags"}) || r.body["success"] != true {
		t.Fatalf("update answer: %s", r.raw)
	}
	got = e.call("GET", "/api/v1/campaigns/emi-june", tokA, nil).must(t, 200).data()
	if got["name"] != "EMI June v2" || got["description"] != "" || got["startDate"] != "2026-06-01" {
		t.Fatalf("after update: %v", got)
	}
	// jsonData in an update adds customers, 207 when some are rejected.
	bad := people(3, 2)
	bad[1]["phone_number"] = "123"
	r = e.call("PUT", "/api/v1/campaigns/update/emi-june", tokA, map[string]any{"jsonData": bad}).must(t, 207)
	if num(r.object("results"), "successful") != 1 || num(r.data(), "rowsLen") != 4 {
		t.Fatalf("update with jsonData: %s", r.raw)
	}
}

func TestCampaignValidation(t *testing.T) {
	t.Parallel()
	e := newAPI(t, envOpts{})
	e.call("POST", "/api/v1/campaigns/create", tokA, map[string]any{"id": "c1", "name": "C"}).must(t, 201)
	cases := []struct {
		name   string
		body   any
		fields []string
	}{
		{"empty body", "", []string{"body"}},
		{"not JSON", "{", []string{"body"}},
		{"an array", "[]", []string{"body"}},
		{"no name", map[string]any{"description": "x"}, []string{"name"}},
		{"blank name", map[string]any{"name": "  "}, []string{"name"}},
		{"unknown field", map[string]any{"name": "x", "nmae": "y"}, []string{"nmae"}},
		{"bad id", map[string]any{"name": "x", "id": "a b"}, []string{"id"}},
		{"bad type", map[string]any{"name": "x", "campaignType": "sms"}, []string{"campaignType"}},
		{"bad date", map[string]any{"name": "x", "startDate": "2026-02-30"}, []string{"startDate"}},
		{"date format", map[string]any{"name": "x", "endDate": "1/2/2026"}, []string{"endDate"}},
		{"end before start", map[string]any{"name": "x", "startDate": "2026-02-02", "endDate": "2026-02-01"}, []string{"endDate"}},
		{"bad time", map[string]any{"name": "x", "startTime": "25:00"}, []string{"startTime"}},
		{"time format", map[string]any{"name": "x", "endTime": "9:00"}, []string{"endTime"}},
		{"bad timezone", map[string]any{"name": "x", "timezone": "Mars/Base"}, []string{"timezone"}},
		{"local timezone", map[string]any{"name": "x", "timezone": "Local"}, []string{"timezone"}},
		{"languages not strings", map[string]any{"name": "x", "languages": []any{1}}, []string{"languages"}},
		{"tags not a list", map[string]any{"name": "x", "tags": "a"}, []string{"tags"}},
		{"jsonData not a list", map[string]any{"name": "x", "jsonData": map[string]any{}}, []string{"jsonData"}},
		{"jsonData all invalid", map[string]any{"name": "x", "jsonData": []any{map[string]any{"first_name": "no id"}}}, []string{"jsonData[0].loan_id"}},
		{"several at once", map[string]any{"campaignType": "x", "timezone": "y"}, []string{"name", "campaignType", "timezone"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e.call("POST", "/api/v1/campaigns/create", tokA, tc.body).fails(t, 400, "ValidationError", tc.fields...)
		})
	}
	updates := []struct {
		name   string
		body   any
		fields []string
	}{
		{"status", map[string]any{"status": "paused"}, []string{"status"}},
		{"other id", map[string]any{"id": "c2"}, []string{"id"}},
		{"null name", map[string]any{"name": nil}, []string{"name"}},
		{"nothing", map[string]any{}, []string{"body"}},
		{"unknown", map[string]any{"rowsLen": 4}, []string{"rowsLen"}},
		{"bad date", map[string]any{"endDate": "soon"}, []string{"endDate"}},
	}
	for _, tc := range updates {
		t.Run("update "+tc.name, func(t *testing.T) {
			e.call("PUT", "/api/v1/campaigns/update/c1", tokA, tc.body).fails(t, 400, "ValidationError", tc.fields...)
		})
	}
	// 400 comes before 404; a valid update of a missing campaign is a 404.
	e.call("PUT", "/api/v1/campaigns/update/missing", tokA, map[string]any{"status": "x"}).fails(t, 400, "ValidationError")
	e.call("PUT", "/api/v1/campaigns/update/missing", tokA, map[string]any{"name": "x"}).fails(t, 404, "NotFound")
	// Stored startDate and a new endDate before it.
	e.call("PUT", "/api/v1/campaigns/update/c1", tokA, map[string]any{"startDate": "2026-05-10"}).must(t, 200)
	e.call("PUT", "/api/v1/campaigns/update/c1", tokA, map[string]any{"endDate": "2026-05-01"}).fails(t, 400, "ValidationError", "endDate")
	// Unsupported body type and size.
	r := e.call("POST", "/api/v1/campaigns/create", tokA, strings.Repeat(" ", 21<<20))
	r.fails(t, 413, "PayloadTooLarge")
}

func TestCampaignListFiltersAndPages(t *testing.T) {
	t.Parallel()
	e := newAPI(t, envOpts{})
	for _, c := range []map[string]any{
		{"id": "c1", "name": "EMI reminders", "campaignType": "emi"},
		{"id": "c2", "name": "Leads", "campaignType": "lead", "description": "New LEADS from the fair"},
		{"id": "c3", "name": "EDI", "campaignType": "edi"},
		{"id": "emi-extra", "name": "Other", "campaignType": "emi"},
	} {
		e.call("POST", "/api/v1/campaigns/create", tokA, c).must(t, 201)
	}
	e.call("POST", "/api/v1/campaigns/create", tokB, map[string]any{"id": "b1", "name": "EMI of b"}).must(t, 201)
	e.call("PATCH", "/api/v1/campaigns/pause/c3", tokA, nil).must(t, 200)

	ids := func(r reply) []string {
		var out []string
		for _, c := range r.list() {
			out = append(out, c["id"].(string))
		}
		return out
	}
	cases := []struct {
		query string
		want  []string
		total int
	}{
		{"", []string{"emi-extra", "c3", "c2", "c1"}, 4},
		{"?limit=2&page=2", []string{"c2", "c1"}, 4},
		{"?limit=3&page=3", nil, 4},
		{"?status=paused", []string{"c3"}, 1},
		{"?status=active&campaign_type=emi", []string{"emi-extra", "c1"}, 2},
		{"?search=emi", []string{"emi-extra", "c1"}, 2},
		{"?search=leads", []string{"c2"}, 1},
		{"?search=C3", []string{"c3"}, 1},
	}
	for _, tc := range cases {
		r := e.call("GET", "/api/v1/campaigns"+tc.query, tokA, nil).must(t, 200)
		p := r.object("pagination")
		if !slices.Equal(ids(r), tc.want) || num(p, "total") != tc.total {
			t.Errorf("%s: %v total %d, want %v total %d", tc.query, ids(r), num(p, "total"), tc.want, tc.total)
		}
	}
	p := e.call("GET", "/api/v1/campaigns?limit=3", tokA, nil).must(t, 200).object("pagination")
	if num(p, "page") != 1 || num(p, "limit") != 3 || num(p, "totalPages") != 2 {
		t.Fatalf("pagination %v", p)
	}
	for _, q := range []string{"?status=done", "?campaign_type=sms", "?page=0", "?limit=1000", "?page=x"} {
		e.call("GET", "/api/v1/campaigns"+q, tokA, nil).fails(t, 400, "ValidationError")
	}
}

func TestPauseResumeIdempotent(t *testing.T) {
	t.Parallel()
	e := newAPI(t, envOpts{})
	e.call("POST", "/api/v1/campaigns/create", tokA, map[string]any{"id": "c", "name": "C"}).must(t, 201)
	first := e.call("PATCH", "/api/v1/campaigns/pause/c", tokA, nil).must(t, 200).data()
	rfc3339 := regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$`)
	if first["id"] != "c" || first["status"] != "paused" || !rfc3339.MatchString(first["pausedAt"].(string)) {
		t.Fatalf("pause: %v", first)
	}
	again := e.call("PATCH", "/api/v1/campaigns/pause/c", tokA, nil).must(t, 200).data()
	if again["pausedAt"] != first["pausedAt"] || again["status"] != "paused" {
		t.Fatalf("second pause: %v", again)
	}
	if st := e.call("GET", "/api/v1/campaigns/c", tokA, nil).data()["status"]; st != "paused" {
		t.Fatalf("status after pause: %v", st)
	}
	// An initiate on a paused campaign is a 409.
	e.call("POST", "/api/v1/templates", tokA, map[string]any{"id": "t", "name": "T", "body": "Hi"}).must(t, 201)
	e.call("POST", "/api/v1/initiate/c/sms", tokA, map[string]any{"templateId": "t"}).fails(t, 409, "Conflict")
	for range 2 {
		d := e.call("PATCH", "/api/v1/campaigns/resume/c", tokA, nil).must(t, 200).data()
		if d["status"] != "active" || d["id"] != "c" {
			t.Fatalf("resume: %v", d)
		}
	}
	e.call("PATCH", "/api/v1/campaigns/pause/missing", tokA, nil).fails(t, 404, "NotFound")
	e.call("PATCH", "/api/v1/campaigns/resume/missing", tokA, nil).fails(t, 404, "NotFound")
}

func TestDeleteCampaignKeepsInitiationsReadable(t *testing.T) {
	t.Parallel()
	e := newAPI(t, envOpts{})
	e.seed(tokA, "c", 25)
	ini := e.initiate(tokA, "c", nil)
	// One batch is sent before the delete, the other two never are.
	h := e.handler(worker.HandlerParams{})
	batches := e.q.take()
	if err := h.ProcessBatch(t.Context(), batches[0]); err != nil {
		t.Fatal(err)
	}
	d := e.call("DELETE", "/api/v1/campaigns/c", tokA, nil).must(t, 200).data()
	if d["id"] != "c" || num(d, "initiations") != 1 || num(d, "cancelledMessages") != 15 {
		t.Fatalf("delete answer: %v", d)
	}
	e.call("GET", "/api/v1/campaigns/c", tokA, nil).fails(t, 404, "NotFound")
	e.call("GET", "/api/v1/campaigns/c/customers", tokA, nil).fails(t, 404, "NotFound")
	e.call("DELETE", "/api/v1/campaigns/c", tokA, nil).fails(t, 404, "NotFound")
	if l := e.call("GET", "/api/v1/campaigns", tokA, nil).must(t, 200).list(); len(l) != 0 {
		t.Fatalf("listed after delete: %v", l)
	}
	st := e.call("GET", "/api/v1/initiations/"+ini, tokA, nil).must(t, 200)
	res := st.object("results")
	if st.body["state"] != "cancelled" || num(res, "sent") != 10 || num(res, "cancelled") != 15 || num(res, "pending") != 0 {
		t.Fatalf("initiation after delete: %s", st.raw)
	}
	// The remaining batches find nothing to send.
	for _, b := range batches[1:] {
		if err := h.ProcessBatch(t.Context(), b); err != nil {
			t.Fatal(err)
		}
	}
	if n := e.fake.AcceptedCount(); n != 10 {
		t.Fatalf("provider accepted %d messages, want 10", n)
	}
	sent := e.call("GET", "/api/v1/communication/sms/"+store.MessageID(ini, 0), tokA, nil).must(t, 200).data()
	gone := e.call("GET", "/api/v1/communication/sms/"+store.MessageID(ini, 20), tokA, nil).must(t, 200).data()
	if sent["status"] != "sent" || sent["loan_id"] != "L00000" || gone["status"] != "cancelled" || gone["loan_id"] != "L00020" {
		t.Fatalf("messages after delete: %v / %v", sent, gone)
	}
	// The id is free again, and the new campaign starts empty.
	e.call("POST", "/api/v1/campaigns/create", tokA, map[string]any{"id": "c", "name": "again"}).must(t, 201)
	if n := num(e.call("GET", "/api/v1/campaigns/c", tokA, nil).data(), "rowsLen"); n != 0 {
		t.Fatalf("recreated campaign has %d customers", n)
	}
}
