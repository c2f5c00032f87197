package worker_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/campaignsms/campaignsms/internal/filter"
	"github.com/campaignsms/campaignsms/internal/provider"
	"github.com/campaignsms/campaignsms/internal/store"
	"github.com/campaignsms/campaignsms/internal/testkit"
	"github.com/campaignsms/campaignsms/internal/worker"
)

// deaf is a provider that never answers and ignores its context.
type deaf struct{ hold chan struct{} }

func (d deaf) Send(context.Context, provider.Message) (provider.Result, error) {
	<-d.hold
	return provider.Result{}, errors.New("released at test end")
}

// A provider that never answers, even when its context ends, cannot hold a
// batch: every call returns at ProviderTimeout as a timeout, the attempts
// run out and the run ends.
func TestProviderThatIgnoresItsContextCannotHoldABatch(t *testing.T) {
	t.Parallel()
	b := testkit.Setup(t, testkit.Options{Customers: 6})
	res := b.Initiate(t, filter.Filters{})
	p := deaf{hold: make(chan struct{})}
	t.Cleanup(func() { close(p.hold) })
	h := b.Handler(worker.HandlerParams{Provider: p, ProviderTimeout: 50 * time.Millisecond, MaxAttempts: 2, BackoffMax: time.Millisecond})
	done := make(chan []error, 1)
	go func() { done <- b.RunAll(t, h) }()
	select {
	case errs := <-done:
		for _, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
	case <-time.After(2 * time.Minute):
		t.Fatal("the batch is still running two minutes after a 50 ms provider timeout")
	}
	c := b.CheckCounters(t, res.InitiationID)
	if c.Failed != 6 || c.Pending() != 0 {
		t.Fatalf("counters = %+v", c)
	}
	errs, err := b.Store.Errors(context.Background(), res.InitiationID)
	if err != nil || len(errs) != 6 || errs[0].Code != worker.CodeSendFailed || !strings.Contains(errs[0].Message, "timeout") {
		t.Fatalf("errors = %+v, %v", errs, err)
	}
}

// A sender stuck where nothing bounds it (here: a hook that blocks and
// ignores every context, standing for a wait nobody foresaw) no longer
// keeps its batch alive: the watchdog notices that nothing moves, logs what
// each sender waits on, ends the run and hands the other messages back; a
// later run finishes the batch once the stuck message's lease runs out.
func TestWatchdogEndsARunWhoseProgressStopped(t *testing.T) {
	t.Parallel()
	b := testkit.Setup(t, testkit.Options{Customers: 10, BatchSize: 10})
	res := b.Initiate(t, filter.Filters{})
	core, logs := observer.New(zapcore.WarnLevel)
	stuckID := store.MessageID(res.InitiationID, 3)
	hold := make(chan struct{})
	t.Cleanup(func() { close(hold) })
	h := b.Handler(worker.HandlerParams{Concurrency: 2, StallTimeout: 300 * time.Millisecond, Lease: 5 * time.Second, Log: zap.New(core)})
	worker.SetAfterSend(h, func(id string) {
		if id == stuckID {
			<-hold
		}
	})
	errc := make(chan error, 1)
	go func() { errc <- h.ProcessBatch(context.Background(), b.Batches()[0]) }()
	select {
	case err := <-errc:
		if err == nil || !strings.Contains(err.Error(), "stalled") {
			t.Fatalf("ProcessBatch = %v, want the stall", err)
		}
	case <-time.After(2 * time.Minute):
		t.Fatal("a run with a stuck sender did not end")
	}
	stalls := logs.FilterMessage("batch run stalled; handing its messages back").All()
	if len(stalls) != 1 {
		t.Fatalf("stall warnings: %d, logs %v", len(stalls), logs.All())
	}
	if on := stalls[0].ContextMap()["waiting_on"]; !strings.Contains(on.(string), "provider call for message 3") {
		t.Fatalf("the warning does not say what the run waits on: %v", stalls[0].ContextMap())
	}
	// Message 3 reached the provider but was never recorded: it is still
	// leased to the stuck run. Once the lease is over a new run takes it
	// over as a possible re-send, and everything is final.
	b.Clock.Advance(6 * time.Second)
	if err := b.Handler(worker.HandlerParams{}).ProcessBatch(context.Background(), b.Batches()[0]); err != nil {
		t.Fatal(err)
	}
	if c := b.CheckCounters(t, res.InitiationID); c.Sent != 10 || c.Pending() != 0 {
		t.Fatalf("counters = %+v", c)
	}
	m, err := b.Store.Message(context.Background(), "o", stuckID)
	if err != nil || !m.Record.Resent {
		t.Fatalf("message 3 = %+v, %v; want resent", m, err)
	}
}

// fakeLiveness is a worker whose heartbeat the test switches off.
type fakeLiveness struct{ healthy bool }

func (f *fakeLiveness) WorkerID() string { return "w-test" }
func (f *fakeLiveness) Healthy() bool    { return f.healthy }

// A worker that cannot prove it is alive sends nothing: another worker may
// be rescuing its batches.
func TestUnhealthyWorkerSendsNothing(t *testing.T) {
	t.Parallel()
	b := testkit.Setup(t, testkit.Options{Customers: 5})
	res := b.Initiate(t, filter.Filters{})
	h := b.Handler(worker.HandlerParams{Liveness: &fakeLiveness{}})
	for _, err := range b.RunAll(t, h) {
		if err == nil || !strings.Contains(err.Error(), "liveness") {
			t.Fatalf("ProcessBatch = %v, want the liveness refusal", err)
		}
	}
	if n := b.Fake.Requests(); n != 0 {
		t.Fatalf("provider got %d requests", n)
	}
	if c := b.CheckCounters(t, res.InitiationID); c.Pending() != 5 || c.Inflight != 0 {
		t.Fatalf("counters = %+v", c)
	}
}

// With AMBIGUOUS_SENDS=fail a message taken over from a dead run is failed
// with ambiguous_after_crash instead of going to the provider again.
func TestAmbiguousSendsFail(t *testing.T) {
	t.Parallel()
	b := testkit.Setup(t, testkit.Options{Customers: 10, BatchSize: 10})
	res := b.Initiate(t, filter.Filters{})
	dying := b.Handler(worker.HandlerParams{Lease: time.Second})
	crashed := crashAfterSend(dying, func(id string) bool { return strings.HasSuffix(id, "_4") || strings.HasSuffix(id, "_7") })
	if err := dying.ProcessBatch(context.Background(), b.Batches()[0]); err == nil {
		t.Fatal("a run with dead messages reported its batch done")
	}
	b.Clock.Advance(2 * time.Second)
	h := b.Handler(worker.HandlerParams{Ambiguous: worker.AmbiguousFail})
	if err := h.ProcessBatch(context.Background(), b.Batches()[0]); err != nil {
		t.Fatal(err)
	}
	c := b.CheckCounters(t, res.InitiationID)
	if crashed.Load() != 2 || c.Sent != 8 || c.Failed != 2 || c.Pending() != 0 {
		t.Fatalf("crashed %d, counters = %+v", crashed.Load(), c)
	}
	if d := b.Fake.AcceptedCount(); d != 10 {
		t.Fatalf("provider accepted %d sends, want 10 (nothing twice)", d)
	}
	errs, err := b.Store.Errors(context.Background(), res.InitiationID)
	if err != nil || len(errs) != 2 || errs[0].Code != worker.CodeAmbiguous {
		t.Fatalf("errors = %+v, %v", errs, err)
	}
}
