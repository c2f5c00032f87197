package e2e

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/campaignsms/campaignsms/internal/providertest"
)

// The Redis processes of the topology tests (a Redis Cluster, a master and its
// sentinel) come from redistest.NewCluster and redistest.NewSentinel: they run
// with Pdeathsig, are polled until ready (CLUSTER INFO cluster_state:ok on every
// node; SENTINEL GET-MASTER-ADDR-BY-NAME and SENTINEL MASTER) and are killed,
// their temporary directories removed, when the test ends. The store tests
// build their cluster with the same helper.

// startStackOn is startCluster on a Redis of the caller's choice: the API and
// n workers with REDIS_URL=redisURL and the demo data, all sending to one fake
// provider.
func startStackOn(t *testing.T, redisURL string, n int) *cluster {
	t.Helper()
	fake := providertest.Start(providertest.Options{Faults: providertest.Faults{Latency: 2 * time.Millisecond}, Seed: 11})
	t.Cleanup(fake.Close)
	env := map[string]string{
		"REDIS_URL": redisURL, "API_TOKENS": "tok-e2e:default,tok-other:other", "DEMO_DATA": "true",
		"HTTP_ADDR": "127.0.0.1:0", "METRICS_ADDR": "127.0.0.1:0", "SMS_PROVIDER": "webhook",
		"SMS_WEBHOOK_URL": fake.URL, "BATCH_SIZE": "25", "WORKER_CONCURRENCY": "4",
		"RECONCILE_INTERVAL": "2s", "LOG_LEVEL": "info",
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

// redisRefusals are what Redis Cluster or Sentinel answer to a command they
// will not run where it was sent; none may appear in any program's log.
// asynq's background parts (heartbeat, forwarder, recoverer, janitor) log
// their failures as "Failed to …" or "redis eval error".
var redisRefusals = regexp.MustCompile(`CROSSSLOT|non local key|same slot|MOVED \d+|ASK \d+|TRYAGAIN|` +
	`CLUSTERDOWN|READONLY You can't write|NOSCRIPT|unknown command|Failed to|redis eval error`)

// checkLogs fails t for every log line of c's programs that shows Redis
// refusing a command, naming the program and the line.
func (c *cluster) checkLogs(t *testing.T) {
	t.Helper()
	for _, p := range append([]*proc{c.apiProc}, c.workers...) {
		for line := range strings.SplitSeq(p.out.String(), "\n") {
			if redisRefusals.MatchString(line) {
				t.Errorf("%s logged a refused Redis command: %s", p.name, line)
			}
		}
	}
}
