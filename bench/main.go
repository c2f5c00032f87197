// Command bench measures the whole pipeline against its physical limit and
// its naive alternative, in one run on this machine: its own redis-server, a
// loopback fake provider in this process, cmd/api and N cmd/worker
// processes. It prints a table and then one "name: value" line per figure.
// Progress goes to stderr. It exits non-zero when a run fails.
//
//	go run ./bench            # the full run (make bench)
//	go run ./bench -quick     # small sizes, about a minute
package main

import (
	"context"
	"flag"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/campaignsms/campaignsms/internal/config"
	"github.com/campaignsms/campaignsms/internal/store"
)

// sizes are the message and customer counts of each run.
type sizes struct {
	workers     int // worker processes of the e2e runs
	direct      int // messages of the direct client
	e2e         int // customers of the e2e run
	latency     int // customers of the run at 50 ms provider latency
	pmt         int // messages of the per-message-task baseline
	limiter     int // customers of each rate limiter run
	limiterReps int // rate limiter runs with and without the limit
	ack         int // customers of the ack runs (ack_ms_100k)
	ackBig      int // customers of ack_ms_1m
	rssSmall    int // customers of worker_rss_mb_1k
	rssBig      int // customers of worker_rss_mb_1m
	reps        int // repetitions of the ack and Redis read measures
	conc        int // senders of the direct client and handlers of the baseline; 0: as the workers
	maxConc     int // cap on the derived concurrency
	altConc     int // senders of a second, reference run of the direct client; -1: none
	latencyMS   int
	kill        int // customers of the kill-to-resume runs
	killReps    int // kills measured
	only        string
}

var (
	full  = sizes{workers: 2, direct: 200_000, e2e: 200_000, latency: 200_000, pmt: 30_000, limiter: 50_000, limiterReps: 2, ack: 100_000, ackBig: 1_000_000, rssSmall: 1_000, rssBig: 1_000_000, reps: 3, maxConc: 1000, altConc: 64, latencyMS: 50, kill: 5_000, killReps: 5}
	quick = sizes{workers: 2, direct: 20_000, e2e: 20_000, latency: 10_000, pmt: 5_000, limiter: 10_000, limiterReps: 1, ack: 20_000, ackBig: 100_000, rssSmall: 1_000, rssBig: 50_000, reps: 3, maxConc: 1000, altConc: 64, latencyMS: 50, kill: 5_000, killReps: 2}
)

func parseFlags() sizes {
	var s sizes
	q := flag.Bool("quick", false, "small sizes for a quick run (about a minute)")
	flag.IntVar(&s.workers, "workers", 0, "worker processes in the e2e runs (default 2)")
	flag.IntVar(&s.direct, "direct", 0, "messages sent by the direct client (default 200000)")
	flag.IntVar(&s.e2e, "e2e", 0, "customers of the e2e campaign (default 200000)")
	flag.IntVar(&s.latency, "latency", 0, "customers of the 50 ms latency run (default 200000)")
	flag.IntVar(&s.pmt, "pmt", 0, "messages of the one-task-per-message baseline (default 30000)")
	flag.IntVar(&s.limiter, "limiter", 0, "customers of each rate limiter run (default 50000)")
	flag.IntVar(&s.limiterReps, "limiter-reps", 0, "rate limiter runs with and without the limit; the best of each counts (default 2)")
	flag.IntVar(&s.ack, "ack", 0, "customers of the ack_ms_100k campaign (default 100000)")
	flag.IntVar(&s.ackBig, "ack-big", 0, "customers of the ack_ms_1m campaign (default 1000000)")
	flag.IntVar(&s.rssSmall, "rss-small", 0, "customers of worker_rss_mb_1k (default 1000)")
	flag.IntVar(&s.rssBig, "rss-big", 0, "customers of worker_rss_mb_1m (default 1000000)")
	flag.IntVar(&s.reps, "reps", 0, "repetitions of the ack and Redis read measures (default 3)")
	flag.IntVar(&s.conc, "conc", 0, "senders of the direct client and the baseline (default: workers × WORKER_CONCURRENCY × SEND_CONCURRENCY, at most -max-conc)")
	flag.IntVar(&s.maxConc, "max-conc", 0, "cap on the derived concurrency (default 1000)")
	flag.IntVar(&s.altConc, "alt-conc", 0, "senders of a second, reference direct client run (default 64; -1: none)")
	flag.IntVar(&s.latencyMS, "latency-ms", 0, "provider latency of the latency run, ms (default 50)")
	flag.IntVar(&s.kill, "kill", 0, "customers of the kill-to-resume runs (default 5000)")
	flag.IntVar(&s.killReps, "kill-reps", 0, "kills measured (default 5)")
	flag.StringVar(&s.only, "only", "", "run only these steps, comma-separated: direct,e2e,limiter,pmt,rss,ack,kill (default all)")
	flag.Parse()
	def := full
	if *q {
		def = quick
	}
	for _, p := range []struct{ v, d *int }{
		{&s.workers, &def.workers}, {&s.direct, &def.direct}, {&s.e2e, &def.e2e}, {&s.latency, &def.latency},
		{&s.pmt, &def.pmt}, {&s.limiter, &def.limiter}, {&s.limiterReps, &def.limiterReps}, {&s.ack, &def.ack}, {&s.ackBig, &def.ackBig},
		{&s.rssSmall, &def.rssSmall}, {&s.rssBig, &def.rssBig}, {&s.reps, &def.reps},
		{&s.maxConc, &def.maxConc}, {&s.altConc, &def.altConc}, {&s.latencyMS, &def.latencyMS},
		{&s.kill, &def.kill}, {&s.killReps, &def.killReps},
	} {
		if *p.v <= 0 {
			*p.v = *p.d
		}
	}
	return s
}

