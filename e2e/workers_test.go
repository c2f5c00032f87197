package e2e

import (
	"context"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/campaignsms/campaignsms/internal/providertest"
	"github.com/campaignsms/campaignsms/internal/redistest"
)

type cluster struct {
	api     api
	apiProc *proc
	workers []*proc
	fake    *providertest.Server
	env     map[string]string
}

// startCluster starts the API and n workers on an isolated real Redis
// database with the demo data, all sending to one fake provider.
func startCluster(t *testing.T, n int, faults providertest.Faults, extra map[string]string) *cluster {
	t.Helper()
	fake := providertest.Start(providertest.Options{Faults: faults, Seed: 11})
	t.Cleanup(fake.Close)
	env := map[string]string{
		"REDIS_URL": redistest.URL(t), "API_TOKENS": "tok-e2e:default,tok-other:other", "DEMO_DATA": "true",
		"HTTP_ADDR": "127.0.0.1:0", "METRICS_ADDR": "127.0.0.1:0", "SMS_PROVIDER": "webhook",
		"SMS_WEBHOOK_URL": fake.URL, "BATCH_SIZE": "25", "WORKER_CONCURRENCY": "4",
		"RECONCILE_INTERVAL": "2s", "LOG_LEVEL": "info",
	}
	for k, v := range extra {
		env[k] = v
	}
	c := &cluster{fake: fake, env: env}
	c.apiProc = startProc(t, "api", "api", env)
	addr := c.apiProc.waitLog(t, listenRe, 30*time.Second)[1]
	c.api = api{base: "http://" + addr, token: "tok-e2e"}
	for i := range n {
		c.addWorker(t, i)
	}
	return c
}

func (c *cluster) addWorker(t *testing.T, i int) *proc {
	t.Helper()
	w := startProc(t, "worker-"+strconv.Itoa(i), "worker", c.env)
	c.workers = append(c.workers, w)
	return w
}

func TestTwoWorkerProcessesOnRealRedis(t *testing.T) {
	t.Parallel()
	c := startCluster(t, 2, providertest.Faults{Latency: 2 * time.Millisecond}, nil)
	code, body := c.api.call(t, "POST", "/api/v1/initiate/demo/sms", `{"templateId":"hfu7VL6sBhI6NPm"}`)
	if code != 200 || body["results"].(map[string]any)["batchesProcessed"] != 20.0 {
		t.Fatalf("initiate: %d %v", code, body)
	}
	st := c.api.waitDone(t, body["initiationId"].(string), 90*time.Second)
	if r := st["results"].(map[string]any); r["sent"] != 500.0 || st["state"] != "completed" {
		t.Fatalf("status: %v", st)
	}
	for id, n := range c.fake.Accepted() {
		if n != 1 {
			t.Errorf("%s accepted %d times", id, n)
		}
	}
	if got := len(c.fake.Accepted()); got != 500 {
		t.Fatalf("provider accepted %d distinct messages", got)
	}
	var sent float64
	for _, w := range c.workers {
		if w.count(`"msg":"batch finished"`) == 0 {
			t.Errorf("%s processed no batch", w.name)
		}
		addr := w.waitLog(t, metricsRe, 5*time.Second)[1]
		if code, _ := get(t, "http://"+addr+"/healthz"); code != 200 {
			t.Errorf("%s /healthz: %d", w.name, code)
		}
		_, page := get(t, "http://"+addr+"/metrics")
		sent += metricValue(t, page, `campaignsms_messages_total{outcome="sent"}`)
		for _, name := range []string{"campaignsms_provider_request_duration_seconds_bucket", "campaignsms_batch_duration_seconds_count", `asynq_queue_size{queue="sms",state="pending"}`} {
			if !strings.Contains(page, name) {
				t.Errorf("%s /metrics lacks %s", w.name, name)
			}
		}
	}
	if sent != 500 {
		t.Errorf("workers' metrics count %v sent messages, want 500", sent)
	}
	if _, page := get(t, c.api.base+"/metrics"); !strings.Contains(page, `campaignsms_http_requests_total{method="POST",route="/api/v1/initiate/:campaignId/sms",status="200"} 1`) {
		t.Errorf("api /metrics lacks the initiate request:\n%s", page)
	}
	// Tokens, phone numbers and message bodies stay out of info-level logs.
	m, _ := c.fake.Received(firstAccepted(c))
	for _, p := range append([]*proc{c.apiProc}, c.workers...) {
		out := p.out.String()
		for _, secret := range []string{"tok-e2e", "tok-other", m.To, m.Body} {
			if secret != "" && strings.Contains(out, secret) {
				t.Errorf("%s log contains %q", p.name, secret)
			}
		}
	}
	// With REDIS_URL and no MONITORING_USER the dashboard does not exist.
	if code, _ := get(t, c.api.base+"/monitoring/"); code != 404 {
		t.Errorf("/monitoring/ without credentials on a real Redis: %d, want 404", code)
	}
	// Another org's token sees none of it.
	other := api{base: c.api.base, token: "tok-other"}
	if code, _ := other.call(t, "GET", "/api/v1/initiations/"+body["initiationId"].(string), ""); code != 404 {
		t.Fatalf("other org read the initiation: %d", code)
	}

}

var metricsRe = regexp.MustCompile(`"msg":"metrics listening","addr":"([^"]+)"`)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := doRetrying(ctx, req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// metricValue returns the value of the sample line that starts with name.
func metricValue(t *testing.T, page, name string) float64 {
	t.Helper()
	for _, line := range strings.Split(page, "\n") {
		if rest, ok := strings.CutPrefix(line, name+" "); ok {
			v, err := strconv.ParseFloat(rest, 64)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			return v
		}
	}
	return 0
}

// firstAccepted returns the id of some message the fake provider accepted.
func firstAccepted(c *cluster) string {
	for id := range c.fake.Accepted() {
		return id
	}
	return ""
}
