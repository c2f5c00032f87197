package queue_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/campaignsms/campaignsms/internal/queue"
	"github.com/campaignsms/campaignsms/internal/redistest"
)

// TestAsynqOnRedisCluster runs the asynq operations the project relies on,
// beyond the happy path of the e2e tests, on a 3-master Redis Cluster:
// enqueue with TaskID (and its conflict), dequeue and done, a failed run
// retried through the retry set, SkipRetry into the archive, queue.Live
// deleting an archived task, and the Inspector calls of the metrics
// collector and the reconciler. Any refused Redis command fails the step
// that sent it, with asynq's operation name in the error.
func TestAsynqOnRedisCluster(t *testing.T) {
	t.Parallel()
	rc := redistest.NewCluster(t, 3)
	cc := rc.Client(t)
	q := queue.NewClient(cc)
	t.Cleanup(func() { _ = q.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()

	const ini = "ini_asynqcluster"
	batches := []queue.Batch{
		{InitiationID: ini, Batch: 0, IDs: []string{"ok"}},
		{InitiationID: ini, Batch: 1, IDs: []string{"fail-once"}},
		{InitiationID: ini, Batch: 2, IDs: []string{"give-up"}},
	}
	if err := q.Enqueue(ctx, batches); err != nil {
		t.Fatalf("enqueue: %v", err)
	}
	if err := q.Enqueue(ctx, batches[:1]); err != nil {
		t.Fatalf("enqueue again (TaskID conflict is no error): %v", err)
	}
	if state, err := q.TaskStateOf(ini, 0); err != nil || state != queue.TaskLive {
		t.Fatalf("TaskStateOf(batch 0) before the server runs: %v %v", state, err)
	}

	var mu sync.Mutex
	runs := map[int]int{}
	srv := asynq.NewServerFromRedisClient(cc, asynq.Config{
		Concurrency:              2,
		Queues:                   map[string]int{queue.Name: 1},
		RetryDelayFunc:           func(int, error, *asynq.Task) time.Duration { return time.Second },
		DelayedTaskCheckInterval: time.Second,
		LogLevel:                 asynq.FatalLevel,
	})
	mux := asynq.NewServeMux()
	mux.HandleFunc(queue.TaskType, func(_ context.Context, task *asynq.Task) error {
		var b queue.Batch
		if err := json.Unmarshal(task.Payload(), &b); err != nil {
			return fmt.Errorf("%w: %v", asynq.SkipRetry, err)
		}
		mu.Lock()
		runs[b.Batch]++
		n := runs[b.Batch]
		mu.Unlock()
		switch {
		case b.Batch == 1 && n == 1:
			return errors.New("first run fails")
		case b.Batch == 2:
			return fmt.Errorf("no use: %w", asynq.SkipRetry)
		}
		return nil
	})
	if err := srv.Start(mux); err != nil {
		t.Fatalf("asynq server start: %v", err)
	}
	t.Cleanup(srv.Shutdown)

	insp := q.Inspector()
	for {
		mu.Lock()
		r0, r1 := runs[0], runs[1]
		mu.Unlock()
		archived, err := insp.ListArchivedTasks(queue.Name)
		if err != nil {
			t.Fatalf("ListArchivedTasks: %v", err)
		}
		if r0 == 1 && r1 == 2 && len(archived) == 1 {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("runs %v, %d archived: the flow did not finish", runs, len(archived))
		}
		time.Sleep(50 * time.Millisecond)
	}

	// What the metrics collector reads.
	qs, err := insp.Queues()
	if err != nil || len(qs) != 1 || qs[0] != queue.Name {
		t.Fatalf("Queues: %v %v", qs, err)
	}
	info, err := insp.GetQueueInfo(queue.Name)
	if err != nil {
		t.Fatalf("GetQueueInfo (Lua with MEMORY USAGE): %v", err)
	}
	if info.Archived != 1 || info.Processed < 2 {
		t.Errorf("queue info: %+v", info)
	}
	if servers, err := insp.Servers(); err != nil || len(servers) != 1 {
		t.Errorf("Servers: %d %v", len(servers), err)
	}
	// What the reconciler asks: done batches are gone, the archived one is
	// deleted so that it can be queued again.
	for b, want := range []queue.TaskState{queue.TaskMissing, queue.TaskMissing, queue.TaskFinished} {
		if state, err := q.TaskStateOf(ini, b); err != nil || state != want {
			t.Errorf("TaskStateOf(batch %d) = %v %v, want %v", b, state, err, want)
		}
	}
	if err := q.DeleteTask(ini, 2); err != nil {
		t.Fatalf("DeleteTask: %v", err)
	}
	if _, err := insp.GetTaskInfo(queue.Name, queue.TaskID(ini, 2)); !errors.Is(err, asynq.ErrTaskNotFound) {
		t.Errorf("archived task after DeleteTask: %v", err)
	}
	if err := q.Enqueue(ctx, batches[2:]); err != nil {
		t.Fatalf("enqueue the deleted batch again: %v", err)
	}
}
