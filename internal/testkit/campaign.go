package testkit

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/campaignsms/campaignsms/internal/customer"
	"github.com/campaignsms/campaignsms/internal/filter"
	"github.com/campaignsms/campaignsms/internal/initiate"
	"github.com/campaignsms/campaignsms/internal/provider"
	"github.com/campaignsms/campaignsms/internal/providertest"
	"github.com/campaignsms/campaignsms/internal/queue"
	"github.com/campaignsms/campaignsms/internal/redistest"
	"github.com/campaignsms/campaignsms/internal/store"
	"github.com/campaignsms/campaignsms/internal/worker"
)

// Bundle is a campaign ready to send: campaign "c" of org "o" with
// Customers customers L0000… and template "t" on a real Redis, an
// initiation service whose batches the Enqueuer fake keeps, and a fake
// provider on loopback.
type Bundle struct {
	RDB   redis.UniversalClient
	Store *store.Store
	Clock *Clock
	Fake  *providertest.Server
	Svc   *initiate.Service
	Queue *Enqueuer
	Prov  provider.Provider
}

// Options configures Setup.
type Options struct {
	Customers int
	Faults    providertest.Faults
	Dedupe    bool
	BatchSize int // default 10
}

// Setup builds the Bundle. Customer i has phone 98000000ii, first_name Ni,
// emi_amount 100+i and payment_status bounced.
func Setup(t *testing.T, o Options) Bundle {
	t.Helper()
	rdb := redistest.Client(t)
	c := NewClock()
	st := store.New(store.Params{Redis: rdb, Now: c.Now})
	fake := providertest.Start(providertest.Options{Faults: o.Faults, Seed: 1, Dedupe: o.Dedupe})
	t.Cleanup(fake.Close)
	q := &Enqueuer{}
	if o.BatchSize == 0 {
		o.BatchSize = 10
	}
	b := Bundle{
		RDB: rdb, Store: st, Clock: c, Fake: fake, Queue: q,
		Svc:  initiate.New(initiate.Params{Store: st, Queue: q, BatchSize: o.BatchSize}),
		Prov: provider.NewWebhook(provider.WebhookParams{URL: fake.URL, Timeout: 2 * time.Second}),
	}
	ctx := context.Background()
	if err := st.CreateCampaign(ctx, &store.Campaign{ID: "c", Org: "o", Name: "C"}); err != nil {
		t.Fatal(err)
	}
	if err := st.PutTemplate(ctx, &store.Template{ID: "t", Org: "o", Name: "T", Body: "Hi {{first_name}}, pay {{emi_amount}}", SenderID: "TMPPAY"}, true); err != nil {
		t.Fatal(err)
	}
	recs := make([]customer.Record, o.Customers)
	for i := range recs {
		r, errs := customer.Normalize(map[string]any{
			"loan_id": fmt.Sprintf("L%04d", i), "phone_number": fmt.Sprintf("98%08d", i),
			"first_name": "N" + fmt.Sprint(i), "emi_amount": 100 + i, "payment_status": "bounced",
		})
		if len(errs) > 0 {
			t.Fatal(errs)
		}
		recs[i] = r
	}
	if _, err := st.UpsertCustomers(ctx, "o", "c", recs); err != nil {
		t.Fatal(err)
	}
	return b
}

// Handler builds a worker handler on the bundle, with short backoffs and
// pause checks unless p sets them.
func (b Bundle) Handler(p worker.HandlerParams) *worker.Handler {
	p.Store = b.Store
	if p.Provider == nil {
		p.Provider = b.Prov
	}
	if p.BackoffBase == 0 {
		p.BackoffBase = 5 * time.Millisecond
	}
	if p.PauseCheck == 0 {
		p.PauseCheck = 50 * time.Millisecond
	}
	return worker.NewHandler(p)
}

// Initiate sends template "t" to the customers matching f.
func (b Bundle) Initiate(t *testing.T, f filter.Filters) *initiate.Result {
	t.Helper()
	res, err := b.Svc.Initiate(context.Background(), "o", "c", initiate.Request{TemplateID: "t", Filters: f})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// Batches returns every batch queued so far.
func (b Bundle) Batches() []queue.Batch { return b.Queue.Batches() }

// RunAll processes every queued batch once, in parallel.
func (b Bundle) RunAll(t *testing.T, h *worker.Handler) []error {
	t.Helper()
	bs := b.Batches()
	errs := make([]error, len(bs))
	var wg sync.WaitGroup
	for i, bt := range bs {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = h.ProcessBatch(context.Background(), bt) }()
	}
	wg.Wait()
	return errs
}

// CheckCounters asserts that the parts add up and equal the message states.
func (b Bundle) CheckCounters(t *testing.T, id string) store.Counters {
	t.Helper()
	ctx := context.Background()
	c, err := b.Store.Counters(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if c.Sent+c.Failed+c.Skipped+c.Cancelled+c.Pending() != c.Selected || c.Pending() < 0 {
		t.Fatalf("parts do not add up: %+v", c)
	}
	states, err := b.Store.AllStates(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	n := map[string]int64{}
	for _, s := range states {
		if strings.HasPrefix(s, "s|") {
			s = "s"
		}
		n[s]++
	}
	if n["S"]+n["D"] != c.Sent || n["K"] != c.Skipped || n["s"] != c.Inflight {
		t.Fatalf("counters %+v disagree with states %v", c, n)
	}
	ini, err := b.Store.InitiationByID(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if n["F"]+ini.FailedAtQueue != c.Failed {
		t.Fatalf("failed %d disagrees with states %v", c.Failed, n)
	}
	return c
}

// ExactlyOnce asserts the fake provider accepted each of the n messages once.
func (b Bundle) ExactlyOnce(t *testing.T, id string, n int) {
	t.Helper()
	acc := b.Fake.Accepted()
	for i := range n {
		mid := store.MessageID(id, i)
		if acc[mid] != 1 {
			t.Errorf("message %s accepted %d times", mid, acc[mid])
		}
	}
	if len(acc) != n {
		t.Errorf("provider accepted %d distinct messages, want %d", len(acc), n)
	}
}

// Within returns a context that ends after d or with the test.
func Within(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// Eventually polls cond every 10 ms until it holds or within has passed.
func Eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, within)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
