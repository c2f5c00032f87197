package e2e

import (
	"context"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/campaignsms/campaignsms/internal/queue"
	"github.com/campaignsms/campaignsms/internal/redistest"
	"github.com/campaignsms/campaignsms/internal/store"
)

// The whole flow — initiate, two worker processes send through asynq, the
// status reaches completed, the provider accepts every message exactly once —
// on the two REDIS_URL topologies that need more than one Redis process.

func TestTopologySentinel(t *testing.T) {
	t.Parallel()
	s := redistest.NewSentinel(t)
	c := startStackOn(t, s.URL, 2)
	runFullFlow(t, c)
	// Everything went through the master the sentinel named.
	if n := s.Master.Client(t).DBSize(t.Context()).Val(); n == 0 {
		t.Errorf("the master %s holds no key", s.Master.Addr)
	}
}

func TestTopologyCluster(t *testing.T) {
	t.Parallel()
	rc := redistest.NewCluster(t, 3)
	c := startStackOn(t, rc.URL, 2)
	id := runFullFlow(t, c)

	// The flow really crossed nodes: the asynq queue, the initiation and the
	// campaign are in slots of their own, and every master holds keys.
	cc := rc.Client(t)
	ctx := t.Context()
	for _, key := range []string{
		"asynq:{" + queue.Name + "}:pending", // asynq's keys of the sms queue
		"cs:{i:" + id + "}:meta",             // the initiation and its message states
		"cs:{c:default:demo}:ids",            // the demo campaign's customers
		"cs:inis:active",                     // the reconciler's index
	} {
		slot := cc.ClusterKeySlot(ctx, key).Val()
		t.Logf("%-32s slot %5d on %s", key, slot, nodeOf(t, cc, slot))
	}
	var mu sync.Mutex
	sizes := map[string]int64{}
	if err := cc.ForEachMaster(ctx, func(ctx context.Context, n *redis.Client) error {
		s, err := n.DBSize(ctx).Result()
		mu.Lock()
		sizes[n.Options().Addr] = s
		mu.Unlock()
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Logf("keys per master: %v", sizes)
	for addr, s := range sizes {
		if s == 0 {
			t.Errorf("master %s holds no key: %v", addr, sizes)
		}
	}
}

// runFullFlow sends the demo campaign (500 customers, 20 batches of 25) and
// checks the outcome; it returns the initiation id.
func runFullFlow(t *testing.T, c *cluster) string {
	t.Helper()
	if code, _ := get(t, c.api.base+"/readyz"); code != 200 {
		t.Fatalf("/readyz: %d", code)
	}
	code, body := c.api.call(t, "POST", "/api/v1/initiate/demo/sms", `{"templateId":"hfu7VL6sBhI6NPm"}`)
	if code != 200 || body["results"].(map[string]any)["batchesProcessed"] != 20.0 {
		t.Fatalf("initiate: %d %v", code, body)
	}
	id := body["initiationId"].(string)
	st := c.api.waitDone(t, id, 40*time.Second)
	if r := st["results"].(map[string]any); r["sent"] != 500.0 || st["state"] != "completed" {
		t.Fatalf("status: %v", st)
	}
	accepted := c.fake.Accepted()
	for mid, n := range accepted {
		if n != 1 {
			t.Errorf("%s accepted %d times", mid, n)
		}
	}
	if len(accepted) != 500 {
		t.Fatalf("provider accepted %d distinct messages, want 500", len(accepted))
	}
	for _, w := range c.workers {
		if w.count(`"msg":"batch finished"`) == 0 {
			t.Errorf("%s processed no batch", w.name)
		}
	}
	// Reads that span slots: a message (its initiation, batch, state, record
	// and customer) and a page of the logs.
	if code, m := c.api.call(t, "GET", "/api/v1/communication/sms/"+store.MessageID(id, 499), ""); code != 200 {
		t.Errorf("message 499: %d %v", code, m)
	}
	if code, page := c.api.call(t, "GET", "/api/v1/logs?initiation_id="+id+"&status=sent", ""); code != 200 ||
		page["pagination"].(map[string]any)["total"] != 500.0 {
		t.Errorf("logs: %d %v", code, page)
	}
	// Let asynq's background parts (heartbeat every 5 s, forwarder, janitor)
	// and the reconciler run once more on this Redis before the logs are read.
	time.Sleep(3 * time.Second)
	c.checkLogs(t)
	// The queue metrics come from asynq's Inspector (Queues, GetQueueInfo: a
	// Lua script with MEMORY USAGE); a Redis error would drop them silently.
	if code, page := get(t, c.api.base+"/metrics"); code == 200 && !strings.Contains(page, `asynq_queue_size{queue="sms",state="pending"}`) {
		t.Errorf("api /metrics lacks the sms queue's size: the Inspector failed on this Redis")
	}
	return id
}

// nodeOf names the master that serves slot.
func nodeOf(t *testing.T, cc *redis.ClusterClient, slot int64) string {
	t.Helper()
	shards, err := cc.ClusterShards(t.Context()).Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, sh := range shards {
		for _, r := range sh.Slots {
			if r.Start > slot || slot > r.End {
				continue
			}
			for _, n := range sh.Nodes {
				if n.Role == "master" {
					return net.JoinHostPort(n.IP, strconv.FormatInt(n.Port, 10))
				}
			}
		}
	}
	return "(unassigned)"
}
