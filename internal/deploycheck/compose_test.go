package deploycheck

import (
	"maps"
	"net"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"

	"github.com/campaignsms/campaignsms/internal/config"
)

// programOf is the program each application service of the compose file runs.
var programOf = map[string]string{"api": config.ProgramAPI, "worker": config.ProgramWorker}

// loadCompose loads docker-compose.yml as `docker compose` does, with env as
// the only environment (no OS variables, no .env file).
func loadCompose(t *testing.T, env map[string]string) (*types.Project, error) {
	t.Helper()
	root := repoRoot(t)
	var list []string
	for k, v := range env {
		list = append(list, k+"="+v)
	}
	opts, err := cli.NewProjectOptions([]string{filepath.Join(root, "docker-compose.yml")},
		cli.WithWorkingDirectory(root), cli.WithEnv(list))
	if err != nil {
		t.Fatal(err)
	}
	return opts.LoadProject(t.Context())
}

func mustLoadCompose(t *testing.T, env map[string]string) *types.Project {
	t.Helper()
	p, err := loadCompose(t, env)
	if err != nil {
		t.Fatalf("load docker-compose.yml: %v", err)
	}
	return p
}

func service(t *testing.T, p *types.Project, name string) types.ServiceConfig {
	t.Helper()
	s, ok := p.Services[name]
	if !ok {
		t.Fatalf("docker-compose.yml: no service %q (have %v)", name, slices.Sorted(maps.Keys(p.Services)))
	}
	return s
}

// recordingEnv is the getenv that config.Load sees: the service's resolved
// environment, and nothing else. It remembers which names were asked for.
type recordingEnv struct {
	env  types.MappingWithEquals
	read map[string]bool
}

func (r *recordingEnv) getenv(name string) string {
	r.read[name] = true
	if v, ok := r.env[name]; ok && v != nil {
		return *v
	}
	return ""
}

// loadConfig runs config.Load on the environment the compose file gives the
// service, and fails the test for any variable that config.Load did not read:
// a misspelt or unknown variable would be silently ignored by the program.
func loadConfig(t *testing.T, s types.ServiceConfig) config.Config {
	t.Helper()
	program := programOf[s.Name]
	r := &recordingEnv{env: s.Environment, read: map[string]bool{}}
	cfg, err := config.Load(r.getenv, program)
	if err != nil {
		t.Fatalf("service %s: config.Load(%s) refuses the compose environment: %v", s.Name, program, err)
	}
	for name := range s.Environment {
		if !r.read[name] {
			t.Errorf("service %s sets %s, which config.Load(%s) does not read", s.Name, name, program)
		}
	}
	return cfg
}

// minimalEnv is what a local `docker compose up` needs from the shell.
var minimalEnv = map[string]string{"API_TOKENS": "s3cret:acme"}

func TestComposeServices(t *testing.T) {
	p := mustLoadCompose(t, minimalEnv)
	root := repoRoot(t)

	redis := service(t, p, "redis")
	if !strings.HasPrefix(redis.Image, "redis:") {
		t.Errorf("redis: image %q, want redis:…", redis.Image)
	}
	cmd := strings.Join(redis.Command, " ")
	for _, want := range []string{"--appendonly yes", "--appendfsync everysec"} {
		if !strings.Contains(cmd, want) {
			t.Errorf("redis: command %q lacks %q (AOF)", cmd, want)
		}
	}
	if !slices.ContainsFunc(redis.Volumes, func(v types.ServiceVolumeConfig) bool {
		return v.Type == types.VolumeTypeVolume && v.Target == "/data" && p.Volumes[v.Source].Name != ""
	}) {
		t.Errorf("redis: no named volume on /data, where the AOF lives: %+v", redis.Volumes)
	}
	checkHealthcheck(t, redis, "redis-cli", "ping")

	for _, name := range []string{"api", "worker"} {
		s := service(t, p, name)
		if s.Build == nil {
			t.Errorf("%s: no build section", name)
		} else {
			if filepath.Clean(s.Build.Context) != root {
				t.Errorf("%s: build context %q, want the repository root %q", name, s.Build.Context, root)
			}
			if s.Build.Dockerfile != "Dockerfile" {
				t.Errorf("%s: dockerfile %q, want Dockerfile", name, s.Build.Dockerfile)
			}
		}
		dep, ok := s.DependsOn["redis"]
		if !ok || dep.Condition != types.ServiceConditionHealthy {
			t.Errorf("%s: depends_on redis %+v, want condition %s", name, dep, types.ServiceConditionHealthy)
		}
		if got := []string(s.Command); !slices.Equal(got, []string{name}) {
			t.Errorf("%s: command %q, want [%q] (the binary in the image)", name, got, name)
		}
	}
	// One image for both programs: compose builds it once.
	if api, worker := service(t, p, "api"), service(t, p, "worker"); api.Image == "" || api.Image != worker.Image {
		t.Errorf("api and worker images %q and %q, want one shared name", api.Image, worker.Image)
	}

	worker := service(t, p, "worker")
	if worker.GetScale() < 2 {
		t.Errorf("worker: %d replica(s), want several", worker.GetScale())
	}
	if len(worker.Ports) != 0 {
		t.Errorf("worker: publishes ports %+v; with several replicas they would clash on the host", worker.Ports)
	}
}

