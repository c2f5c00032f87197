package worker_test

import (
	"context"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/campaignsms/campaignsms/internal/customer"
	"github.com/campaignsms/campaignsms/internal/filter"
	"github.com/campaignsms/campaignsms/internal/provider"
	"github.com/campaignsms/campaignsms/internal/providertest"
	"github.com/campaignsms/campaignsms/internal/store"
	"github.com/campaignsms/campaignsms/internal/testkit"
	"github.com/campaignsms/campaignsms/internal/worker"
)

func TestBatchSendsEveryMessageOnce(t *testing.T) {
	t.Parallel()
	b := testkit.Setup(t, testkit.Options{Customers: 35})
	res := b.Initiate(t, filter.Filters{})
	h := b.Handler(worker.HandlerParams{Concurrency: 4})
	for _, err := range b.RunAll(t, h) {
		if err != nil {
			t.Fatal(err)
		}
	}
	c := b.CheckCounters(t, res.InitiationID)
	if c.Sent != 35 || c.Pending() != 0 || c.CompletedAt == nil || c.BatchesDone != 4 {
		t.Fatalf("counters = %+v", c)
	}
	b.ExactlyOnce(t, res.InitiationID, 35)
	m, ok := b.Fake.Received(store.MessageID(res.InitiationID, 3))
	if !ok || m.Body != "Hi N3, pay 103" || m.To != "+919800000003" || m.From != "TMPPAY" || m.CustomerID != "L0003" {
		t.Fatalf("message 3 = %+v", m)
	}
}

