package initiate_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/campaignsms/campaignsms/internal/customer"
	"github.com/campaignsms/campaignsms/internal/filter"
	"github.com/campaignsms/campaignsms/internal/initiate"
	"github.com/campaignsms/campaignsms/internal/redistest"
	"github.com/campaignsms/campaignsms/internal/store"
)

// BenchmarkResolve measures filter resolution and the per-customer checks
// of an initiate over 20 000 customers on real Redis (a dry run writes nothing).
func BenchmarkResolve(b *testing.B) {
	st := store.New(store.Params{Redis: redistest.Client(b)})
	ctx := context.Background()
	if err := st.CreateCampaign(ctx, &store.Campaign{ID: "c", Org: "o", Name: "c"}); err != nil {
		b.Fatal(err)
	}
	if err := st.PutTemplate(ctx, &store.Template{ID: "t", Org: "o", Name: "t", Body: "Hi {{first_name}}"}, true); err != nil {
		b.Fatal(err)
	}
	recs := make([]customer.Record, 20000)
	for i := range recs {
		recs[i] = customer.Record{"loan_id": fmt.Sprintf("L%06d", i), "phone_number": "+919800000000", "first_name": "A",
			"payment_status": []string{"bounced", "pending", "paid"}[i%3], "region": []string{"north", "south"}[i%2]}
	}
	if _, err := st.UpsertCustomers(ctx, "o", "c", recs); err != nil {
		b.Fatal(err)
	}
	svc := initiate.New(initiate.Params{Store: st, Queue: &capture{}})
	for _, bc := range []struct {
		name string
		f    filter.Filters
	}{
		{"all", filter.Filters{}},
		{"status", filter.Filters{PaymentStatus: []string{"bounced", "pending"}}},
		{"custom", filter.Filters{Custom: map[string][]string{"region": {"north"}}}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := svc.Initiate(ctx, "o", "c", initiate.Request{TemplateID: "t", Filters: bc.f, DryRun: true}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