// bench holds what the runs share.
type bench struct {
	s        sizes
	tmp      string
	redisURL string
	apiBase  string
	rdb      redis.UniversalClient
	st       *store.Store
	http     *http.Client
	cfg      config.Config // the product's defaults, as a worker would load them
	conc     int
	seq      int
	rep      report
}

func (b *bench) bin(name string) string { return filepath.Join(b.tmp, "bin", name) }

func main() {
	s := parseFlags()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := 0
	func() {
		defer killAll() // also on panic; Pdeathsig covers a hard crash
		b := &bench{s: s, http: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}}
		if err := b.run(ctx); err != nil {
			progress("FAILED: %v", err)
			code = 1
			return
		}
		b.rep.print(os.Stdout, finalOrder)
	}()
	stop()
	os.Exit(code)
}

// finalOrder is the order of the last "name: value" lines.
var finalOrder = []string{
	"direct_client_per_s", "e2e_sent_per_s", "e2e_vs_direct",
	"per_message_tasks_sent_per_s", "e2e_vs_per_message_tasks",
	"e2e_sent_per_s_latency50", "latency50_vs_zero",
	"ack_ms_100k", "redis_read_ms_100k", "ack_vs_redis_read_100k", "ack_ms_1m",
	"worker_rss_mb_1k", "worker_rss_mb_1m",
	"kill_resume_s_median", "kill_resume_s_worst",
}