func checkHealthcheck(t *testing.T, s types.ServiceConfig, wants ...string) {
	t.Helper()
	hc := s.HealthCheck
	if hc == nil || hc.Disable || len(hc.Test) < 2 || hc.Test[0] == "NONE" {
		t.Errorf("%s: no healthcheck", s.Name)
		return
	}
	test := strings.Join(hc.Test[1:], " ")
	for _, w := range wants {
		if !strings.Contains(test, w) {
			t.Errorf("%s: healthcheck %q lacks %q", s.Name, test, w)
		}
	}
	if hc.Interval == nil || hc.Timeout == nil || hc.Retries == nil {
		t.Errorf("%s: healthcheck without interval, timeout or retries: %+v", s.Name, hc)
	}
}

func port(t *testing.T, addr string) string {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("address %q: %v", addr, err)
	}
	return p
}

// The environment compose gives each program is accepted by config.Load,
// agrees with the published port, the healthchecks and the stop timeout, and,
// with nothing set in the shell but API_TOKENS, yields the programs' own
// defaults: a default written into the compose file cannot drift from the code.
func TestComposeEnvironmentDefaults(t *testing.T) {
	p := mustLoadCompose(t, minimalEnv)
	api, worker := service(t, p, "api"), service(t, p, "worker")
	apiCfg, workerCfg := loadConfig(t, api), loadConfig(t, worker)

	redisURL := "redis://redis:6379/0"
	for _, s := range []types.ServiceConfig{api, worker} {
		if v := s.Environment["REDIS_URL"]; v == nil || *v != redisURL {
			t.Errorf("%s: REDIS_URL %v, want %s (the redis service)", s.Name, v, redisURL)
		}
	}

	for _, c := range []struct {
		program string
		got     config.Config
	}{{config.ProgramAPI, apiCfg}, {config.ProgramWorker, workerCfg}} {
		env := map[string]string{"REDIS_URL": redisURL, "API_TOKENS": minimalEnv["API_TOKENS"]}
		if c.program == config.ProgramWorker {
			delete(env, "API_TOKENS") // the worker serves no API; the compose file gives it none
		}
		want, err := config.Load(func(k string) string { return env[k] }, c.program)
		if err != nil {
			t.Fatal(err)
		}
		gv, wv := reflect.ValueOf(c.got), reflect.ValueOf(want)
		for i := range gv.NumField() {
			if !gv.Type().Field(i).IsExported() {
				continue
			}
			if g, w := gv.Field(i).Interface(), wv.Field(i).Interface(); !reflect.DeepEqual(g, w) {
				t.Errorf("%s: Config.%s is %v with the compose defaults, %v with the program's own", c.program, gv.Type().Field(i).Name, g, w)
			}
		}
	}

	apiPort := port(t, apiCfg.HTTPAddr)
	if !slices.ContainsFunc(api.Ports, func(pc types.ServicePortConfig) bool {
		return strconv.FormatUint(uint64(pc.Target), 10) == apiPort && pc.Published != ""
	}) {
		t.Errorf("api: no published port to HTTP_ADDR's %s: %+v", apiPort, api.Ports)
	}
	checkHealthcheck(t, api, "127.0.0.1:"+apiPort+"/readyz")

	metricsPort := port(t, workerCfg.MetricsAddr)
	checkHealthcheck(t, worker, "127.0.0.1:"+metricsPort+"/healthz")
	if !slices.Contains([]string(worker.Expose), metricsPort) {
		t.Errorf("worker: expose %v lacks METRICS_ADDR's %s (Prometheus scrapes it)", worker.Expose, metricsPort)
	}
	checkStopGrace(t, worker, workerCfg)
}

// A stopping worker hands running batches back within SHUTDOWN_TIMEOUT; Docker
// must not kill it before.
func checkStopGrace(t *testing.T, worker types.ServiceConfig, cfg config.Config) {
	t.Helper()
	grace := 10 * time.Second // Docker's default
	if worker.StopGracePeriod != nil {
		grace = time.Duration(*worker.StopGracePeriod)
	}
	if grace <= cfg.ShutdownTimeout {
		t.Errorf("worker: stop_grace_period %s is not longer than SHUTDOWN_TIMEOUT %s", grace, cfg.ShutdownTimeout)
	}
}

