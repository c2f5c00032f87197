package maintenance_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/campaignsms/campaignsms/internal/filter"
	"github.com/campaignsms/campaignsms/internal/maintenance"
	"github.com/campaignsms/campaignsms/internal/provider"
	"github.com/campaignsms/campaignsms/internal/queue"
	"github.com/campaignsms/campaignsms/internal/store"
	"github.com/campaignsms/campaignsms/internal/testkit"
	"github.com/campaignsms/campaignsms/internal/worker"
)

// A batch run whose worker stopped beating is handed on at the next sweep:
// its leases are expired at once (no waiting for them to run out), the
// batch is queued under a rescue task id, and the run leaves the list. A
// live worker's run is left alone, and a second sweep does nothing twice.
func TestRescuerHandsOnTheBatchesOfDeadWorkers(t *testing.T) {
	t.Parallel()
	b := testkit.Setup(t, testkit.Options{Customers: 20, BatchSize: 10})
	res := b.Initiate(t, filter.Filters{})
	ctx := context.Background()
	q := queue.NewClient(b.RDB)
	t.Cleanup(func() { _ = q.Close() })

	// Worker "dead" ran batch 0 and was killed: every message went to the
	// provider, messages 0, 3, 6 and 9 were never recorded, its run stayed
	// listed and its heartbeat stopped.
	dead := worker.NewHeartbeat(worker.HeartbeatParams{Store: b.Store, TTL: time.Second})
	if err := dead.Beat(ctx); err != nil {
		t.Fatal(err)
	}
	const owner = "dead-run"
	ns := []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}
	if _, err := b.Store.Claim(ctx, res.InitiationID, owner, time.Hour, ns); err != nil {
		t.Fatal(err)
	}
	if err := b.Store.RunRegister(ctx, store.Run{Owner: owner, Worker: dead.WorkerID(), InitiationID: res.InitiationID, Batch: 0}); err != nil {
		t.Fatal(err)
	}
	var recorded []store.Outcome
	for _, n := range ns {
		if _, err := b.Prov.Send(ctx, provider.Message{ID: store.MessageID(res.InitiationID, n), To: "+919800000000"}); err != nil {
			t.Fatal(err)
		}
		if n%3 != 0 {
			recorded = append(recorded, store.Outcome{N: n, Outcome: store.OutSent, Record: &store.MessageRecord{Attempts: 1}})
		}
	}
	if _, err := b.Store.Finish(ctx, res.InitiationID, owner, recorded); err != nil {
		t.Fatal(err)
	}

	// Worker "alive" is running batch 1 right now.
	alive := worker.NewHeartbeat(worker.HeartbeatParams{Store: b.Store, TTL: time.Minute})
	if err := alive.Beat(ctx); err != nil {
		t.Fatal(err)
	}
	liveRun := store.Run{Owner: "live-owner", Worker: alive.WorkerID(), InitiationID: res.InitiationID, Batch: 1}
	if err := b.Store.RunRegister(ctx, liveRun); err != nil {
		t.Fatal(err)
	}

	r := maintenance.NewRescuer(maintenance.RescuerParams{Store: b.Store, Queue: q})
	// While the dead worker's marker lives, nothing happens.
	if n, err := r.Sweep(ctx); err != nil || n != 0 {
		t.Fatalf("sweep while alive: %d, %v", n, err)
	}
	testkit.Eventually(t, 30*time.Second, "the dead worker's marker expires", func() bool {
		ok, err := b.Store.WorkersAlive(ctx, []string{dead.WorkerID()})
		return err == nil && !ok[0]
	})
	for i, want := range []int{1, 0} {
		if n, err := r.Sweep(ctx); err != nil || n != want {
			t.Fatalf("sweep %d: rescued %d, %v; want %d", i, n, err, want)
		}
	}
	runs, err := b.Store.RunList(ctx)
	if err != nil || len(runs) != 1 || runs[0] != liveRun {
		t.Fatalf("runs after the sweep: %+v, %v", runs, err)
	}
	rescueID := queue.TaskID(res.InitiationID, 0) + ":rescue:" + owner
	info, err := q.Inspector().GetTaskInfo(queue.Name, rescueID)
	if err != nil || info.State != asynq.TaskStatePending {
		t.Fatalf("rescue task %s: %+v, %v", rescueID, info, err)
	}

	// The rescue runs at once: no lease is left to wait for (the dead run
	// had taken them for an hour), and the four unrecorded messages go
	// again as re-sends.
	var batch queue.Batch
	if err := unmarshal(info.Payload, &batch); err != nil {
		t.Fatal(err)
	}
	if err := b.Handler(worker.HandlerParams{}).ProcessBatch(ctx, batch); err != nil {
		t.Fatal(err)
	}
	c := b.CheckCounters(t, res.InitiationID)
	if c.Sent != 10 || c.BatchesDone != 1 {
		t.Fatalf("counters = %+v", c)
	}
	for n := range 10 {
		m, err := b.Store.Message(ctx, "o", store.MessageID(res.InitiationID, n))
		if err != nil {
			t.Fatal(err)
		}
		if want := n%3 == 0; m.Record.Resent != want {
			t.Errorf("message %d: resent %v, want %v", n, m.Record.Resent, want)
		}
	}
}

func unmarshal(data []byte, v any) error { return json.Unmarshal(data, v) }

// A worker that stops cleanly removes its marker.
func TestHeartbeatMarkerLivesWhileRunning(t *testing.T) {
	t.Parallel()
	b := testkit.Setup(t, testkit.Options{})
	hb := worker.NewHeartbeat(worker.HeartbeatParams{Store: b.Store, Interval: 10 * time.Millisecond, TTL: time.Minute})
	if hb.Healthy() {
		t.Fatal("healthy before the first beat")
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); hb.Run(ctx) }()
	testkit.Eventually(t, 30*time.Second, "first beat", hb.Healthy)
	if ok, err := b.Store.WorkersAlive(context.Background(), []string{hb.WorkerID()}); err != nil || !ok[0] {
		t.Fatalf("marker while running: %v %v", ok, err)
	}
	cancel()
	<-done
	if ok, err := b.Store.WorkersAlive(context.Background(), []string{hb.WorkerID()}); err != nil || ok[0] {
		t.Fatalf("marker after stop: %v %v", ok, err)
	}
}
