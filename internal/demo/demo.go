// Package demo loads the demo campaign of SPEC §2, so that every example of
// the README works right after `make run`.
package demo

import (
	"context"
	"fmt"

	"github.com/campaignsms/campaignsms/internal/apperr"
	"github.com/campaignsms/campaignsms/internal/customer"
	"github.com/campaignsms/campaignsms/internal/store"
)

// The demo's fixed names.
const (
	Org        = "default"
	CampaignID = "demo"
	TemplateID = "hfu7VL6sBhI6NPm"
	Customers  = 500
	FirstLoan  = 2043000
)

var (
	firstNames = []string{"Aarav", "Priya", "Rohan", "Ananya", "Vikram", "Sneha", "Arjun", "Kavya", "Rahul", "Meera"}
	lastNames  = []string{"Sharma", "Patel", "Iyer", "Reddy", "Singh", "Gupta", "Nair", "Khan", "Das", "Joshi"}
	statuses   = []string{"bounced", "pending", "partial", "paid", "received", "bounced", "pending"}
	languages  = []string{"english", "hindi", "english", "Hindi", "english"}
)

// Template is the demo SMS template.
func Template() *store.Template {
	return &store.Template{
		ID: TemplateID, Org: Org, Name: "EMI reminder",
		Body: "Dear {{first_name}}, your EMI of Rs {{emi_amount}} for loan {{loan_id}} is due on {{emi_due_date}}. Please pay on time to avoid charges.",
		Bodies: map[string]string{
			"hindi": "प्रिय {{first_name}}, आपके लोन {{loan_id}} की EMI रु {{emi_amount}} {{emi_due_date}} को देय है। कृपया समय पर भुगतान करें।",
		},
		SenderID: "TMPPAY", DLTTemplateID: "1107160000000012345", DLTEntityID: "1101160000000054321",
		Category: "transactional",
	}
}

// Records returns the demo customers, in insertion order.
func Records() ([]customer.Record, error) {
	out := make([]customer.Record, 0, Customers)
	for i := range Customers {
		raw := map[string]any{
			"loan_id":        fmt.Sprintf("LOANID-%d", FirstLoan+i),
			"phone_number":   fmt.Sprintf("98%08d", 10000000+i*7),
			"first_name":     firstNames[i%len(firstNames)],
			"last_name":      lastNames[(i/len(firstNames))%len(lastNames)],
			"loan_amount":    100000 + (i%20)*25000,
			"emi_amount":     2500 + (i%12)*500,
			"loan_period":    12 + (i%4)*12,
			"current_emi":    1 + i%12,
			"emi_due_date":   fmt.Sprintf("2026-12-%02d", 1+i%28),
			"payment_status": statuses[i%len(statuses)],
			"language":       languages[i%len(languages)],
			"region":         []string{"north", "south", "east", "west"}[i%4],
		}
		r, errs := customer.Normalize(raw)
		if len(errs) > 0 {
			return nil, fmt.Errorf("demo customer %d: %s: %s", i, errs[0].Field, errs[0].Message)
		}
		out = append(out, r)
	}
	return out, nil
}

// Load creates the demo campaign, customers and template if they are absent.
// It is safe to run on every start.
func Load(ctx context.Context, st *store.Store) (loaded bool, err error) {
	if _, err := st.Campaign(ctx, Org, CampaignID); err == nil {
		return false, nil
	} else if apperr.KindOf(err) != apperr.NotFound {
		return false, err
	}
	if _, err := st.Template(ctx, Org, TemplateID); apperr.KindOf(err) == apperr.NotFound {
		if err := st.PutTemplate(ctx, Template(), true); err != nil && apperr.KindOf(err) != apperr.Conflict {
			return false, fmt.Errorf("demo template: %w", err)
		}
	} else if err != nil {
		return false, err
	}
	recs, err := Records()
	if err != nil {
		return false, err
	}
	// Customers first, campaign last: a crash in between leaves no campaign,
	// so the next start loads it all again (upserts are idempotent).
	if _, err := st.UpsertCustomers(ctx, Org, CampaignID, recs); err != nil {
		return false, fmt.Errorf("demo customers: %w", err)
	}
	c := &store.Campaign{
		ID: CampaignID, Org: Org, Name: "Demo EMI reminders", Description: "Demo data: 500 loan customers",
		CampaignType: "emi", Timezone: "Asia/Kolkata", Languages: []string{"english", "hindi"}, Region: "IN",
		Tags: []string{"demo"},
	}
	if err := st.CreateCampaign(ctx, c); err != nil && apperr.KindOf(err) != apperr.Conflict {
		return false, fmt.Errorf("demo campaign: %w", err)
	}
	return true, nil
}
