package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/campaignsms/campaignsms/internal/providertest"
	"github.com/campaignsms/campaignsms/internal/redistest"
)

// TestRateLimitAcrossTwoWorkers: SMS_RATE_LIMIT holds for all workers
// together: over every interval of at least a second, the two workers never
// send more than the limit allows (plus the limiter's burst). A busy machine
// may send slower, which is no failure; how close the rate comes to the
// limit is measured in make bench, not asserted here.
func TestRateLimitAcrossTwoWorkers(t *testing.T) {
	t.Parallel()
	const rate = 200
	const burst = rate / 10 // the limiter's burst (internal/app)
	url := redistest.URL(t)
	env := map[string]string{"REDIS_URL": url, "BATCH_SIZE": "100", "SMS_RATE_LIMIT": "200"}
	c := startCluster(t, 0, providertest.Faults{}, env)
	seedCampaign(t, url, 4000)
	c.addWorker(t, 0)
	c.addWorker(t, 1)
	id := initiateBulk(t, c)
	if err := c.fake.WaitAccepted(context.Background(), 300); err != nil {
		t.Fatal(err)
	}
	// Samples of the accepted count, each between two clock readings: the
	// true interval between two counts is at least later.before-earlier.after.
	type sample struct {
		before, after time.Time
		n             int
	}
	var samples []sample
	for end := time.Now().Add(6 * time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		before := time.Now()
		n := c.fake.AcceptedCount()
		samples = append(samples, sample{before, time.Now(), n})
	}
	worst := 0.0
	for i := range samples {
		for j := i + 1; j < len(samples); j++ {
			span := samples[j].before.Sub(samples[i].after)
			if span < time.Second {
				continue
			}
			sent := float64(samples[j].n - samples[i].n)
			allowed := rate*span.Seconds() + burst
			worst = max(worst, sent/allowed)
			if sent > allowed*1.05 {
				t.Fatalf("%v messages in %v: more than SMS_RATE_LIMIT=%d allows", sent, span, rate)
			}
		}
	}
	t.Logf("highest share of the limit used over any interval of 1 s or more: %.2f", worst)
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
