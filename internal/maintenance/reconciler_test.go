package maintenance_test

import (
	"context"
	"testing"
	"time"

	"github.com/campaignsms/campaignsms/internal/filter"
	"github.com/campaignsms/campaignsms/internal/maintenance"
	"github.com/campaignsms/campaignsms/internal/queue"
	"github.com/campaignsms/campaignsms/internal/testkit"
	"github.com/campaignsms/campaignsms/internal/worker"
)

// An API that died after writing the initiation and before queueing its
// batches leaves an initiation without tasks: the reconciler queues them.
func TestReconcilerQueuesBatchesThatHaveNoTask(t *testing.T) {
	t.Parallel()
	b := testkit.Setup(t, testkit.Options{Customers: 25})
	res := b.Initiate(t, filter.Filters{}) // the capture fake queued nothing
	q := queue.NewClient(b.RDB)
	t.Cleanup(func() { _ = q.Close() })
	rec := maintenance.NewReconciler(maintenance.ReconcilerParams{Store: b.Store, Queue: q, Grace: time.Nanosecond})
	ctx := context.Background()
	for range 2 { // a second pass finds the tasks live and queues nothing twice
		if err := rec.Pass(ctx); err != nil {
			t.Fatal(err)
		}
	}
	for bt := range 3 {
		state, err := q.TaskStateOf(res.InitiationID, bt)
		if err != nil || state != queue.TaskLive {
			t.Fatalf("batch %d: state %v, %v", bt, state, err)
		}
	}
	info, err := q.Inspector().GetQueueInfo(queue.Name)
	if err != nil || info.Pending != 3 {
		t.Fatalf("queue: %+v, %v", info, err)
	}
	// Run them as a worker would: everything is sent, the initiation is
	// no longer active, and a later pass has nothing to do.
	for _, err := range b.RunAll(t, b.Handler(worker.HandlerParams{})) {
		if err != nil {
			t.Fatal(err)
		}
	}
	if c := b.CheckCounters(t, res.InitiationID); c.Sent != 25 || c.Pending() != 0 {
		t.Fatalf("counters = %+v", c)
	}
	if err := rec.Pass(ctx); err != nil {
		t.Fatal(err)
	}
	active, err := b.Store.ActiveInitiations(ctx, 0, 10)
	if err != nil || len(active) != 0 {
		t.Fatalf("still active: %v, %v", active, err)
	}
}

// A batch that keeps losing its task is given up after MaxRequeues: its
// messages fail with a reason and nothing stays pending.
func TestReconcilerGivesUpABatchThatKeepsFailing(t *testing.T) {
	t.Parallel()
	b := testkit.Setup(t, testkit.Options{Customers: 8})
	res := b.Initiate(t, filter.Filters{})
	q := queue.NewClient(b.RDB)
	t.Cleanup(func() { _ = q.Close() })
	rec := maintenance.NewReconciler(maintenance.ReconcilerParams{Store: b.Store, Queue: q, Grace: time.Nanosecond, MaxRequeues: 2})
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
	c := b.CheckCounters(t, res.InitiationID)
	if c.Failed != 8 || c.Pending() != 0 || c.CompletedAt == nil {
		t.Fatalf("counters = %+v", c)
	}
	errs, err := b.Store.Errors(ctx, res.InitiationID)
	if err != nil || len(errs) != 8 || errs[0].Code != maintenance.CodeAbandoned || errs[0].ID != "L0000" {
		t.Fatalf("errors = %+v, %v", errs, err)
	}
}

// One initiation that cannot be reconciled (here its record is unreadable)
// is skipped, and the pass goes on with the others; a paused campaign's
// initiation is left waiting; a pass while another process holds the lock
// does nothing.
func TestReconcilerGoesOnPastABrokenInitiationAndSkipsPaused(t *testing.T) {
	t.Parallel()
	b := testkit.Setup(t, testkit.Options{Customers: 10})
	ctx := context.Background()
	broken := b.Initiate(t, filter.Filters{})
	good := b.Initiate(t, filter.Filters{})
	if err := b.RDB.HSet(ctx, "cs:{i:"+broken.InitiationID+"}:meta", "data", "{not json").Err(); err != nil {
		t.Fatal(err)
	}
	q := queue.NewClient(b.RDB)
	t.Cleanup(func() { _ = q.Close() })
	rec := maintenance.NewReconciler(maintenance.ReconcilerParams{Store: b.Store, Queue: q, Grace: time.Nanosecond})

	held, err := b.Store.LockAcquire(ctx, "reconciler", time.Minute)
	if err != nil || held == nil {
		t.Fatal(err)
	}
	if err := rec.Pass(ctx); err != nil {
		t.Fatal(err)
	}
	if info, err := q.Inspector().GetQueueInfo(queue.Name); err == nil && info.Pending != 0 {
		t.Fatalf("a pass ran beside the lock holder: %+v", info)
	}
	held.Release()

	if err := rec.Pass(ctx); err != nil {
		t.Fatal(err)
	}
	if state, err := q.TaskStateOf(good.InitiationID, 0); err != nil || state != queue.TaskLive {
		t.Fatalf("the good initiation's batch: %v %v", state, err)
	}
	if state, err := q.TaskStateOf(broken.InitiationID, 0); err != nil || state != queue.TaskMissing {
		t.Fatalf("the broken initiation's batch: %v %v", state, err)
	}

	paused := b.Initiate(t, filter.Filters{})
	if _, err := b.Store.PauseCampaign(ctx, "o", "c"); err != nil {
		t.Fatal(err)
	}
	if err := rec.Pass(ctx); err != nil {
		t.Fatal(err)
	}
	if state, err := q.TaskStateOf(paused.InitiationID, 0); err != nil || state != queue.TaskMissing {
		t.Fatalf("the paused initiation's batch: %v %v", state, err)
	}
}