// Every setting the compose file offers reaches the program: a value set in
// the shell comes out of config.Load.
func TestComposeEnvironmentOverrides(t *testing.T) {
	env := map[string]string{
		"API_TOKENS":          "tok-a:acme,tok-b:globex",
		"DEMO_DATA":           "true",
		"BATCH_SIZE":          "250",
		"MONITORING_USER":     "ops",
		"MONITORING_PASSWORD": "pa ss$word",
		"MONITORING_READONLY": "false",
		"DLR_TOKEN":           "dlr-secret",
		"LOG_LEVEL":           "debug",
		"WORKER_CONCURRENCY":  "7",
		"SEND_CONCURRENCY":    "9",
		"SMS_PROVIDER":        "webhook",
		"SMS_WEBHOOK_URL":     "https://sms.example/send",
		"SMS_WEBHOOK_TOKEN":   "hook-secret",
		"SMS_RATE_LIMIT":      "100",
		"SEND_MAX_ATTEMPTS":   "3",
		"RECONCILE_INTERVAL":  "1m",
		"SHUTDOWN_TIMEOUT":    "20s",
	}
	p := mustLoadCompose(t, env)
	api, worker := service(t, p, "api"), service(t, p, "worker")
	a, w := loadConfig(t, api), loadConfig(t, worker)

	got := map[string]any{
		"API_TOKENS":          a.Tokens,
		"DEMO_DATA":           a.DemoData,
		"BATCH_SIZE":          a.BatchSize,
		"MONITORING_USER":     a.MonitoringUser,
		"MONITORING_PASSWORD": a.MonitoringPassword,
		"MONITORING_READONLY": a.MonitoringReadOnly,
		"DLR_TOKEN":           a.DLRToken,
		"LOG_LEVEL (api)":     a.LogLevel.String(),
		"LOG_LEVEL (worker)":  w.LogLevel.String(),
		"WORKER_CONCURRENCY":  w.WorkerConcurrency,
		"SEND_CONCURRENCY":    w.SendConcurrency,
		"SMS_PROVIDER":        w.SMSProvider,
		"SMS_WEBHOOK_URL":     w.SMSWebhookURL,
		"SMS_WEBHOOK_TOKEN":   w.SMSWebhookToken,
		"SMS_RATE_LIMIT":      w.SMSRateLimit,
		"SEND_MAX_ATTEMPTS":   w.SendMaxAttempts,
		"RECONCILE_INTERVAL":  w.ReconcileInterval,
		"SHUTDOWN_TIMEOUT":    w.ShutdownTimeout,
	}
	want := map[string]any{
		"API_TOKENS":          map[string]string{"tok-a": "acme", "tok-b": "globex"},
		"DEMO_DATA":           true,
		"BATCH_SIZE":          250,
		"MONITORING_USER":     "ops",
		"MONITORING_PASSWORD": "pa ss$word",
		"MONITORING_READONLY": false,
		"DLR_TOKEN":           "dlr-secret",
		"LOG_LEVEL (api)":     "debug",
		"LOG_LEVEL (worker)":  "debug",
		"WORKER_CONCURRENCY":  7,
		"SEND_CONCURRENCY":    9,
		"SMS_PROVIDER":        "webhook",
		"SMS_WEBHOOK_URL":     "https://sms.example/send",
		"SMS_WEBHOOK_TOKEN":   "hook-secret",
		"SMS_RATE_LIMIT":      100,
		"SEND_MAX_ATTEMPTS":   3,
		"RECONCILE_INTERVAL":  time.Minute,
		"SHUTDOWN_TIMEOUT":    20 * time.Second,
	}
	for k, wv := range want {
		if !reflect.DeepEqual(got[k], wv) {
			t.Errorf("%s set in the shell: the program sees %v, want %v", k, got[k], wv)
		}
	}
	checkStopGrace(t, worker, w)
}

// API_TOKENS has no default: the API is published, and a well-known token
// would open it to anyone who can reach the port.
func TestComposeRequiresAPITokens(t *testing.T) {
	_, err := loadCompose(t, nil)
	if err == nil || !strings.Contains(err.Error(), "API_TOKENS") {
		t.Fatalf("docker-compose.yml without API_TOKENS: err %v, want one naming API_TOKENS", err)
	}
}

// The healthchecks of api and worker run wget inside the image: the final
// stage must have it (busybox in alpine).
func TestComposeHealthcheckToolInImage(t *testing.T) {
	p := mustLoadCompose(t, minimalEnv)
	stages := parseDockerfile(t, readRootFile(t, "Dockerfile"))
	final := stages[len(stages)-1].image
	for _, name := range []string{"api", "worker"} {
		s := service(t, p, name)
		if s.HealthCheck == nil || len(s.HealthCheck.Test) < 2 {
			continue // reported by the other tests
		}
		tool := s.HealthCheck.Test[1]
		if s.HealthCheck.Test[0] == "CMD-SHELL" {
			tool = strings.Fields(tool)[0]
		}
		if tool == "wget" && !strings.HasPrefix(final, "alpine") && !strings.HasPrefix(final, "busybox") {
			t.Errorf("%s: the healthcheck runs wget, which the final image %s may not have", name, final)
		}
	}
}
