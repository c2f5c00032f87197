package customer

import (
	"bytes"
	"encoding/json"
	"testing"
)

// FuzzNormalizeRecord feeds arbitrary JSON objects through the import path of
// a customer record: decode, normalise, store (marshal) and read back. It must
// never panic, and an accepted record must survive the round trip with the
// same id, phone, status and language.
func FuzzNormalizeRecord(f *testing.F) {
	for _, seed := range []string{
		`{"loan_id":"LOANID-1","phone_number":"9876543210","payment_status":"bounced","language":"Hindi"}`,
		`{"lead_id":12345,"phone_number":"+44 20 7946 0958","emi_amount":5000.0,"nested":{"a":[1,2]}}`,
		`{"loan_id":"","lead_id":"L","phone_number":null,"payment_status":"PAID"}`,
		`{"loan_id":"a\u0000b","phone_number":"0"}`,
		`{"loan_id":1e400}`,
		`{"loan_id":"x","":"empty key"}`,
		`{"loan_id":"x","payment_status":"late","language":7}`,
		`{"loan_id":"\xff\xfe","first_name":"\ud800"}`,
		`{"loan_id":"x","phone_number":"+91 98765 43210 ext. 9"}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.UseNumber()
		var raw map[string]any
		if err := dec.Decode(&raw); err != nil || raw == nil {
			return
		}
		r, errs := Normalize(raw)
		if len(errs) > 0 {
			if len(r) > 0 && r.ID() == "" {
				t.Fatalf("errors %v but a record without id %v", errs, r)
			}
			return
		}
		if r.ID() == "" {
			t.Fatalf("accepted a record without id: %v", raw)
		}
		out, err := json.Marshal(r)
		if err != nil {
			t.Fatalf("marshal accepted record: %v", err)
		}
		back, err := Decode(out)
		if err != nil {
			t.Fatalf("decode stored record %s: %v", out, err)
		}
		if back.ID() != r.ID() || back.Phone() != r.Phone() || back.PaymentStatus() != r.PaymentStatus() || back.Language() != r.Language() {
			t.Fatalf("round trip changed the record:\n%v\n%v", r, back)
		}
		for k := range r {
			a, okA := r.Get(k)
			b, okB := back.Get(k)
			if a != b || okA != okB {
				t.Fatalf("field %q: %q/%v became %q/%v", k, a, okA, b, okB)
			}
		}
	})
}
