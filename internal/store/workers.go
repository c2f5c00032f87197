package store

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// A worker process proves it is alive by refreshing a marker with a short
// TTL, and lists each batch run it starts under the run's owner id. A run
// whose worker's marker has expired belongs to a dead process: the rescuer
// hands its batch to another worker within seconds, instead of waiting for
// asynq's task lease and recoverer (one to two minutes).

// Run is one batch run in progress, as listed in cs:runs.
type Run struct {
	Owner        string // the run's lease owner id in the st hash
	Worker       string // the worker process running it
	InitiationID string
	Batch        int
}

// WorkerHeartbeat marks worker id alive for ttl.
func (s *Store) WorkerHeartbeat(ctx context.Context, id string, ttl time.Duration) error {
	if err := s.rdb.Set(ctx, workerKey(id), s.now().UnixMilli(), ttl).Err(); err != nil {
		return fmt.Errorf("worker heartbeat: %w", err)
	}
	return nil
}

// WorkerGone removes worker id's marker: a worker that stops cleanly says so
// at once, and its runs (there should be none left) are rescued at once.
func (s *Store) WorkerGone(ctx context.Context, id string) error {
	if err := s.rdb.Del(ctx, workerKey(id)).Err(); err != nil {
		return fmt.Errorf("worker gone: %w", err)
	}
	return nil
}

// WorkersAlive reports for each id whether its marker is present.
func (s *Store) WorkersAlive(ctx context.Context, ids []string) ([]bool, error) {
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.IntCmd, len(ids))
	for i, id := range ids {
		cmds[i] = pipe.Exists(ctx, workerKey(id))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("read worker markers: %w", err)
	}
	out := make([]bool, len(ids))
	for i, c := range cmds {
		out[i] = c.Val() > 0
	}
	return out, nil
}

// RunRegister lists run r as in progress.
func (s *Store) RunRegister(ctx context.Context, r Run) error {
	v := r.Worker + "|" + r.InitiationID + "|" + strconv.Itoa(r.Batch)
	if err := s.rdb.HSet(ctx, runsKey, r.Owner, v).Err(); err != nil {
		return fmt.Errorf("register run: %w", err)
	}
	return nil
}

// RunUnregister removes the run with this owner from the list.
func (s *Store) RunUnregister(ctx context.Context, owner string) error {
	if err := s.rdb.HDel(ctx, runsKey, owner).Err(); err != nil {
		return fmt.Errorf("unregister run: %w", err)
	}
	return nil
}

// RunList returns every listed run. The list holds at most the batches in
// flight on all workers (workers × WORKER_CONCURRENCY), so one read is fine.
func (s *Store) RunList(ctx context.Context) ([]Run, error) {
	m, err := s.rdb.HGetAll(ctx, runsKey).Result()
	if err != nil {
		return nil, fmt.Errorf("list runs: %w", err)
	}
	out := make([]Run, 0, len(m))
	for owner, v := range m {
		parts := strings.Split(v, "|")
		if len(parts) != 3 {
			continue
		}
		b, err := strconv.Atoi(parts[2])
		if err != nil {
			continue
		}
		out = append(out, Run{Owner: owner, Worker: parts[0], InitiationID: parts[1], Batch: b})
	}
	return out, nil
}
