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
	"github.com/campaignsms/campaignsms/internal/worker"
)

func TestBatchSendsEveryMessageOnce(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{customers: 35})
	res := b.initiate(t, filter.Filters{})
	h := b.handler(worker.HandlerParams{Concurrency: 4})
	for _, err := range b.runAll(t, h) {
		if err != nil {
			t.Fatal(err)
		}
	}
	c := checkCounters(t, b, res.InitiationID)
	if c.Sent != 35 || c.Pending() != 0 || c.CompletedAt == nil || c.BatchesDone != 4 {
		t.Fatalf("counters = %+v", c)
	}
	exactlyOnce(t, b, res.InitiationID, 35)
	m, ok := b.fake.Received(store.MessageID(res.InitiationID, 3))
	if !ok || m.Body != "Hi N3, pay 103" || m.To != "+919800000003" || m.From != "TMPPAY" || m.CustomerID != "L0003" {
		t.Fatalf("message 3 = %+v", m)
	}
}

func TestBatchRunTwiceSequentiallySendsOnce(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{customers: 20})
	res := b.initiate(t, filter.Filters{})
	h := b.handler(worker.HandlerParams{})
	for range 3 {
		for _, err := range b.runAll(t, h) {
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	exactlyOnce(t, b, res.InitiationID, 20)
	if c := checkCounters(t, b, res.InitiationID); c.Sent != 20 {
		t.Fatalf("counters = %+v", c)
	}
}

func TestBatchRunTwiceConcurrentlySendsOnce(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{customers: 40, faults: providertest.Faults{Latency: 10 * time.Millisecond}})
	res := b.initiate(t, filter.Filters{})
	h1 := b.handler(worker.HandlerParams{Concurrency: 3})
	h2 := b.handler(worker.HandlerParams{Concurrency: 5})
	var wg sync.WaitGroup
	for _, h := range []*worker.Handler{h1, h2, h1} {
		wg.Add(1)
		go func() { defer wg.Done(); b.runAll(t, h) }()
	}
	wg.Wait()
	// Runs that met messages leased by a twin answered "busy"; one more
	// pass after the twins are done finishes whatever they left.
	for _, err := range b.runAll(t, h1) {
		if err != nil {
			t.Fatal(err)
		}
	}
	exactlyOnce(t, b, res.InitiationID, 40)
	if c := checkCounters(t, b, res.InitiationID); c.Sent != 40 || c.Pending() != 0 {
		t.Fatalf("counters = %+v", c)
	}
}

// crashing sends through the real provider and then, for the chosen
// messages, dies before the state write: the goroutine exits without
// returning, as a killed process would.
type crashing struct {
	provider.Provider
	crash   func(id string) bool
	crashed atomic.Int64
}

func (c *crashing) Send(ctx context.Context, m provider.Message) (provider.Result, error) {
	res, err := c.Provider.Send(ctx, m)
	if err == nil && c.crash(m.ID) {
		c.crashed.Add(1)
		runtime.Goexit()
	}
	return res, err
}

func TestCrashBetweenProviderAndStateWriteResendsOnlyThoseWithSameKey(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{customers: 30, dedupe: true})
	res := b.initiate(t, filter.Filters{})
	crash := &crashing{Provider: b.prov, crash: func(id string) bool { return strings.HasSuffix(id, "7") }}
	dying := b.handler(worker.HandlerParams{Provider: crash, Lease: 10 * time.Second})
	for _, err := range b.runAll(t, dying) {
		if err == nil || !strings.Contains(err.Error(), "leased") {
			t.Fatalf("a run with dead messages must not report its batch done; got %v", err)
		}
	}
	c := checkCounters(t, b, res.InitiationID)
	if c.Sent != 27 || c.Inflight != 3 || c.CompletedAt != nil {
		t.Fatalf("after the crash: %+v", c)
	}
	// A new run cannot take the messages while their lease holds...
	h := b.handler(worker.HandlerParams{})
	for _, err := range b.runAll(t, h) {
		if err == nil {
			t.Fatal("a run took messages still leased to the dead one")
		}
	}
	// ...and takes them once it has run out.
	b.clock.advance(11 * time.Second)
	for _, err := range b.runAll(t, h) {
		if err != nil {
			t.Fatal(err)
		}
	}
	c = checkCounters(t, b, res.InitiationID)
	if c.Sent != 30 || c.Pending() != 0 || c.BatchesDone != 3 {
		t.Fatalf("after recovery: %+v", c)
	}
	// Only the three in flight at the crash went out again, with the same
	// Idempotency-Key, which a deduplicating provider folds into one.
	if got := b.fake.Duplicates(); got != int(crash.crashed.Load()) || got != 3 {
		t.Fatalf("re-sends = %d, crashed in flight = %d", got, crash.crashed.Load())
	}
	exactlyOnce(t, b, res.InitiationID, 30)
}

func TestTransientErrorsAreRetriedAndPermanentOnesFailAtOnce(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{customers: 60, faults: providertest.Faults{Fail5xxRate: 0.3, Reject4xxRate: 0.1}})
	res := b.initiate(t, filter.Filters{})
	h := b.handler(worker.HandlerParams{MaxAttempts: 8})
	for _, err := range b.runAll(t, h) {
		if err != nil {
			t.Fatal(err)
		}
	}
	c := checkCounters(t, b, res.InitiationID)
	if c.Pending() != 0 || c.Sent+c.Failed != 60 || c.Failed == 0 || c.Sent < 40 {
		t.Fatalf("counters = %+v", c)
	}
	errs, err := b.st.Errors(context.Background(), res.InitiationID)
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
	b := setup(t, setupOpts{customers: 12, faults: providertest.Faults{Outage: true}})
	res := b.initiate(t, filter.Filters{})
	h := b.handler(worker.HandlerParams{MaxAttempts: 3})
	for _, err := range b.runAll(t, h) {
		if err != nil {
			t.Fatal(err)
		}
	}
	c := checkCounters(t, b, res.InitiationID)
	if c.Failed != 12 || c.Pending() != 0 {
		t.Fatalf("counters = %+v", c)
	}
	errs, _ := b.st.Errors(context.Background(), res.InitiationID)
	if len(errs) != 12 || errs[0].Code != worker.CodeSendFailed || !strings.Contains(errs[0].Message, "3 attempts") {
		t.Fatalf("errors = %+v", errs)
	}
	if got := b.fake.Requests(); got != 36 {
		t.Fatalf("provider saw %d requests, want 12 messages x 3 attempts", got)
	}
}