func (b *bench) run(ctx context.Context) error {
	tmp, err := os.MkdirTemp("", "campaignsms-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	defer killAll() // before the temp dir goes
	b.tmp = tmp

	progress("building cmd/api and cmd/worker")
	if err := buildPrograms(ctx, filepath.Join(tmp, "bin")); err != nil {
		return err
	}
	if _, b.redisURL, err = startRedis(ctx, tmp); err != nil {
		return err
	}
	progress("redis-server on %s (no persistence)", b.redisURL)
	opts, err := config.ParseRedisURL(b.redisURL)
	if err != nil {
		return err
	}
	b.rdb = redis.NewUniversalClient(opts)
	defer b.rdb.Close()
	b.st = store.New(store.Params{Redis: b.rdb})
	env := b.baseEnv("http://127.0.0.1:9/")
	if b.cfg, err = config.Load(func(k string) string { return env[k] }, config.ProgramWorker); err != nil {
		return err
	}
	inflight := b.s.workers * b.cfg.WorkerConcurrency * min(b.cfg.SendConcurrency, b.cfg.BatchSize)
	b.conc = b.s.conc
	if b.conc <= 0 {
		b.conc = min(inflight, b.s.maxConc)
	}
	progress("workers: %d × WORKER_CONCURRENCY %d × SEND_CONCURRENCY %d = %d sends in flight; direct client and baseline use %d",
		b.s.workers, b.cfg.WorkerConcurrency, b.cfg.SendConcurrency, inflight, b.conc)

	if err := b.seed(ctx); err != nil {
		return err
	}
	if err := b.startAPI(ctx); err != nil {
		return err
	}
	progress("api on %s", b.apiBase)

	for _, step := range []struct {
		name string
		run  func(context.Context) error
	}{
		{"direct", b.runDirect}, {"e2e", b.runE2E}, {"limiter", b.runLimiter}, {"pmt", b.runPerMessage},
		{"rss", b.runRSS}, {"ack", b.runAck}, {"kill", b.runKillResume},
	} {
		if b.s.only != "" && !slices.Contains(strings.Split(b.s.only, ","), step.name) {
			continue
		}
		if err := step.run(ctx); err != nil {
			return err
		}
	}
	b.ratios()
	progress("done in %.0fs", time.Since(startTime).Seconds())
	return nil
}

// seed writes the template and one campaign per distinct size.
func (b *bench) seed(ctx context.Context) error {
	if err := seedTemplate(ctx, b.st); err != nil {
		return err
	}
	s := b.s
	var ns []int
	for _, n := range []int{s.rssSmall, s.limiter, s.pmt, s.ack, s.latency, s.e2e, s.rssBig, s.ackBig, s.kill} {
		if !slices.Contains(ns, n) {
			ns = append(ns, n)
		}
	}
	for _, n := range ns {
		t0 := time.Now()
		if err := seedCampaign(ctx, b.st, n); err != nil {
			return err
		}
		el := time.Since(t0)
		progress("seeded %s with %s customers in %.1fs (%.0f/s)", campaignID(n), fmtN(n), el.Seconds(), float64(n)/el.Seconds())
	}
	return nil
}

func (b *bench) ratios() {
	r := &b.rep
	r.add("e2e_vs_direct", ratio(r.get("e2e_sent_per_s"), r.get("direct_client_per_s")), 3, "ratio", "e2e_sent_per_s / direct_client_per_s (target ≥ 0.9)")
	r.add("e2e_vs_per_message_tasks", ratio(r.get("e2e_sent_per_s"), r.get("per_message_tasks_sent_per_s")), 3, "ratio", "e2e_sent_per_s / per_message_tasks_sent_per_s (target ≥ 4)")
	r.add("latency50_vs_zero", ratio(r.get("e2e_sent_per_s_latency50"), r.get("e2e_sent_per_s")), 3, "ratio", "e2e_sent_per_s_latency50 / e2e_sent_per_s (target ≥ 0.7)")
	r.add("ack_vs_redis_read_100k", ratio(r.get("ack_ms_100k"), r.get("redis_read_ms_100k")), 3, "ratio", "ack_ms_100k / redis_read_ms_100k (target ≤ 3)")
	r.add("rate_limiter_overhead_ratio", ratio(r.get("e2e_sent_per_s_no_limit"), r.get("e2e_sent_per_s_limit_1m")), 3, "ratio",
		"e2e rate with SMS_RATE_LIMIT unset / set to 1000000 (> 1: what the limiter costs)")
	r.add("worker_rss_big_vs_small", ratio(r.get("worker_rss_mb_1m"), r.get("worker_rss_mb_1k")), 3, "ratio", "worker_rss_mb_1m / worker_rss_mb_1k (target ≤ 1.5)")
	if b.s.ack != 100_000 || b.s.ackBig != 1_000_000 {
		r.note("ack_ms_100k, redis_read_ms_100k measured with %s customers; ack_ms_1m with %s", fmtN(b.s.ack), fmtN(b.s.ackBig))
	}
	if b.s.rssSmall != 1_000 || b.s.rssBig != 1_000_000 {
		r.note("worker_rss_mb_1k measured with %s customers; worker_rss_mb_1m with %s", fmtN(b.s.rssSmall), fmtN(b.s.rssBig))
	}
	if b.s.e2e != 200_000 || b.s.latency != b.s.e2e {
		r.note("e2e_sent_per_s measured with %s customers; e2e_sent_per_s_latency50 with %s", fmtN(b.s.e2e), fmtN(b.s.latency))
	}
	r.note("machine: %d CPUs; Redis, the fake provider, the api and %d workers share them; direct client and baseline: %d senders",
		runtime.NumCPU(), b.s.workers, b.conc)
}
