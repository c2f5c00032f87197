// Package queue puts batches of an initiation on asynq and tells what asynq
// holds for a batch's task. asynq is used here, in internal/worker (the
// server that runs the tasks) and in internal/metrics (its queue
// statistics, through Client.Inspector); no other package imports it.
package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

// Name is the asynq queue of batch tasks; TaskType the batch task's type.
const (
	Name     = "sms"
	TaskType = "sms:batch"
)

// MaxRetry is high because retries for pauses and leases held elsewhere are
// not counted as failures; real failures are few and the reconciler catches
// a task that runs out anyway.
const MaxRetry = 25

// Batch is one task's payload: ids, never customer records.
type Batch struct {
	InitiationID string   `json:"initiationId"`
	Org          string   `json:"org"`
	CampaignID   string   `json:"campaignId"`
	Batch        int      `json:"batch"`
	First        int      `json:"first"` // message number of IDs[0]
	IDs          []string `json:"ids"`
}

// TaskID is deterministic, so a repeated enqueue of a batch cannot queue it twice
// while the first task exists.
func TaskID(initiationID string, batch int) string {
	return initiationID + ":" + strconv.Itoa(batch)
}

// Client enqueues batches and inspects their tasks.
type Client struct {
	client    *asynq.Client
	inspector *asynq.Inspector
	workers   int
}

// NewClient returns a Client over rdb. Closing it does not close rdb.
func NewClient(rdb redis.UniversalClient) *Client {
	return &Client{
		client:    asynq.NewClientFromRedisClient(rdb),
		inspector: asynq.NewInspectorFromRedisClient(rdb),
		workers:   8,
	}
}

// Inspector exposes asynq's inspector for metrics and dashboards.
func (c *Client) Inspector() *asynq.Inspector { return c.inspector }

// Close releases the client's resources.
func (c *Client) Close() error {
	return errors.Join(c.client.Close(), c.inspector.Close())
}

// Enqueue queues each batch as one task. v0.26 has no batch enqueue, so a
// small pool of goroutines enqueues concurrently. A batch that is already
// queued counts as queued.
func (c *Client) Enqueue(ctx context.Context, batches []Batch) error {
	if len(batches) == 0 {
		return nil
	}
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
		next     = make(chan int)
	)
	for range min(c.workers, len(batches)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := c.enqueueOne(ctx, batches[i]); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	for i := range batches {
		mu.Lock()
		failed := firstErr != nil
		mu.Unlock()
		if failed || ctx.Err() != nil {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
	if firstErr == nil && ctx.Err() != nil {
		firstErr = ctx.Err()
	}
	return firstErr
}

func (c *Client) enqueueOne(ctx context.Context, b Batch) error {
	payload, err := json.Marshal(b)
	if err != nil {
		return fmt.Errorf("encode batch: %w", err)
	}
	task := asynq.NewTask(TaskType, payload)
	_, err = c.client.EnqueueContext(ctx, task,
		asynq.Queue(Name), asynq.TaskID(TaskID(b.InitiationID, b.Batch)), asynq.MaxRetry(MaxRetry))
	if err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
		return fmt.Errorf("enqueue batch %d of %s: %w", b.Batch, b.InitiationID, err)
	}
	return nil
}

// TaskState is what asynq holds for a batch's task.
type TaskState uint8

// Task states as the reconciler needs them.
const (
	// TaskMissing: no task exists for the batch.
	TaskMissing TaskState = iota + 1
	// TaskLive: the task is pending, scheduled, retrying or running.
	TaskLive
	// TaskFinished: the task is archived (out of retries) or completed; it
	// will not run again and its id blocks a new enqueue until deleted.
	TaskFinished
)

// TaskStateOf reports what asynq holds for batch b of an initiation.
func (c *Client) TaskStateOf(initiationID string, batch int) (TaskState, error) {
	id := TaskID(initiationID, batch)
	info, err := c.inspector.GetTaskInfo(Name, id)
	if errors.Is(err, asynq.ErrTaskNotFound) || errors.Is(err, asynq.ErrQueueNotFound) {
		return TaskMissing, nil
	}
	if err != nil {
		return 0, fmt.Errorf("inspect task %s: %w", id, err)
	}
	if info.State == asynq.TaskStateArchived || info.State == asynq.TaskStateCompleted {
		return TaskFinished, nil
	}
	return TaskLive, nil
}

// DeleteTask deletes the task of batch b, so that it can be queued again.
// Deleting a task that is gone already is not an error.
func (c *Client) DeleteTask(initiationID string, batch int) error {
	id := TaskID(initiationID, batch)
	if err := c.inspector.DeleteTask(Name, id); err != nil && !errors.Is(err, asynq.ErrTaskNotFound) && !errors.Is(err, asynq.ErrQueueNotFound) {
		return fmt.Errorf("delete task %s: %w", id, err)
	}
	return nil
}

// EnqueueRescue queues batch b again for a run whose worker died. The
// batch's own task is still "active" in asynq until its lease runs out, so
// the rescue has a task id of its own, one per dead run: a second rescue
// of the same run is a no-op. The per-message leases keep the two tasks
// from sending a message twice.
func (c *Client) EnqueueRescue(ctx context.Context, b Batch, deadOwner string) error {
	payload, err := json.Marshal(b)
	if err != nil {
		return fmt.Errorf("encode batch: %w", err)
	}
	task := asynq.NewTask(TaskType, payload)
	_, err = c.client.EnqueueContext(ctx, task, asynq.Queue(Name),
		asynq.TaskID(TaskID(b.InitiationID, b.Batch)+":rescue:"+deadOwner), asynq.MaxRetry(MaxRetry))
	if err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
		return fmt.Errorf("enqueue rescue of batch %d of %s: %w", b.Batch, b.InitiationID, err)
	}
	return nil
}