func TestBatchRunTwiceSequentiallySendsOnce(t *testing.T) {
	t.Parallel()
	b := testkit.Setup(t, testkit.Options{Customers: 20})
	res := b.Initiate(t, filter.Filters{})
	h := b.Handler(worker.HandlerParams{})
	for range 3 {
		for _, err := range b.RunAll(t, h) {
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	b.ExactlyOnce(t, res.InitiationID, 20)
	if c := b.CheckCounters(t, res.InitiationID); c.Sent != 20 {
		t.Fatalf("counters = %+v", c)
	}
}

func TestBatchRunTwiceConcurrentlySendsOnce(t *testing.T) {
	t.Parallel()
	b := testkit.Setup(t, testkit.Options{Customers: 40, Faults: providertest.Faults{Latency: 10 * time.Millisecond}})
	res := b.Initiate(t, filter.Filters{})
	h1 := b.Handler(worker.HandlerParams{Concurrency: 3})
	h2 := b.Handler(worker.HandlerParams{Concurrency: 5})
	var wg sync.WaitGroup
	for _, h := range []*worker.Handler{h1, h2, h1} {
		wg.Add(1)
		go func() { defer wg.Done(); b.RunAll(t, h) }()
	}
	wg.Wait()
	// Runs that met messages leased by a twin answered "busy"; one more
	// pass after the twins are done finishes whatever they left.
	for _, err := range b.RunAll(t, h1) {
		if err != nil {
			t.Fatal(err)
		}
	}
	b.ExactlyOnce(t, res.InitiationID, 40)
	if c := b.CheckCounters(t, res.InitiationID); c.Sent != 40 || c.Pending() != 0 {
		t.Fatalf("counters = %+v", c)
	}
}

// crashAfterSend stops the sender of the chosen messages right after the
// provider accepted them and before the state write: the goroutine exits
// without returning, as a killed process would.
func crashAfterSend(h *worker.Handler, crash func(id string) bool) *atomic.Int64 {
	var crashed atomic.Int64
	worker.SetAfterSend(h, func(id string) {
		if crash(id) {
			crashed.Add(1)
			runtime.Goexit()
		}
	})
	return &crashed
}

func TestCrashBetweenProviderAndStateWriteResendsOnlyThoseWithSameKey(t *testing.T) {
	t.Parallel()
	b := testkit.Setup(t, testkit.Options{Customers: 30, Dedupe: true})
	res := b.Initiate(t, filter.Filters{})
	dying := b.Handler(worker.HandlerParams{Lease: 10 * time.Second})
	crashed := crashAfterSend(dying, func(id string) bool { return strings.HasSuffix(id, "7") })
	for _, err := range b.RunAll(t, dying) {
		if err == nil || !strings.Contains(err.Error(), "leased") {
			t.Fatalf("a run with dead messages must not report its batch done; got %v", err)
		}
	}
	c := b.CheckCounters(t, res.InitiationID)
	if c.Sent != 27 || c.Inflight != 3 || c.CompletedAt != nil {
		t.Fatalf("after the crash: %+v", c)
	}
	// A new run cannot take the messages while their lease holds...
	h := b.Handler(worker.HandlerParams{})
	for _, err := range b.RunAll(t, h) {
		if err == nil {
			t.Fatal("a run took messages still leased to the dead one")
		}
	}
	// ...and takes them once it has run out.
	b.Clock.Advance(11 * time.Second)
	for _, err := range b.RunAll(t, h) {
		if err != nil {
			t.Fatal(err)
		}
	}
	c = b.CheckCounters(t, res.InitiationID)
	if c.Sent != 30 || c.Pending() != 0 || c.BatchesDone != 3 {
		t.Fatalf("after recovery: %+v", c)
	}
	// The three taken over from the dead run say so in their records.
	for n := range 30 {
		m, err := b.Store.Message(context.Background(), "o", store.MessageID(res.InitiationID, n))
		if err != nil {
			t.Fatal(err)
		}
		if want := strings.HasSuffix(m.ID, "7"); m.Record.Resent != want {
			t.Errorf("message %s: resent %v, want %v", m.ID, m.Record.Resent, want)
		}
	}
	// Only the three in flight at the crash went out again, with the same
	// Idempotency-Key, which a deduplicating provider folds into one.
	if got := b.Fake.Duplicates(); got != int(crashed.Load()) || got != 3 {
		t.Fatalf("re-sends = %d, crashed in flight = %d", got, crashed.Load())
	}
	b.ExactlyOnce(t, res.InitiationID, 30)
}

func TestTransientErrorsAreRetriedAndPermanentOnesFailAtOnce(t *testing.T) {
	t.Parallel()
	b := testkit.Setup(t, testkit.Options{Customers: 60, Faults: providertest.Faults{Fail5xxRate: 0.3, Reject4xxRate: 0.1}})
	res := b.Initiate(t, filter.Filters{})
	h := b.Handler(worker.HandlerParams{MaxAttempts: 8})
	for _, err := range b.RunAll(t, h) {
		if err != nil {
			t.Fatal(err)
		}
	}
	c := b.CheckCounters(t, res.InitiationID)
	if c.Pending() != 0 || c.Sent+c.Failed != 60 || c.Failed == 0 || c.Sent < 40 {
		t.Fatalf("counters = %+v", c)
	}
	errs, err := b.Store.Errors(context.Background(), res.InitiationID)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range errs {
		if e.Code != worker.CodeProviderRejected || !strings.Contains(e.Message, "400") {
			t.Errorf("error %+v: want provider_rejected with the provider's status", e)
		}
	}
	if int64(len(errs)) != c.Failed {
		t.Errorf("errors listed %d, failed %d", len(errs), c.Failed)
	}
}

func TestOutageLongerThanRetryBudgetFailsWithReason(t *testing.T) {
	t.Parallel()
	b := testkit.Setup(t, testkit.Options{Customers: 12, Faults: providertest.Faults{Outage: true}})
	res := b.Initiate(t, filter.Filters{})
	h := b.Handler(worker.HandlerParams{MaxAttempts: 3})
	for _, err := range b.RunAll(t, h) {
		if err != nil {
			t.Fatal(err)
		}
	}
	c := b.CheckCounters(t, res.InitiationID)
	if c.Failed != 12 || c.Pending() != 0 {
		t.Fatalf("counters = %+v", c)
	}
	errs, _ := b.Store.Errors(context.Background(), res.InitiationID)
	if len(errs) != 12 || errs[0].Code != worker.CodeSendFailed || !strings.Contains(errs[0].Message, "3 attempts") {
		t.Fatalf("errors = %+v", errs)
	}
	if got := b.Fake.Requests(); got != 36 {
		t.Fatalf("provider saw %d requests, want 12 messages x 3 attempts", got)
	}
}

func TestRetryAfterIsHonoured(t *testing.T) {
	t.Parallel()
	b := testkit.Setup(t, testkit.Options{Customers: 1, Faults: providertest.Faults{TooManyBurst: 1, RetryAfter: time.Second}})
	res := b.Initiate(t, filter.Filters{})
	h := b.Handler(worker.HandlerParams{})
	start := time.Now()
	for _, err := range b.RunAll(t, h) {
		if err != nil {
			t.Fatal(err)
		}
	}
	if el := time.Since(start); el < time.Second {
		t.Fatalf("retried after %v, before Retry-After", el)
	}
	if c := b.CheckCounters(t, res.InitiationID); c.Sent != 1 {
		t.Fatalf("counters = %+v", c)
	}
}

func TestCustomerThatNoLongerMatchesIsSkipped(t *testing.T) {
	t.Parallel()
	b := testkit.Setup(t, testkit.Options{Customers: 10})
	res := b.Initiate(t, filter.Filters{PaymentStatus: []string{"bounced"}})
	// Two customers pay before the batch runs.
	for _, id := range []string{"L0002", "L0005"} {
		r, errs := customer.Normalize(map[string]any{"loan_id": id, "phone_number": "9800000099", "first_name": "X", "emi_amount": 1, "payment_status": "paid"})
		if len(errs) > 0 {
			t.Fatal(errs)
		}
		if _, err := b.Store.UpsertCustomers(context.Background(), "o", "c", []customer.Record{r}); err != nil {
			t.Fatal(err)
		}
	}
	for _, err := range b.RunAll(t, b.Handler(worker.HandlerParams{})) {
		if err != nil {
			t.Fatal(err)
		}
	}
	c := b.CheckCounters(t, res.InitiationID)
	if c.Sent != 8 || c.Skipped != 2 || c.Pending() != 0 {
		t.Fatalf("counters = %+v", c)
	}
}

func TestPauseStopsABatchAndResumeFinishesIt(t *testing.T) {
	t.Parallel()
	b := testkit.Setup(t, testkit.Options{Customers: 10, Faults: providertest.Faults{Latency: 100 * time.Millisecond}})
	res := b.Initiate(t, filter.Filters{})
	h := b.Handler(worker.HandlerParams{Concurrency: 1})
	bt := b.Batches()[0]
	done := make(chan error, 1)
	go func() { done <- h.ProcessBatch(context.Background(), bt) }()
	if err := b.Fake.WaitAccepted(testkit.Within(t, 5*time.Second), 2); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Store.PauseCampaign(context.Background(), "o", "c"); err != nil {
		t.Fatal(err)
	}
	paused := time.Now()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "paused") {
			t.Fatalf("batch ended with %v, want paused", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("batch still sending 2 s after the pause")
	}
	t.Logf("stopped %v after the pause", time.Since(paused))
	c := b.CheckCounters(t, res.InitiationID)
	if c.Pending() == 0 || c.Inflight != 0 {
		t.Fatalf("after pause: %+v", c)
	}
	if err := h.ProcessBatch(context.Background(), bt); err == nil {
		t.Fatal("a paused campaign's batch ran")
	}
	if _, err := b.Store.ResumeCampaign(context.Background(), "o", "c"); err != nil {
		t.Fatal(err)
	}
	if err := h.ProcessBatch(context.Background(), bt); err != nil {
		t.Fatal(err)
	}
	b.ExactlyOnce(t, res.InitiationID, 10)
}

func TestCancelMidRun(t *testing.T) {
	t.Parallel()
	b := testkit.Setup(t, testkit.Options{Customers: 30, Faults: providertest.Faults{Latency: 30 * time.Millisecond}})
	res := b.Initiate(t, filter.Filters{})
	// The provider stops answering after the first four, until the cancel
	// has landed: however fast or slow the machine, the cancel comes while
	// most messages are still pending.
	gate := &gated{Provider: b.Prov, open: 4, release: make(chan struct{})}
	h := b.Handler(worker.HandlerParams{Concurrency: 2, Provider: gate})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); b.RunAll(t, h) }()
	if err := b.Fake.WaitAccepted(testkit.Within(t, 30*time.Second), 4); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Svc.Cancel(context.Background(), "o", res.InitiationID); err != nil {
		t.Fatal(err)
	}
	close(gate.release)
	wg.Wait()
	c := b.CheckCounters(t, res.InitiationID)
	if c.Pending() != 0 || c.Cancelled == 0 || c.Sent == 0 || int(c.Sent) != len(b.Fake.Accepted()) {
		t.Fatalf("counters = %+v, provider accepted %d", c, len(b.Fake.Accepted()))
	}
}

