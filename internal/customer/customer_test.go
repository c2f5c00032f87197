package customer

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/campaignsms/campaignsms/internal/apperr"
)

func decodeMap(t *testing.T, s string) map[string]any {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("decode %s: %v", s, err)
	}
	return m
}

func TestFormatNumber(t *testing.T) {
	tests := []struct{ in, want string }{
		{"0", "0"},
		{"-0", "0"},
		{"-0.0", "0"},
		{"5000", "5000"},
		{"5000.0", "5000"},
		{"5000.50", "5000.5"},
		{"1e3", "1000"},
		{"1E+3", "1000"},
		{"1.5e1", "15"},
		{"12.345e-2", "0.12345"},
		{"0.001", "0.001"},
		{"-12.50", "-12.5"},
		{"123456789012345678901234567890", "123456789012345678901234567890"},
		{"123456789012345678901234567890.000", "123456789012345678901234567890"},
		{"9007199254740993", "9007199254740993"},
		{"1e400", "1e400"},
		{"1.25e-400", "1.25e-400"},
		{"1e99999999999999999999", "1e1000000000"},
		{"abc", "abc"},
		{"01", "01"},
		{"1.", "1."},
		{"", ""},
	}
	for _, tc := range tests {
		if got := FormatNumber(json.Number(tc.in)); got != tc.want {
			t.Errorf("FormatNumber(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestFormatFloatMatchesFormatNumber(t *testing.T) {
	for _, s := range []string{"5000", "5000.5", "0.1", "1e21", "1e-7", "-2.5", "123456789", "1e300"} {
		var f float64
		if err := json.Unmarshal([]byte(s), &f); err != nil {
			t.Fatal(err)
		}
		if a, b := FormatFloat(f), FormatNumber(json.Number(s)); a != b {
			t.Errorf("%s: FormatFloat %q != FormatNumber %q", s, a, b)
		}
	}
	if got := FormatFloat(math.Inf(1)); got != "+Inf" {
		t.Errorf("FormatFloat(+Inf) = %q", got)
	}
}

func TestGet(t *testing.T) {
	r := Record{
		"s":     "text",
		"empty": "",
		"n":     json.Number("5000.0"),
		"f":     5000.5,
		"i":     42,
		"big":   json.Number("12345678901234567890"),
		"t":     true,
		"fl":    false,
		"null":  nil,
		"arr":   []any{"a", json.Number("1"), nil},
		"obj":   map[string]any{"b": "<x>", "a": 1.0},
	}
	tests := []struct {
		field, want string
		ok          bool
	}{
		{"s", "text", true},
		{"empty", "", true},
		{"n", "5000", true},
		{"f", "5000.5", true},
		{"i", "42", true},
		{"big", "12345678901234567890", true},
		{"t", "true", true},
		{"fl", "false", true},
		{"null", "", false},
		{"absent", "", false},
		{"arr", `["a",1,null]`, true},
		{"obj", `{"a":1,"b":"<x>"}`, true},
	}
	for _, tc := range tests {
		got, ok := r.Get(tc.field)
		if got != tc.want || ok != tc.ok {
			t.Errorf("Get(%q) = %q, %v; want %q, %v", tc.field, got, ok, tc.want, tc.ok)
		}
	}
}

func fieldsOf(errs []apperr.FieldError) []string {
	var out []string
	for _, e := range errs {
		out = append(out, e.Field)
	}
	return out
}

func TestNormalize(t *testing.T) {
	tests := []struct {
		name       string
		in         string
		wantErr    []string // offending fields; nil: valid
		id, idF    string
		check      map[string]any // expected stored values
		absentKeys []string
	}{
		{name: "loan id", in: `{"loan_id":" L-1 ","phone_number":"9876543210"}`, id: "L-1", idF: "loan_id",
			check: map[string]any{"loan_id": "L-1", "phone_number": "+919876543210"}},
		{name: "lead id", in: `{"lead_id":"LEAD-9"}`, id: "LEAD-9", idF: "lead_id"},
		{name: "loan id wins", in: `{"loan_id":"L","lead_id":"D"}`, id: "L", idF: "loan_id",
			check: map[string]any{"lead_id": "D"}},
		{name: "empty loan id falls back", in: `{"loan_id":"","lead_id":"D"}`, id: "D", idF: "lead_id", absentKeys: []string{"loan_id"}},
		{name: "null loan id falls back", in: `{"loan_id":null,"lead_id":"D"}`, id: "D", idF: "lead_id", absentKeys: []string{"loan_id"}},
		{name: "numeric id", in: `{"loan_id":12345.0}`, id: "12345", idF: "loan_id", check: map[string]any{"loan_id": "12345"}},
		{name: "big numeric id", in: `{"lead_id":98765432109876543210}`, id: "98765432109876543210", idF: "lead_id"},
		{name: "missing id", in: `{"first_name":"A"}`, wantErr: []string{"loan_id"}},
		{name: "blank ids", in: `{"loan_id":"  ","lead_id":""}`, wantErr: []string{"loan_id"}},
		{name: "bool id", in: `{"loan_id":true}`, wantErr: []string{"loan_id"}},
		{name: "object lead id", in: `{"lead_id":{}}`, wantErr: []string{"lead_id"}},
		{name: "bad loan id with lead id", in: `{"loan_id":[],"lead_id":"D"}`, wantErr: []string{"loan_id"}},
		{name: "id too long", in: `{"loan_id":"` + strings.Repeat("x", 129) + `"}`, wantErr: []string{"loan_id"}},
		{name: "id 128", in: `{"loan_id":"` + strings.Repeat("x", 128) + `"}`, id: strings.Repeat("x", 128), idF: "loan_id"},
		{name: "id control char", in: `{"loan_id":"a\u0007b"}`, wantErr: []string{"loan_id"}},
		{name: "phone with +91", in: `{"loan_id":"L","phone_number":"+91 98765-43210"}`, id: "L", idF: "loan_id",
			check: map[string]any{"phone_number": "+919876543210"}},
		{name: "phone as number", in: `{"loan_id":"L","phone_number":9876543210}`, id: "L", idF: "loan_id",
			check: map[string]any{"phone_number": "+919876543210"}},
		{name: "phone null", in: `{"loan_id":"L","phone_number":null}`, id: "L", idF: "loan_id", absentKeys: []string{"phone_number"}},
		{name: "phone empty", in: `{"loan_id":"L","phone_number":""}`, id: "L", idF: "loan_id", absentKeys: []string{"phone_number"}},
		{name: "phone invalid", in: `{"loan_id":"L","phone_number":"12345"}`, wantErr: []string{"phone_number"}},
		{name: "phone bool", in: `{"loan_id":"L","phone_number":true}`, wantErr: []string{"phone_number"}},
		{name: "payment status upper", in: `{"loan_id":"L","payment_status":" BOUNCED "}`, id: "L", idF: "loan_id",
			check: map[string]any{"payment_status": "bounced"}},
		{name: "payment status unknown", in: `{"loan_id":"L","payment_status":"late"}`, wantErr: []string{"payment_status"}},
		{name: "payment status number", in: `{"loan_id":"L","payment_status":1}`, wantErr: []string{"payment_status"}},
		{name: "language trimmed", in: `{"loan_id":"L","language":" Hindi "}`, id: "L", idF: "loan_id",
			check: map[string]any{"language": "Hindi"}},
		{name: "language not string", in: `{"loan_id":"L","language":["hi"]}`, wantErr: []string{"language"}},
		{name: "custom fields kept", in: `{"loan_id":"L","region":"north","amount":5000.50,"flags":[1,2]}`, id: "L", idF: "loan_id",
			check: map[string]any{"region": "north", "amount": json.Number("5000.50")}},
		{name: "empty key", in: `{"loan_id":"L","":"x"}`, wantErr: []string{""}},
		{name: "long key", in: `{"loan_id":"L","` + strings.Repeat("k", 65) + `":"x"}`, wantErr: []string{strings.Repeat("k", 64) + "…"}},
		{name: "several errors", in: `{"phone_number":"x","payment_status":"x","language":1}`,
			wantErr: []string{"loan_id", "phone_number", "payment_status", "language"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			raw := decodeMap(t, tc.in)
			before := fmt.Sprint(raw)
			r, errs := Normalize(raw)
			if fmt.Sprint(raw) != before {
				t.Errorf("Normalize modified its input")
			}
			if tc.wantErr != nil {
				if r != nil {
					t.Errorf("got a record with errors")
				}
				if got := fieldsOf(errs); !reflect.DeepEqual(got, tc.wantErr) {
					t.Fatalf("error fields = %q, want %q (%v)", got, tc.wantErr, errs)
				}
				for _, e := range errs {
					if e.Message == "" {
						t.Errorf("empty message for %q", e.Field)
					}
				}
				return
			}
			if errs != nil {
				t.Fatalf("unexpected errors %v", errs)
			}
			if r.ID() != tc.id || r.IDField() != tc.idF {
				t.Errorf("ID, IDField = %q, %q; want %q, %q", r.ID(), r.IDField(), tc.id, tc.idF)
			}
			for k, want := range tc.check {
				if got := r[k]; !reflect.DeepEqual(got, want) {
					t.Errorf("%s = %#v, want %#v", k, got, want)
				}
			}
			for _, k := range tc.absentKeys {
				if _, ok := r[k]; ok {
					t.Errorf("%s should be absent", k)
				}
			}
		})
	}
}

func TestNormalizeTooManyKeys(t *testing.T) {
	raw := map[string]any{"loan_id": "L"}
	for i := 0; len(raw) <= MaxKeys; i++ {
		raw[fmt.Sprintf("k%d", i)] = i
	}
	if _, errs := Normalize(raw); len(errs) != 1 {
		t.Fatalf("errors = %v, want one", errs)
	}
	delete(raw, "k0")
	if _, errs := Normalize(raw); errs != nil {
		t.Fatalf("100 keys: %v", errs)
	}
	if _, errs := Normalize(nil); len(errs) != 1 || errs[0].Field != "loan_id" {
		t.Fatalf("nil record: %v", errs)
	}
}

func TestAccessors(t *testing.T) {
	r := Record{"lead_id": json.Number("77"), "payment_status": "PAID", "language": " English ", "phone_number": "+919876543210"}
	if r.ID() != "77" || r.IDField() != "lead_id" {
		t.Errorf("ID = %q, %q", r.ID(), r.IDField())
	}
	if r.PaymentStatus() != "paid" || r.Language() != "english" || r.Phone() != "+919876543210" {
		t.Errorf("accessors: %q %q %q", r.PaymentStatus(), r.Language(), r.Phone())
	}
	var empty Record
	if empty.ID() != "" || empty.IDField() != "" || empty.PaymentStatus() != "" || empty.Language() != "" {
		t.Errorf("empty record accessors")
	}
}

func TestRoundTrip(t *testing.T) {
	in := `{"loan_id":"L-1","amount":12345678901234567890.10,"small":1e-30,"arr":[1.0,{"x":null}],"t":true,"s":"<&>"}`
	r, err := Decode([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	out, err := r.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	if viaMarshal, err := json.Marshal(r); err != nil || !json.Valid(viaMarshal) {
		t.Fatalf("json.Marshal: %s %v", viaMarshal, err)
	}
	if !bytes.Contains(out, []byte(`"amount":12345678901234567890.10`)) || !bytes.Contains(out, []byte(`"s":"<&>"`)) {
		t.Errorf("marshal lost precision or escaped: %s", out)
	}
	r2, err := Decode(out)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(r, r2) {
		t.Errorf("round trip: %#v != %#v", r, r2)
	}
	if v, _ := r2.Get("amount"); v != "12345678901234567890.1" {
		t.Errorf("amount = %q", v)
	}
	var nilRec Record
	if b, _ := json.Marshal(nilRec); string(b) != "{}" {
		t.Errorf("nil record = %s", b)
	}
	for _, bad := range []string{"", "null", "[]", `{"a":1} x`, `{"a":`, `"s"`} {
		if _, err := Decode([]byte(bad)); err == nil {
			t.Errorf("Decode(%q) accepted", bad)
		}
	}
}

func FuzzFormatNumber(f *testing.F) {
	for _, s := range []string{"5000.0", "1e3", "-0.5", "1e-400", "abc"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := FormatNumber(json.Number(s))
		if !json.Valid([]byte(s)) || s == "" || (s[0] != '-' && (s[0] < '0' || s[0] > '9')) {
			return
		}
		// The shortest form is itself a number, equal in value, and stable.
		if FormatNumber(json.Number(out)) != out {
			t.Fatalf("not idempotent: %q -> %q", s, out)
		}
		var a, b float64
		if json.Unmarshal([]byte(s), &a) == nil && json.Unmarshal([]byte(out), &b) == nil && a != b {
			t.Fatalf("value changed: %q -> %q", s, out)
		}
	})
}
