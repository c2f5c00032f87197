package initiate

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/campaignsms/campaignsms/internal/apperr"
	"github.com/campaignsms/campaignsms/internal/filter"
)

func TestDecodeRequestValid(t *testing.T) {
	tests := []struct {
		name string
		body string
		want Request
	}{
		{"minimal", `{"templateId":"hfu7VL6sBhI6NPm"}`, Request{TemplateID: "hfu7VL6sBhI6NPm"}},
		{"blank around", " \n{\"templateId\":\"t\"}\n ", Request{TemplateID: "t"}},
		{"limit", `{"templateId":"t","limit":250}`, Request{TemplateID: "t", Limit: 250}},
		{"limit 1", `{"templateId":"t","limit":1}`, Request{TemplateID: "t", Limit: 1}},
		{"limit max", `{"templateId":"t","limit":10000000}`, Request{TemplateID: "t", Limit: 10000000}},
		{"limit integral forms", `{"templateId":"t","limit":1e2}`, Request{TemplateID: "t", Limit: 100}},
		{"limit 10.0", `{"templateId":"t","limit":10.0}`, Request{TemplateID: "t", Limit: 10}},
		{"limit null", `{"templateId":"t","limit":null}`, Request{TemplateID: "t"}},
		{"dry run", `{"templateId":"t","dryRun":true}`, Request{TemplateID: "t", DryRun: true}},
		{"dry run false", `{"templateId":"t","dryRun":false}`, Request{TemplateID: "t"}},
		{"dry run null", `{"templateId":"t","dryRun":null}`, Request{TemplateID: "t"}},
		{"filters null", `{"templateId":"t","filters":null}`, Request{TemplateID: "t"}},
		{"filters empty", `{"templateId":"t","filters":{}}`, Request{TemplateID: "t"}},
		{"ids", `{"templateId":"t","filters":{"ids":["LOANID-2043153","LOANID-2043154"]}}`,
			Request{TemplateID: "t", Filters: filter.Filters{IDs: []string{"LOANID-2043153", "LOANID-2043154"}}}},
		{"payment status", `{"templateId":"t","filters":{"payment_status":["bounced","pending"]}}`,
			Request{TemplateID: "t", Filters: filter.Filters{PaymentStatus: []string{"bounced", "pending"}}}},
		{"exclude ids", `{"templateId":"t","filters":{"exclude_ids":["LOANID-2043153"]}}`,
			Request{TemplateID: "t", Filters: filter.Filters{ExcludeIDs: []string{"LOANID-2043153"}}}},
		{"everything", `{"dryRun":true,"limit":5,"templateId":"t","filters":{"language":"Hindi","custom":{"amt":5000.0}}}`,
			Request{TemplateID: "t", Limit: 5, DryRun: true, Filters: filter.Filters{Language: []string{"hindi"},
				Custom: map[string][]string{"amt": {"5000"}}}}},
		{"template id 64", `{"templateId":"` + strings.Repeat("a", 64) + `"}`, Request{TemplateID: strings.Repeat("a", 64)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecodeRequest([]byte(tc.body))
			if err != nil {
				t.Fatalf("DecodeRequest: %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %#v, want %#v", got, tc.want)
			}
		})
	}
}

func TestDecodeRequestErrors(t *testing.T) {
	tests := []struct {
		name   string
		body   string
		fields []string
	}{
		{"empty body", ``, []string{"body"}},
		{"blank body", `   `, []string{"body"}},
		{"invalid json", `{"templateId":`, []string{"body"}},
		{"invalid json token", `{templateId:"t"}`, []string{"body"}},
		{"array body", `[{"templateId":"t"}]`, []string{"body"}},
		{"string body", `"t"`, []string{"body"}},
		{"null body", `null`, []string{"body"}},
		{"trailing data", `{"templateId":"t"} {}`, []string{"body"}},
		{"trailing garbage", `{"templateId":"t"}x`, []string{"body"}},
		{"unknown field", `{"templateId":"t","filter":{"ids":["a"]}}`, []string{"filter"}},
		{"unknown fields sorted", `{"templateId":"t","b":1,"a":2}`, []string{"a", "b"}},
		{"template missing", `{}`, []string{"templateId"}},
		{"template null", `{"templateId":null}`, []string{"templateId"}},
		{"template empty", `{"templateId":""}`, []string{"templateId"}},
		{"template blank", `{"templateId":"  "}`, []string{"templateId"}},
		{"template number", `{"templateId":12}`, []string{"templateId"}},
		{"template too long", `{"templateId":"` + strings.Repeat("a", 65) + `"}`, []string{"templateId"}},
		{"limit fraction", `{"templateId":"t","limit":1.5}`, []string{"limit"}},
		{"limit string", `{"templateId":"t","limit":"10"}`, []string{"limit"}},
		{"limit zero", `{"templateId":"t","limit":0}`, []string{"limit"}},
		{"limit negative", `{"templateId":"t","limit":-1}`, []string{"limit"}},
		{"limit too big", `{"templateId":"t","limit":10000001}`, []string{"limit"}},
		{"limit huge", `{"templateId":"t","limit":1e400}`, []string{"limit"}},
		{"limit bool", `{"templateId":"t","limit":true}`, []string{"limit"}},
		{"limit array", `{"templateId":"t","limit":[1]}`, []string{"limit"}},
		{"dry run string", `{"templateId":"t","dryRun":"true"}`, []string{"dryRun"}},
		{"dry run number", `{"templateId":"t","dryRun":1}`, []string{"dryRun"}},
		{"filters array", `{"templateId":"t","filters":[]}`, []string{"filters"}},
		{"filters empty ids", `{"templateId":"t","filters":{"ids":[]}}`, []string{"filters.ids"}},
		{"filters unknown", `{"templateId":"t","filters":{"status":"paid"}}`, []string{"filters.status"}},
		{"filters bad status", `{"templateId":"t","filters":{"payment_status":"late"}}`, []string{"filters.payment_status"}},
		{"filters custom object", `{"templateId":"t","filters":{"custom":{"a":{"b":1}}}}`, []string{"filters.custom.a"}},
		{"all at once", `{"limit":0,"dryRun":"x","filters":{"language":""},"extra":1}`,
			[]string{"templateId", "limit", "filters.language", "dryRun", "extra"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecodeRequest([]byte(tc.body))
			if err == nil {
				t.Fatalf("accepted: %#v", got)
			}
			var ae *apperr.Error
			if !errors.As(err, &ae) || ae.Kind != apperr.Validation {
				t.Fatalf("error %T %v is not a validation error", err, err)
			}
			if ae.Message == "" {
				t.Errorf("empty message")
			}
			var fields []string
			for _, d := range ae.Details {
				fields = append(fields, d.Field)
				if d.Message == "" {
					t.Errorf("empty message for %s", d.Field)
				}
			}
			if !reflect.DeepEqual(fields, tc.fields) {
				t.Fatalf("fields = %q, want %q (%v)", fields, tc.fields, ae.Details)
			}
		})
	}
}

