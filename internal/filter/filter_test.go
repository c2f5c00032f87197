package filter

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/campaignsms/campaignsms/internal/customer"
)

func TestParseValid(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want Filters
	}{
		{"absent", ``, Filters{}},
		{"null", `null`, Filters{}},
		{"empty object", ` {} `, Filters{}},
		{"ids dedup trimmed", `{"ids":["A"," B ","A","B"]}`, Filters{IDs: []string{"A", "B"}}},
		{"exclude ids", `{"exclude_ids":["X"]}`, Filters{ExcludeIDs: []string{"X"}}},
		{"status string", `{"payment_status":"Bounced"}`, Filters{PaymentStatus: []string{"bounced"}}},
		{"status array", `{"payment_status":["bounced","PENDING","pending"]}`, Filters{PaymentStatus: []string{"bounced", "pending"}}},
		{"all statuses", `{"payment_status":["bounced","pending","partial","paid","received"]}`,
			Filters{PaymentStatus: []string{"bounced", "pending", "partial", "paid", "received"}}},
		{"language string", `{"language":"Hindi"}`, Filters{Language: []string{"hindi"}}},
		{"language array", `{"language":["English"," hindi "]}`, Filters{Language: []string{"english", "hindi"}}},
		{"custom scalar", `{"custom":{"region":"North"}}`, Filters{Custom: map[string][]string{"region": {"North"}}}},
		{"custom number shortest", `{"custom":{"loan_amount":5000.0,"rate":1.50,"big":1e3}}`,
			Filters{Custom: map[string][]string{"loan_amount": {"5000"}, "rate": {"1.5"}, "big": {"1000"}}}},
		{"custom bool", `{"custom":{"vip":true,"flag":[false,"x"]}}`,
			Filters{Custom: map[string][]string{"vip": {"true"}, "flag": {"false", "x"}}}},
		{"custom array dedup", `{"custom":{"region":["a","b","a",5000,5000.0]}}`,
			Filters{Custom: map[string][]string{"region": {"a", "b", "5000"}}}},
		{"custom standard field key", `{"custom":{"payment_status":"paid","first_name":"Asha"}}`,
			Filters{Custom: map[string][]string{"payment_status": {"paid"}, "first_name": {"Asha"}}}},
		{"everything", `{"ids":["1"],"exclude_ids":["2"],"payment_status":"paid","language":"english","custom":{"r":"n"}}`,
			Filters{IDs: []string{"1"}, ExcludeIDs: []string{"2"}, PaymentStatus: []string{"paid"}, Language: []string{"english"},
				Custom: map[string][]string{"r": {"n"}}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, errs := Parse(json.RawMessage(tc.in))
			if errs != nil {
				t.Fatalf("errors: %v", errs)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %#v, want %#v", got, tc.want)
			}
			if got.Empty() != reflect.DeepEqual(tc.want, Filters{}) {
				t.Errorf("Empty() = %v", got.Empty())
			}
			// Stored form reads back identically.
			b, err := json.Marshal(got)
			if err != nil {
				t.Fatal(err)
			}
			back, errs := Parse(b)
			if errs != nil || !reflect.DeepEqual(back, got) {
				t.Fatalf("round trip %s: %#v %v", b, back, errs)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	manyIDs := make([]string, MaxIDs+1)
	for i := range manyIDs {
		manyIDs[i] = fmt.Sprint(i)
	}
	tooMany, _ := json.Marshal(map[string]any{"ids": manyIDs})
	tests := []struct {
		name   string
		in     string
		fields []string
	}{
		{"not object", `[]`, []string{"filters"}},
		{"string", `"x"`, []string{"filters"}},
		{"invalid json", `{"ids":`, []string{"filters"}},
		{"trailing", `{} {}`, []string{"filters"}},
		{"unknown key", `{"id":["a"]}`, []string{"filters.id"}},
		{"unknown keys sorted", `{"zz":1,"aa":2,"ids":["a"]}`, []string{"filters.aa", "filters.zz"}},
		{"ids empty array", `{"ids":[]}`, []string{"filters.ids"}},
		{"ids null", `{"ids":null}`, []string{"filters.ids"}},
		{"ids empty string", `{"ids":""}`, []string{"filters.ids"}},
		{"ids string", `{"ids":"a"}`, []string{"filters.ids"}},
		{"ids element empty", `{"ids":["a",""," "]}`, []string{"filters.ids[1]", "filters.ids[2]"}},
		{"ids element number", `{"ids":[1]}`, []string{"filters.ids[0]"}},
		{"ids element null", `{"ids":[null]}`, []string{"filters.ids[0]"}},
		{"ids too many", string(tooMany), []string{"filters.ids"}},
		{"exclude empty", `{"exclude_ids":[]}`, []string{"filters.exclude_ids"}},
		{"exclude null", `{"exclude_ids":null}`, []string{"filters.exclude_ids"}},
		{"status empty array", `{"payment_status":[]}`, []string{"filters.payment_status"}},
		{"status empty string", `{"payment_status":""}`, []string{"filters.payment_status"}},
		{"status blank string", `{"payment_status":"  "}`, []string{"filters.payment_status"}},
		{"status null", `{"payment_status":null}`, []string{"filters.payment_status"}},
		{"status unknown", `{"payment_status":"late"}`, []string{"filters.payment_status"}},
		{"status unknown in array", `{"payment_status":["paid","late"]}`, []string{"filters.payment_status[1]"}},
		{"status number", `{"payment_status":1}`, []string{"filters.payment_status"}},
		{"status empty element", `{"payment_status":["paid",""]}`, []string{"filters.payment_status[1]"}},
		{"language empty", `{"language":""}`, []string{"filters.language"}},
		{"language empty array", `{"language":[]}`, []string{"filters.language"}},
		{"language null", `{"language":null}`, []string{"filters.language"}},
		{"language object", `{"language":{}}`, []string{"filters.language"}},
		{"language element number", `{"language":["hindi",2]}`, []string{"filters.language[1]"}},
		{"custom null", `{"custom":null}`, []string{"filters.custom"}},
		{"custom empty object", `{"custom":{}}`, []string{"filters.custom"}},
		{"custom array", `{"custom":["a"]}`, []string{"filters.custom"}},
		{"custom value null", `{"custom":{"region":null}}`, []string{"filters.custom.region"}},
		{"custom value empty", `{"custom":{"region":""}}`, []string{"filters.custom.region"}},
		{"custom value empty array", `{"custom":{"region":[]}}`, []string{"filters.custom.region"}},
		{"custom value object", `{"custom":{"region":{"a":1}}}`, []string{"filters.custom.region"}},
		{"custom array of objects", `{"custom":{"region":[{"a":1}]}}`, []string{"filters.custom.region[0]"}},
		{"custom nested array", `{"custom":{"region":["a",["b"]]}}`, []string{"filters.custom.region[1]"}},
		{"custom null element", `{"custom":{"region":["a",null]}}`, []string{"filters.custom.region[1]"}},
		{"custom empty element", `{"custom":{"region":[""]}}`, []string{"filters.custom.region[0]"}},
		{"custom empty key", `{"custom":{"":"x"}}`, []string{"filters.custom"}},
		{"custom long key", `{"custom":{"` + strings.Repeat("k", 65) + `":"x"}}`, []string{"filters.custom"}},
		{"several", `{"ids":[],"payment_status":"nope","custom":{"a":null},"x":1}`,
			[]string{"filters.ids", "filters.payment_status", "filters.custom.a", "filters.x"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, errs := Parse(json.RawMessage(tc.in))
			if !reflect.DeepEqual(got, Filters{}) {
				t.Errorf("filters returned with errors: %#v", got)
			}
			var fields []string
			for _, e := range errs {
				fields = append(fields, e.Field)
				if e.Message == "" {
					t.Errorf("empty message for %s", e.Field)
				}
			}
			if !reflect.DeepEqual(fields, tc.fields) {
				t.Fatalf("fields = %q, want %q (%v)", fields, tc.fields, errs)
			}
		})
	}
}

func TestParseLimitsElementErrors(t *testing.T) {
	_, errs := Parse(json.RawMessage(`{"ids":[` + strings.Repeat(`"",`, 50) + `""]}`))
	if len(errs) != maxElemErrors {
		t.Fatalf("%d errors, want %d", len(errs), maxElemErrors)
	}
}

func rec(id, status, lang string, extra ...any) customer.Record {
	r := customer.Record{"loan_id": id}
	if status != "" {
		r["payment_status"] = status
	}
	if lang != "" {
		r["language"] = lang
	}
	for i := 0; i+1 < len(extra); i += 2 {
		r[extra[i].(string)] = extra[i+1]
	}
	return r
}

func mustParse(t *testing.T, s string) Filters {
	t.Helper()
	f, errs := Parse(json.RawMessage(s))
	if errs != nil {
		t.Fatalf("Parse(%s): %v", s, errs)
	}
	return f
}

func TestMatch(t *testing.T) {
	a := rec("A", "bounced", "Hindi", "region", "north", "loan_amount", json.Number("5000.0"), "vip", true)
	b := rec("B", "PAID", "english", "region", "South", "loan_amount", 5000.5)
	c := rec("C", "", "", "loan_amount", json.Number("5000"))
	lead := customer.Record{"lead_id": "D", "payment_status": "pending"}
	all := []customer.Record{a, b, c, lead}
	tests := []struct {
		name    string
		filters string
		attrs   []string // ids matching MatchAttributes
		match   []string // ids matching Match
	}{
		{"no filter", `{}`, []string{"A", "B", "C", "D"}, []string{"A", "B", "C", "D"}},
		{"status", `{"payment_status":"bounced"}`, []string{"A"}, []string{"A"}},
		{"status case-insensitive", `{"payment_status":["Paid"]}`, []string{"B"}, []string{"B"}},
		{"status or within", `{"payment_status":["bounced","pending"]}`, []string{"A", "D"}, []string{"A", "D"}},
		{"language case-insensitive", `{"language":"hindi"}`, []string{"A"}, []string{"A"}},
		{"language or", `{"language":["HINDI","English"]}`, []string{"A", "B"}, []string{"A", "B"}},
		{"custom exact", `{"custom":{"region":"north"}}`, []string{"A"}, []string{"A"}},
		{"custom case-sensitive", `{"custom":{"region":"south"}}`, nil, nil},
		{"custom number 5000", `{"custom":{"loan_amount":5000}}`, []string{"A", "C"}, []string{"A", "C"}},
		{"custom number 5000.0", `{"custom":{"loan_amount":5000.0}}`, []string{"A", "C"}, []string{"A", "C"}},
		{"custom string 5000", `{"custom":{"loan_amount":"5000"}}`, []string{"A", "C"}, []string{"A", "C"}},
		{"custom string 5000.0 is not 5000", `{"custom":{"loan_amount":"5000.0"}}`, nil, nil},
		{"custom float", `{"custom":{"loan_amount":5000.50}}`, []string{"B"}, []string{"B"}},
		{"custom bool", `{"custom":{"vip":true}}`, []string{"A"}, []string{"A"}},
		{"custom missing field", `{"custom":{"vip":[true,false]}}`, []string{"A"}, []string{"A"}},
		{"custom standard key", `{"custom":{"payment_status":"pending"}}`, []string{"D"}, []string{"D"}},
		{"and across", `{"payment_status":["bounced","paid"],"language":"english"}`, []string{"B"}, []string{"B"}},
		{"and custom", `{"language":"hindi","custom":{"region":"south"}}`, nil, nil},
		{"ids", `{"ids":["A","C","Z"]}`, []string{"A", "B", "C", "D"}, []string{"A", "C"}},
		{"ids lead", `{"ids":["D"]}`, []string{"A", "B", "C", "D"}, []string{"D"}},
		{"exclude", `{"exclude_ids":["A","B"]}`, []string{"A", "B", "C", "D"}, []string{"C", "D"}},
		{"exclude wins", `{"ids":["A","B"],"exclude_ids":["A"]}`, []string{"A", "B", "C", "D"}, []string{"B"}},
		{"ids and status", `{"ids":["A","B"],"payment_status":"paid"}`, []string{"B"}, []string{"B"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := mustParse(t, tc.filters)
			m := f.Compile()
			var attrs, match, cattrs, cmatch []string
			for _, r := range all {
				if f.MatchAttributes(r) {
					attrs = append(attrs, r.ID())
				}
				if f.Match(r) {
					match = append(match, r.ID())
				}
				if m.MatchAttributes(r) {
					cattrs = append(cattrs, r.ID())
				}
				if m.Match(r) {
					cmatch = append(cmatch, r.ID())
				}
			}
			if !reflect.DeepEqual(attrs, tc.attrs) || !reflect.DeepEqual(cattrs, tc.attrs) {
				t.Errorf("MatchAttributes: %q, compiled %q; want %q", attrs, cattrs, tc.attrs)
			}
			if !reflect.DeepEqual(match, tc.match) || !reflect.DeepEqual(cmatch, tc.match) {
				t.Errorf("Match: %q, compiled %q; want %q", match, cmatch, tc.match)
			}
		})
	}
}

func TestMatchManualFiltersCaseInsensitive(t *testing.T) {
	f := Filters{PaymentStatus: []string{"BOUNCED"}, Language: []string{"Hindi"}}
	r := rec("A", "bounced", "HINDI")
	if !f.Match(r) || !f.Compile().Match(r) {
		t.Fatal("upper-case filter values should match")
	}
}
