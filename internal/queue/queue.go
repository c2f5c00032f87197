// Package queue puts batches of an initiation on asynq and tells whether a
// batch's task still exists. asynq stays inside this package and worker.
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

// Live reports whether the batch's task exists and will still run. An
// archived task (out of retries) is deleted so that it can be queued again.
func (c *Client) Live(batchInitiation string, batch int) (bool, error) {
	id := TaskID(batchInitiation, batch)
	info, err := c.inspector.GetTaskInfo(Name, id)
	if errors.Is(err, asynq.ErrTaskNotFound) || errors.Is(err, asynq.ErrQueueNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("inspect task %s: %w", id, err)
	}
	if info.State == asynq.TaskStateArchived || info.State == asynq.TaskStateCompleted {
		if err := c.inspector.DeleteTask(Name, id); err != nil && !errors.Is(err, asynq.ErrTaskNotFound) {
			return false, fmt.Errorf("delete finished task %s: %w", id, err)
		}
		return false, nil
	}
	return true, nil
}
