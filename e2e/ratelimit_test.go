package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/campaignsms/campaignsms/internal/providertest"
	"github.com/campaignsms/campaignsms/internal/redistest"
)

// TestRateLimitAcrossTwoWorkers: SMS_RATE_LIMIT holds for all workers
// together, within 10 % over 10 s.
func TestRateLimitAcrossTwoWorkers(t *testing.T) {
	t.Parallel()
	const rate = 200
	url := redistest.URL(t)
	env := map[string]string{"REDIS_URL": url, "BATCH_SIZE": "100", "SMS_RATE_LIMIT": "200"}
	c := startCluster(t, 0, providertest.Faults{}, env)
	seedCampaign(t, url, 4000)
	c.addWorker(t, 0)
	c.addWorker(t, 1)
	id := initiateBulk(t, c)
	// Measure after a warm-up, so that start-up and the limiter's burst do
	// not count.
	if err := c.fake.WaitAccepted(context.Background(), 300); err != nil {
		t.Fatal(err)
	}
	from, start := c.fake.AcceptedCount(), time.Now()
	deadline := time.NewTimer(10 * time.Second)
	<-deadline.C
	got := float64(c.fake.AcceptedCount()-from) / time.Since(start).Seconds()
	t.Logf("measured %.1f messages/s with SMS_RATE_LIMIT=%d over two workers", got, rate)
	if got < rate*0.9 || got > rate*1.1 {
		t.Fatalf("rate %.1f/s, want %d ± 10 %%", got, rate)
	}
	// Both workers take part: the limit is shared, not per process.
	for _, w := range c.workers {
		addr := w.waitLog(t, metricsRe, 5*time.Second)[1]
		if _, page := get(t, "http://"+addr+"/metrics"); metricValue(t, page, `campaignsms_messages_total{outcome="sent"}`) == 0 {
			t.Errorf("%s sent nothing", w.name)
		}
	}
	if code, _ := c.api.call(t, "DELETE", "/api/v1/initiations/"+id, ""); code != 200 {
		t.Fatalf("cancel: %d", code)
	}
}
