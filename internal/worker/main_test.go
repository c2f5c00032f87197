package worker_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
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

func TestMain(m *testing.M) { redistest.Main(m) }

type clock struct{ off atomic.Int64 }

func (c *clock) now() time.Time          { return time.Now().Add(time.Duration(c.off.Load())) }
func (c *clock) advance(d time.Duration) { c.off.Add(int64(d)) }

// capture is the Enqueuer fake: it keeps the batches instead of queueing them,
// so tests run batches by hand, as often and as concurrently as they like.
type capture struct {
	mu      sync.Mutex
	batches []queue.Batch
}

func (c *capture) Enqueue(_ context.Context, b []queue.Batch) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.batches = append(c.batches, b...)
	return nil
}

type testBundle struct {
	rdb   redis.UniversalClient
	st    *store.Store
	clock *clock
	fake  *providertest.Server
	svc   *initiate.Service
	q     *capture
	prov  provider.Provider
}

type setupOpts struct {
	customers int
	faults    providertest.Faults
	dedupe    bool
}

// setup stores campaign "c" of org "o" with n customers and template "t" on a
// real Redis, and starts a fake provider.
func setup(t *testing.T, o setupOpts) testBundle {
	t.Helper()
	rdb := redistest.Client(t)
	c := &clock{}
	st := store.New(store.Params{Redis: rdb, Now: c.now})
	fake := providertest.Start(providertest.Options{Faults: o.faults, Seed: 1, Dedupe: o.dedupe})
	t.Cleanup(fake.Close)
	q := &capture{}
	b := testBundle{
		rdb: rdb, st: st, clock: c, fake: fake, q: q,
		svc:  initiate.New(initiate.Params{Store: st, Queue: q, BatchSize: 10}),
		prov: provider.NewWebhook(provider.WebhookParams{URL: fake.URL, Timeout: 2 * time.Second}),
	}
	ctx := context.Background()
	if err := st.CreateCampaign(ctx, &store.Campaign{ID: "c", Org: "o", Name: "C"}); err != nil {
		t.Fatal(err)
	}
	if err := st.PutTemplate(ctx, &store.Template{ID: "t", Org: "o", Name: "T", Body: "Hi {{first_name}}, pay {{emi_amount}}", SenderID: "TMPPAY"}, true); err != nil {
		t.Fatal(err)
	}
	recs := make([]customer.Record, o.customers)
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

func (b testBundle) handler(p worker.HandlerParams) *worker.Handler {
	p.Store = b.st
	if p.Provider == nil {
		p.Provider = b.prov
	}
	if p.BackoffBase == 0 {
		p.BackoffBase = 5 * time.Millisecond
	}
	if p.PauseCheck == 0 {
		p.PauseCheck = 50 * time.Millisecond
	}
	return worker.NewHandler(p)
}

func (b testBundle) initiate(t *testing.T, f filter.Filters) *initiate.Result {
	t.Helper()
	res, err := b.svc.Initiate(context.Background(), "o", "c", initiate.Request{TemplateID: "t", Filters: f})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func (b testBundle) batches() []queue.Batch {
	b.q.mu.Lock()
	defer b.q.mu.Unlock()
	return append([]queue.Batch(nil), b.q.batches...)
}

// runAll processes every captured batch once, in parallel.
func (b testBundle) runAll(t *testing.T, h *worker.Handler) []error {
	t.Helper()
	bs := b.batches()
	errs := make([]error, len(bs))
	var wg sync.WaitGroup
	for i, bt := range bs {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = h.ProcessBatch(context.Background(), bt) }()
	}
	wg.Wait()
	return errs
}

// checkCounters asserts that the parts add up and equal the message states.
func checkCounters(t *testing.T, b testBundle, id string) store.Counters {
	t.Helper()
	ctx := context.Background()
	c, err := b.st.Counters(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if c.Sent+c.Failed+c.Skipped+c.Cancelled+c.Pending() != c.Selected || c.Pending() < 0 {
		t.Fatalf("parts do not add up: %+v", c)
	}
	states, err := b.st.AllStates(ctx, id)
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
	ini, err := b.st.InitiationByID(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if n["F"]+ini.FailedAtQueue != c.Failed {
		t.Fatalf("failed %d disagrees with states %v", c.Failed, n)
	}
	return c
}

// exactlyOnce asserts the fake provider accepted each of the n messages once.
func exactlyOnce(t *testing.T, b testBundle, id string, n int) {
	t.Helper()
	acc := b.fake.Accepted()
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
