package e2e

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/campaignsms/campaignsms/internal/customer"
	"github.com/campaignsms/campaignsms/internal/providertest"
	"github.com/campaignsms/campaignsms/internal/redistest"
	"github.com/campaignsms/campaignsms/internal/store"
)

// TestLoadConcurrentInitiates fires 200 initiates at once over four
// campaigns: no 5xx, and every initiation completes with every message
// accepted once.
func TestLoadConcurrentInitiates(t *testing.T) {
	t.Parallel()
	url := redistest.URL(t)
	env := map[string]string{"REDIS_URL": url, "BATCH_SIZE": "100"}
	c := startCluster(t, 0, providertest.Faults{}, env)
	st := store.New(store.Params{Redis: redistest.ClientFor(t, url)})
	ctx := context.Background()
	statuses := []string{"bounced", "pending", "paid"}
	for ci := range 4 {
		id := fmt.Sprintf("load%d", ci)
		if err := st.CreateCampaign(ctx, &store.Campaign{ID: id, Org: "default", Name: id}); err != nil {
			t.Fatal(err)
		}
		recs := make([]customer.Record, 0, 300)
		for i := range 300 {
			r, errs := customer.Normalize(map[string]any{
				"loan_id": fmt.Sprintf("C%d-%04d", ci, i), "phone_number": fmt.Sprintf("96%02d%06d", ci, i), "first_name": "F",
				"emi_amount": 10, "emi_due_date": "2026-12-01", "payment_status": statuses[i%3],
			})
			if len(errs) > 0 {
				t.Fatal(errs)
			}
			recs = append(recs, r)
		}
		if _, err := st.UpsertCustomers(ctx, "default", id, recs); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 2 {
		c.addWorker(t, i)
	}
	type answer struct {
		code      int
		id        string
		initiated float64
	}
	answers := make([]answer, 200)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range answers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := fmt.Sprintf(`{"templateId":"hfu7VL6sBhI6NPm","limit":%d,"filters":{"payment_status":["%s","%s"]}}`, 1+i%150, statuses[i%3], statuses[(i+1)%3])
			code, out := c.api.call(t, "POST", fmt.Sprintf("/api/v1/initiate/load%d/sms", i%4), body)
			a := answer{code: code}
			if code == 200 {
				a.id = out["initiationId"].(string)
				a.initiated = out["results"].(map[string]any)["initiated"].(float64)
			}
			answers[i] = a
		}()
	}
	wg.Wait()
	t.Logf("200 concurrent initiates answered in %v", time.Since(start))
	want := 0.0
	for i, a := range answers {
		if a.code != 200 {
			t.Fatalf("initiate %d answered %d", i, a.code)
		}
		want += a.initiated
	}
	for _, a := range answers {
		st := c.api.waitDone(t, a.id, 3*time.Minute)
		r := st["results"].(map[string]any)
		if r["sent"] != a.initiated || r["batchesProcessed"] != r["batchesTotal"] {
			t.Fatalf("initiation %s: %v", a.id, r)
		}
	}
	acc := c.fake.Accepted()
	for id, n := range acc {
		if n != 1 {
			t.Errorf("%s accepted %d times", id, n)
		}
	}
	if float64(len(acc)) != want {
		t.Fatalf("provider accepted %d messages, initiations say %v", len(acc), want)
	}
	t.Logf("%v messages of 200 initiations sent once each", want)
}
