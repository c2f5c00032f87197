package worker_test

import (
	"context"
	"testing"
	"time"

	"github.com/campaignsms/campaignsms/internal/filter"
	"github.com/campaignsms/campaignsms/internal/queue"
	"github.com/campaignsms/campaignsms/internal/worker"
)

// An API that died after writing the initiation and before queueing its
// batches leaves an initiation without tasks: the reconciler queues them.
func TestReconcilerQueuesBatchesThatHaveNoTask(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{customers: 25})
	res := b.initiate(t, filter.Filters{}) // the capture fake queued nothing
	q := queue.NewClient(b.rdb)
	t.Cleanup(func() { _ = q.Close() })
	rec := worker.NewReconciler(worker.ReconcilerParams{Store: b.st, Queue: q, Grace: time.Nanosecond})
	ctx := context.Background()
	for range 2 { // a second pass finds the tasks live and queues nothing twice
		if err := rec.Pass(ctx); err != nil {
			t.Fatal(err)
		}
	}
	for bt := range 3 {
		live, err := q.Live(res.InitiationID, bt)
		if err != nil || !live {
			t.Fatalf("batch %d: live %v, %v", bt, live, err)
		}
	}
	info, err := q.Inspector().GetQueueInfo(queue.Name)
	if err != nil || info.Pending != 3 {
		t.Fatalf("queue: %+v, %v", info, err)
	}
	// Run them as a worker would: everything is sent, the initiation is
	// no longer active, and a later pass has nothing to do.
	for _, err := range b.runAll(t, b.handler(worker.HandlerParams{})) {
		if err != nil {
			t.Fatal(err)
		}
	}
	if c := checkCounters(t, b, res.InitiationID); c.Sent != 25 || c.Pending() != 0 {
		t.Fatalf("counters = %+v", c)
	}
	if err := rec.Pass(ctx); err != nil {
		t.Fatal(err)
	}
	active, err := b.st.ActiveInitiations(ctx, 10)
	if err != nil || len(active) != 0 {
		t.Fatalf("still active: %v, %v", active, err)
	}
}

// A batch that keeps losing its task is given up after MaxRequeues: its
// messages fail with a reason and nothing stays pending.
func TestReconcilerGivesUpABatchThatKeepsFailing(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{customers: 8})
	res := b.initiate(t, filter.Filters{})
	q := queue.NewClient(b.rdb)
	t.Cleanup(func() { _ = q.Close() })
	rec := worker.NewReconciler(worker.ReconcilerParams{Store: b.st, Queue: q, Grace: time.Nanosecond, MaxRequeues: 2})
	ctx := context.Background()
	for pass := range 3 {
		if err := rec.Pass(ctx); err != nil {
			t.Fatal(err)
		}
		// The queued tasks vanish, as if archived and deleted.
		if _, err := q.Inspector().DeleteAllPendingTasks(queue.Name); err != nil && pass < 2 {
			t.Fatal(err)
		}
	}
	c := checkCounters(t, b, res.InitiationID)
	if c.Failed != 8 || c.Pending() != 0 || c.CompletedAt == nil {
		t.Fatalf("counters = %+v", c)
	}
	errs, err := b.st.Errors(ctx, res.InitiationID)
	if err != nil || len(errs) != 8 || errs[0].Code != worker.CodeAbandoned || errs[0].ID != "L0000" {
		t.Fatalf("errors = %+v, %v", errs, err)
	}
}