func TestShutdownHandsMessagesBack(t *testing.T) {
	t.Parallel()
	b := testkit.Setup(t, testkit.Options{Customers: 10, Faults: providertest.Faults{Latency: 200 * time.Millisecond}})
	res := b.Initiate(t, filter.Filters{})
	h := b.Handler(worker.HandlerParams{Concurrency: 2})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.ProcessBatch(ctx, b.Batches()[0]) }()
	if err := b.Fake.WaitAccepted(testkit.Within(t, 5*time.Second), 2); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := <-done; err == nil {
		t.Fatal("an interrupted batch reported success")
	}
	// Unsent messages are pending again; the (at most two) calls cut off
	// mid-flight stay leased with an expired lease, so the next run takes
	// them over at once, knowing they may be re-sends.
	c := b.CheckCounters(t, res.InitiationID)
	if c.Inflight > 2 || c.Pending() == 0 {
		t.Fatalf("after shutdown: %+v", c)
	}
	if err := h.ProcessBatch(context.Background(), b.Batches()[0]); err != nil {
		t.Fatal(err)
	}
	if c := b.CheckCounters(t, res.InitiationID); c.Pending() != 0 {
		t.Fatalf("after the rerun: %+v", c)
	}
	// A message cut off mid-call may have reached the provider; if so it
	// went again with the same key. Nothing else repeats.
	for id, n := range b.Fake.Accepted() {
		if n > 1 && n > 2 {
			t.Errorf("%s accepted %d times", id, n)
		}
	}
}

// gated lets the first open sends through, then holds every further send
// until release is closed.
type gated struct {
	provider.Provider
	open    int64
	n       atomic.Int64
	release chan struct{}
}

func (g *gated) Send(ctx context.Context, m provider.Message) (provider.Result, error) {
	if g.n.Add(1) > g.open {
		select {
		case <-g.release:
		case <-ctx.Done():
			return provider.Result{}, ctx.Err()
		}
	}
	return g.Provider.Send(ctx, m)
}