func TestRetryAfterIsHonoured(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{customers: 1, faults: providertest.Faults{TooManyBurst: 1, RetryAfter: time.Second}})
	res := b.initiate(t, filter.Filters{})
	h := b.handler(worker.HandlerParams{})
	start := time.Now()
	for _, err := range b.runAll(t, h) {
		if err != nil {
			t.Fatal(err)
		}
	}
	if el := time.Since(start); el < time.Second {
		t.Fatalf("retried after %v, before Retry-After", el)
	}
	if c := checkCounters(t, b, res.InitiationID); c.Sent != 1 {
		t.Fatalf("counters = %+v", c)
	}
}

func TestCustomerThatNoLongerMatchesIsSkipped(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{customers: 10})
	res := b.initiate(t, filter.Filters{PaymentStatus: []string{"bounced"}})
	// Two customers pay before the batch runs.
	for _, id := range []string{"L0002", "L0005"} {
		r, errs := customer.Normalize(map[string]any{"loan_id": id, "phone_number": "9800000099", "first_name": "X", "emi_amount": 1, "payment_status": "paid"})
		if len(errs) > 0 {
			t.Fatal(errs)
		}
		if _, err := b.st.UpsertCustomers(context.Background(), "o", "c", []customer.Record{r}); err != nil {
			t.Fatal(err)
		}
	}
	for _, err := range b.runAll(t, b.handler(worker.HandlerParams{})) {
		if err != nil {
			t.Fatal(err)
		}
	}
	c := checkCounters(t, b, res.InitiationID)
	if c.Sent != 8 || c.Skipped != 2 || c.Pending() != 0 {
		t.Fatalf("counters = %+v", c)
	}
}

func TestPauseStopsABatchAndResumeFinishesIt(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{customers: 10, faults: providertest.Faults{Latency: 100 * time.Millisecond}})
	res := b.initiate(t, filter.Filters{})
	h := b.handler(worker.HandlerParams{Concurrency: 1})
	bt := b.batches()[0]
	done := make(chan error, 1)
	go func() { done <- h.ProcessBatch(context.Background(), bt) }()
	if err := b.fake.WaitAccepted(ctxT(t, 5*time.Second), 2); err != nil {
		t.Fatal(err)
	}
	if _, err := b.st.PauseCampaign(context.Background(), "o", "c"); err != nil {
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
	c := checkCounters(t, b, res.InitiationID)
	if c.Pending() == 0 || c.Inflight != 0 {
		t.Fatalf("after pause: %+v", c)
	}
	if err := h.ProcessBatch(context.Background(), bt); err == nil {
		t.Fatal("a paused campaign's batch ran")
	}
	if _, err := b.st.ResumeCampaign(context.Background(), "o", "c"); err != nil {
		t.Fatal(err)
	}
	if err := h.ProcessBatch(context.Background(), bt); err != nil {
		t.Fatal(err)
	}
	exactlyOnce(t, b, res.InitiationID, 10)
}

func TestCancelMidRun(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{customers: 30, faults: providertest.Faults{Latency: 30 * time.Millisecond}})
	res := b.initiate(t, filter.Filters{})
	h := b.handler(worker.HandlerParams{Concurrency: 2})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); b.runAll(t, h) }()
	if err := b.fake.WaitAccepted(ctxT(t, 5*time.Second), 4); err != nil {
		t.Fatal(err)
	}
	if _, err := b.svc.Cancel(context.Background(), "o", res.InitiationID); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	c := checkCounters(t, b, res.InitiationID)
	if c.Pending() != 0 || c.Cancelled == 0 || c.Sent == 0 || int(c.Sent) != len(b.fake.Accepted()) {
		t.Fatalf("counters = %+v, provider accepted %d", c, len(b.fake.Accepted()))
	}
}

func TestShutdownHandsMessagesBack(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{customers: 10, faults: providertest.Faults{Latency: 200 * time.Millisecond}})
	res := b.initiate(t, filter.Filters{})
	h := b.handler(worker.HandlerParams{Concurrency: 2})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.ProcessBatch(ctx, b.batches()[0]) }()
	if err := b.fake.WaitAccepted(ctxT(t, 5*time.Second), 2); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := <-done; err == nil {
		t.Fatal("an interrupted batch reported success")
	}
	c := checkCounters(t, b, res.InitiationID)
	if c.Inflight != 0 || c.Pending() == 0 {
		t.Fatalf("after shutdown: %+v", c)
	}
	if err := h.ProcessBatch(context.Background(), b.batches()[0]); err != nil {
		t.Fatal(err)
	}
	if c := checkCounters(t, b, res.InitiationID); c.Pending() != 0 {
		t.Fatalf("after the rerun: %+v", c)
	}
	// A message cut off mid-call may have reached the provider; if so it
	// went again with the same key. Nothing else repeats.
	for id, n := range b.fake.Accepted() {
		if n > 1 && n > 2 {
			t.Errorf("%s accepted %d times", id, n)
		}
	}
}

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
