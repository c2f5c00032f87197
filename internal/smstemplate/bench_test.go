package smstemplate

import "testing"

func BenchmarkRender(b *testing.B) {
	set, err := NewSet("Dear {{first_name}}, your EMI of Rs {{emi_amount}} for loan {{loan_id}} is due on {{emi_due_date}}. Please pay on time.",
		map[string]string{"hindi": "प्रिय {{first_name}}, आपके लोन {{loan_id}} की EMI रु {{emi_amount}} {{emi_due_date}} को देय है।"})
	if err != nil {
		b.Fatal(err)
	}
	fields := map[string]string{"first_name": "Priya", "emi_amount": "4500", "loan_id": "LOANID-2043153", "emi_due_date": "2026-12-05"}
	get := func(k string) (string, bool) { v, ok := fields[k]; return v, ok }
	b.ReportAllocs()
	for b.Loop() {
		if text, missing := set.For("hindi").Render(get); text == "" || missing != nil {
			b.Fatal("render failed")
		}
	}
}
