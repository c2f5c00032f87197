package e2e

import (
	"context"
	"fmt"
	"regexp"
	"syscall"
	"testing"
	"time"

	"github.com/campaignsms/campaignsms/internal/customer"
	"github.com/campaignsms/campaignsms/internal/providertest"
	"github.com/campaignsms/campaignsms/internal/redistest"
	"github.com/campaignsms/campaignsms/internal/store"
)

// The fault suite: real processes, real Redis, a fake provider, and things
// breaking mid-run. After each scenario every customer must have been
// accepted by the provider (by message id), re-sends bounded by what was in
// flight when something died, and the totals must add up.

// seedCampaign stores campaign "bulk" of org default with n customers.
func seedCampaign(t *testing.T, redisURL string, n int) {
	t.Helper()
	st := store.New(store.Params{Redis: redistest.ClientFor(t, redisURL)})
	ctx := context.Background()
	if err := st.CreateCampaign(ctx, &store.Campaign{ID: "bulk", Org: "default", Name: "Bulk"}); err != nil {
		t.Fatal(err)
	}
	recs := make([]customer.Record, 0, n)
	for i := range n {
		r, errs := customer.Normalize(map[string]any{
			"loan_id": fmt.Sprintf("B%06d", i), "phone_number": fmt.Sprintf("97%08d", i), "first_name": "F",
			"emi_amount": 1000, "emi_due_date": "2026-12-05", "payment_status": "bounced", "language": "english",
		})
		if len(errs) > 0 {
			t.Fatal(errs)
		}
		recs = append(recs, r)
	}
	if _, err := st.UpsertCustomers(ctx, "default", "bulk", recs); err != nil {
		t.Fatal(err)
	}
}

// checkDelivery asserts each of the n messages was accepted at least once
// and at most maxResends acceptances were repeats.
func checkDelivery(t *testing.T, c *cluster, n, maxResends int) {
	t.Helper()
	acc := c.fake.Accepted()
	total := 0
	for _, k := range acc {
		total += k
	}
	if len(acc) != n {
		t.Fatalf("provider accepted %d distinct messages, want %d", len(acc), n)
	}
	if total-n > maxResends {
		t.Fatalf("%d re-sends, more than the %d that can have been in flight", total-n, maxResends)
	}
	t.Logf("messages %d, distinct accepted %d, re-sends %d (bound %d)", n, len(acc), total-n, maxResends)
}

func initiateBulk(t *testing.T, c *cluster) string {
	t.Helper()
	code, body := c.api.call(t, "POST", "/api/v1/initiate/bulk/sms", `{"templateId":"hfu7VL6sBhI6NPm"}`)
	if code != 200 {
		t.Fatalf("initiate: %d %v", code, body)
	}
	return body["initiationId"].(string)
}

func TestFaultKillWorkersRepeatedly(t *testing.T) {
	t.Parallel()
	const n = 5000
	url := redistest.URL(t)
	// 2 workers x 2 batches x 5 sends in flight: a kill loses at most 20 in flight.
	env := map[string]string{"REDIS_URL": url, "BATCH_SIZE": "50", "WORKER_CONCURRENCY": "2", "SEND_CONCURRENCY": "5"}
	c := startCluster(t, 0, providertest.Faults{Latency: 40 * time.Millisecond}, env)
	seedCampaign(t, url, n)
	for i := range 3 {
		c.addWorker(t, i)
	}
	id := initiateBulk(t, c)
	kills := 0
	for round := range 3 {
		if err := c.fake.WaitAccepted(context.Background(), 800*(round+1)); err != nil {
			t.Fatal(err)
		}
		victim := c.workers[round]
		victim.signal(syscall.SIGKILL)
		<-victim.done
		kills++
		c.addWorker(t, 10+round)
	}
	// The rescuer hands a killed worker's batches to the others within
	// seconds; the deadline is generous for a busy machine.
	st := c.api.waitDone(t, id, 4*time.Minute)
	r := st["results"].(map[string]any)
	if r["sent"] != float64(n) || st["state"] != "completed" {
		t.Fatalf("status: %v", st)
	}
	checkDelivery(t, c, n, kills*2*2*5)
}

