package customer

import (
	"fmt"
	"reflect"
	"testing"
)

// FuzzDecodeFlat: whatever the fast scanner accepts, encoding/json decodes
// to the same record; what it declines still decodes through Decode.
func FuzzDecodeFlat(f *testing.F) {
	for _, seed := range []string{
		`{"loan_id":"L1","phone_number":"+919876543210","emi_amount":5000,"paid":true,"x":null}`,
		`{}`, ` { "a" : -0.5e+3 , "b":"प्रिय" } `, `{"a":01}`, `{"a":1.}`, `{"a":"x\"y"}`, `{"a":{"b":1}}`,
		`{"a":1}x`, `{"a":1,}`, `{"a":"\u00e9"}`, `{"a":1,"a":2}`, `[1]`, `{"a":tru}`, "{\"a\":\"\xff\"}",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fast, ok := decodeFlat(data)
		slow, err := decodeJSON(data)
		if !ok {
			return
		}
		if err != nil {
			t.Fatalf("flat scanner accepted %q, encoding/json refuses it: %v", data, err)
		}
		if !reflect.DeepEqual(fast, slow) {
			t.Fatalf("%q: flat %#v, encoding/json %#v", data, fast, slow)
		}
	})
}

func BenchmarkDecode(b *testing.B) {
	data := []byte(`{"loan_id":"LOANID-2043153","phone_number":"+919810001071","first_name":"Priya","last_name":"Sharma","loan_amount":225000,"emi_amount":4500,"loan_period":36,"current_emi":4,"emi_due_date":"2026-12-05","payment_status":"bounced","language":"hindi","region":"north"}`)
	for _, bc := range []struct {
		name string
		fn   func([]byte) (Record, error)
	}{{"flat", Decode}, {"encoding/json", decodeJSON}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if r, err := bc.fn(data); err != nil || len(r) != 12 {
					b.Fatal(fmt.Sprint(r, err))
				}
			}
		})
	}
}
