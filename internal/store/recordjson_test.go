package store

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

func TestMessageRecordJSONReadsBackAsEncodingJSONDoes(t *testing.T) {
	t.Parallel()
	sent := time.Date(2026, 11, 27, 10, 4, 5, 123456789, time.UTC)
	for _, r := range []MessageRecord{
		{Attempts: 0, UpdatedAt: sent},
		{To: "+919876543210", Body: "प्रिय Asha, \"quoted\" \\ tab\t nl\n <&> \u2028", Attempts: 3, ProviderMessageID: "p-1", SentAt: &sent, UpdatedAt: sent.Add(time.Second)},
		{Code: "provider_rejected", Error: "provider answered 400: bad \x01 \xff\xfe bytes", Attempts: 1, UpdatedAt: sent.In(time.FixedZone("IST", 19800))},
		{To: "+919876543210", Attempts: 2, SentAt: &sent, UpdatedAt: sent, Resent: true},
	} {
		var fast, slow MessageRecord
		if err := json.Unmarshal(r.appendJSON(nil), &fast); err != nil {
			t.Fatalf("%s: %v", r.appendJSON(nil), err)
		}
		std, _ := json.Marshal(r)
		if err := json.Unmarshal(std, &slow); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(fast, slow) {
			t.Fatalf("appendJSON read back as\n%#v\nencoding/json as\n%#v", fast, slow)
		}
	}
}

func BenchmarkMessageRecordJSON(b *testing.B) {
	sent := time.Now()
	r := MessageRecord{To: "+919876543210", Body: "Dear Priya, your EMI of Rs 4500 for loan LOANID-2043153 is due on 2026-12-05.", Attempts: 1, ProviderMessageID: "log-msg_x_1", SentAt: &sent, UpdatedAt: sent}
	b.Run("append", func(b *testing.B) {
		b.ReportAllocs()
		buf := make([]byte, 0, 512)
		for b.Loop() {
			buf = r.appendJSON(buf[:0])
		}
	})
	b.Run("encoding/json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = json.Marshal(r)
		}
	})
}