func TestDecodeRequestInvalidJSONMessage(t *testing.T) {
	_, err := DecodeRequest([]byte(`{"templateId": "t",}`))
	if err == nil || !strings.Contains(err.Error(), "not valid JSON") {
		t.Fatalf("error = %v", err)
	}
}

func TestRequestCanonical(t *testing.T) {
	a := `{"templateId":"t","limit":5,"dryRun":false,"filters":{"payment_status":"PAID","custom":{"z":5000.0,"a":[true]}}}`
	b := ` { "filters" : { "custom":{"a":true,"z":"5000"}, "payment_status":["paid","Paid"] }, "limit":5.0, "templateId":"t" } `
	ra, err := DecodeRequest([]byte(a))
	if err != nil {
		t.Fatal(err)
	}
	rb, err := DecodeRequest([]byte(b))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"filters":{"custom":{"a":["true"],"z":["5000"]},"payment_status":["paid"]},"limit":5,"templateId":"t"}`
	if got := string(ra.Canonical()); got != want {
		t.Errorf("Canonical = %s, want %s", got, want)
	}
	if string(ra.Canonical()) != string(rb.Canonical()) {
		t.Errorf("equivalent bodies differ: %s vs %s", ra.Canonical(), rb.Canonical())
	}
	minimal, _ := DecodeRequest([]byte(`{"templateId":"<t&>","filters":{},"dryRun":false}`))
	if got := string(minimal.Canonical()); got != `{"templateId":"<t&>"}` {
		t.Errorf("Canonical = %s", got)
	}
	dry, _ := DecodeRequest([]byte(`{"templateId":"t","dryRun":true}`))
	if string(dry.Canonical()) == string(minimal.Canonical()) {
		t.Errorf("dryRun not in the canonical form")
	}
}

func FuzzDecodeRequest(f *testing.F) {
	seeds := []string{
		`{"templateId":"hfu7VL6sBhI6NPm"}`,
		`{"templateId":"t","limit":250,"dryRun":true}`,
		`{"templateId":"t","filters":{"ids":["a","b","a"],"exclude_ids":["b"]}}`,
		`{"templateId":"t","filters":{"payment_status":["Bounced","pending"],"language":"Hindi"}}`,
		`{"templateId":"t","filters":{"custom":{"amt":[5000.0,"x",true],"r":"n"}}}`,
		`{"templateId":"t","limit":1.5}`,
		`{"templateId":"t","filters":{"ids":[]}}`,
		`[]`, `null`, `{`, `{"templateId":"t"} x`, ``,
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := DecodeRequest(body)
		if err != nil {
			var ae *apperr.Error
			if !errors.As(err, &ae) || ae.Kind != apperr.Validation || len(ae.Details) == 0 {
				t.Fatalf("error %#v is not a validation error with details", err)
			}
			return
		}
		canon := req.Canonical()
		again, err := DecodeRequest(canon)
		if err != nil {
			t.Fatalf("canonical %s rejected: %v", canon, err)
		}
		if !reflect.DeepEqual(again, req) {
			t.Fatalf("canonical %s decodes to %#v, want %#v", canon, again, req)
		}
		if string(again.Canonical()) != string(canon) {
			t.Fatalf("canonical form not stable: %s vs %s", again.Canonical(), canon)
		}
	})
}