// One worker holds every batch of a send when it is killed; an idle worker
// beside it takes them over (the rescuer sees the dead worker's heartbeat
// stop) and finishes them. The time from the kill to the next send is
// logged here and measured against its target in make bench.
func TestFaultKilledWorkersBatchesGoOnElsewhere(t *testing.T) {
	t.Parallel()
	const n = 1000
	url := redistest.URL(t)
	env := map[string]string{"REDIS_URL": url, "BATCH_SIZE": "100", "WORKER_CONCURRENCY": "10", "SEND_CONCURRENCY": "2"}
	c := startCluster(t, 0, providertest.Faults{Latency: 100 * time.Millisecond}, env)
	seedCampaign(t, url, n)
	victim := c.addWorker(t, 0)
	id := initiateBulk(t, c)
	if err := c.fake.WaitAccepted(context.Background(), 100); err != nil {
		t.Fatal(err)
	}
	spare := c.addWorker(t, 1)
	spare.waitLog(t, runningRe, time.Minute)
	victim.signal(syscall.SIGKILL)
	<-victim.done
	killed, before := time.Now(), c.fake.AcceptedCount()
	wctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := c.fake.WaitAccepted(wctx, before+1); err != nil {
		t.Fatalf("no send within 3 minutes of the kill: %v", err)
	}
	t.Logf("first send after the kill: %v", time.Since(killed).Round(10*time.Millisecond))
	st := c.api.waitDone(t, id, 4*time.Minute)
	if r := st["results"].(map[string]any); r["sent"] != float64(n) {
		t.Fatalf("status: %v", st)
	}
	if spare.count(`"msg":"batch of a dead worker queued again"`) == 0 {
		t.Fatalf("no rescue logged; the batches went on some other way:\n%s", tail(spare.out.String(), 20))
	}
	// 10 batches x 2 sends in flight.
	checkDelivery(t, c, n, 20)
}

var runningRe = regexp.MustCompile(`"msg":"worker running"`)

func TestFaultSIGTERMWorkerMidBatch(t *testing.T) {
	t.Parallel()
	const n = 1000
	url := redistest.URL(t)
	env := map[string]string{"REDIS_URL": url, "BATCH_SIZE": "100", "WORKER_CONCURRENCY": "2", "SEND_CONCURRENCY": "4", "SHUTDOWN_TIMEOUT": "2s"}
	c := startCluster(t, 0, providertest.Faults{Latency: 50 * time.Millisecond}, env)
	seedCampaign(t, url, n)
	first := c.addWorker(t, 0)
	c.addWorker(t, 1)
	id := initiateBulk(t, c)
	if err := c.fake.WaitAccepted(context.Background(), 200); err != nil {
		t.Fatal(err)
	}
	first.signal(syscall.SIGTERM)
	select {
	case <-first.done:
	case <-time.After(15 * time.Second):
		t.Fatal("worker did not stop within 15 s of SIGTERM")
	}
	if first.count(`"msg":"worker stopped"`) != 1 {
		t.Fatalf("worker did not stop cleanly:\n%s", tail(first.out.String(), 20))
	}
	st := c.api.waitDone(t, id, 2*time.Minute)
	if r := st["results"].(map[string]any); r["sent"] != float64(n) {
		t.Fatalf("status: %v", st)
	}
	// A graceful stop hands unsent messages back; only a call cut off at
	// the deadline can go out twice.
	checkDelivery(t, c, n, 2*4)
}

func TestFaultProviderErrors(t *testing.T) {
	t.Parallel()
	const n = 2000
	url := redistest.URL(t)
	env := map[string]string{"REDIS_URL": url, "BATCH_SIZE": "100", "SEND_MAX_ATTEMPTS": "8"}
	c := startCluster(t, 2, providertest.Faults{Fail5xxRate: 0.2, TimeoutRate: 0.01, TooManyBurst: 100, RetryAfter: time.Second}, env)
	seedCampaign(t, url, n)
	id := initiateBulk(t, c)
	st := c.api.waitDone(t, id, 3*time.Minute)
	r := st["results"].(map[string]any)
	// A timed-out request may have been accepted by the provider after all:
	// those can go twice, with the same Idempotency-Key.
	acc := c.fake.Accepted()
	if r["sent"].(float64)+r["failed"].(float64) != n || float64(len(acc)) < r["sent"].(float64) {
		t.Fatalf("status %v, provider accepted %d", r, len(acc))
	}
	t.Logf("sent %v, failed %v, requests %d", r["sent"], r["failed"], c.fake.Requests())
}

func TestFaultOutageLongerThanRetryBudget(t *testing.T) {
	t.Parallel()
	const n = 300
	url := redistest.URL(t)
	env := map[string]string{"REDIS_URL": url, "BATCH_SIZE": "100", "SEND_MAX_ATTEMPTS": "3"}
	c := startCluster(t, 1, providertest.Faults{Outage: true}, env)
	seedCampaign(t, url, n)
	id := initiateBulk(t, c)
	st := c.api.waitDone(t, id, time.Minute)
	r := st["results"].(map[string]any)
	if r["failed"] != float64(n) || r["pending"] != 0.0 || st["success"] != false {
		t.Fatalf("status: %v", st)
	}
	e := r["errors"].([]any)[0].(map[string]any)
	if e["code"] != "send_failed" || e["message"] == "" {
		t.Fatalf("error without a reason: %v", e)
	}
	// The provider comes back: a new initiation goes through.
	c.fake.SetFaults(providertest.Faults{})
	id = initiateBulk(t, c)
	if st := c.api.waitDone(t, id, time.Minute); st["results"].(map[string]any)["sent"] != float64(n) {
		t.Fatalf("after the outage: %v", st)
	}
}

func TestFaultRedisRestart(t *testing.T) {
	t.Parallel()
	for _, fsync := range []string{"always", "everysec"} {
		t.Run(fsync, func(t *testing.T) {
			t.Parallel()
			const n = 3000
			srv := redistest.NewServer(t, "--appendonly", "yes", "--appendfsync", fsync)
			env := map[string]string{"REDIS_URL": srv.URL, "BATCH_SIZE": "50", "WORKER_CONCURRENCY": "2", "SEND_CONCURRENCY": "5"}
			c := startCluster(t, 2, providertest.Faults{Latency: 20 * time.Millisecond}, env)
			seedCampaign(t, srv.URL, n)
			id := initiateBulk(t, c)
			if err := c.fake.WaitAccepted(context.Background(), 600); err != nil {
				t.Fatal(err)
			}
			srv.Kill()
			// Readiness follows Redis: 503 with the reason while it is away...
			waitStatus(t, c.api.base+"/readyz", 503, 10*time.Second)
			srv.Restart()
			// ...and 200 again once it is back, without a restart of the API.
			waitStatus(t, c.api.base+"/readyz", 200, 30*time.Second)
			st := c.api.waitDone(t, id, 4*time.Minute)
			r := st["results"].(map[string]any)
			if r["sent"] != float64(n) {
				t.Fatalf("status: %v", st)
			}
			// With fsync always nothing acknowledged is lost, so re-sends are
			// bounded by what was in flight. With everysec up to a second of
			// state writes can be lost and those messages go again, with the
			// same Idempotency-Key.
			bound := 2 * 2 * 5
			if fsync == "everysec" {
				bound = n
			}
			checkDelivery(t, c, n, bound)
			for _, w := range c.workers {
				if w.exited() {
					t.Errorf("%s died with Redis", w.name)
				}
			}
		})
	}
}

// waitStatus polls url until it answers want.
func waitStatus(t *testing.T, url string, want int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		code, body := get(t, url)
		if code == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d %s, want %d within %v", url, code, body, want, within)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
