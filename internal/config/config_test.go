package config

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"
)

const testRedis = "redis://redis.internal:6379/0"

// envOf is a getenv over a map, so tests never touch the process environment.
func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// with returns base plus the overrides, leaving base unchanged.
func with(base map[string]string, kv ...string) map[string]string {
	m := make(map[string]string, len(base)+len(kv)/2)
	for k, v := range base {
		m[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

func defaults() Config {
	return Config{
		BatchSize:          500,
		WorkerConcurrency:  10,
		SendConcurrency:    50,
		SMSProvider:        "log",
		SMSWebhookBatch:    1,
		SendMaxAttempts:    5,
		MonitoringReadOnly: true,
		MetricsAddr:        ":9091",
		LogLevel:           zapcore.InfoLevel,
		ReconcileInterval:  30 * time.Second,
		ShutdownTimeout:    10 * time.Second,
		AmbiguousSends:     "resend",
	}
}

func TestLoadDefaults(t *testing.T) {
	t.Parallel()
	apiEmbedded := defaults()
	apiEmbedded.Program = "api"
	apiEmbedded.HTTPAddr = "127.0.0.1:8080"
	apiEmbedded.Tokens = map[string]string{"dev-token": "default"}
	apiEmbedded.TokensFromDefault = true
	apiEmbedded.DemoData = true

	apiRedis := defaults()
	apiRedis.Program = "api"
	apiRedis.HTTPAddr = ":8080"
	apiRedis.RedisURL = testRedis
	apiRedis.Tokens = map[string]string{"t1": "acme"}

	worker := defaults()
	worker.Program = "worker"
	worker.HTTPAddr = ":8080"
	worker.RedisURL = testRedis

	workerTokens := worker
	workerTokens.Tokens = map[string]string{"t1": "acme"}

	apiEmbeddedTokens := apiEmbedded
	apiEmbeddedTokens.Tokens = map[string]string{"t1": "acme"}
	apiEmbeddedTokens.TokensFromDefault = false

	tests := []struct {
		name    string
		program string
		env     map[string]string
		want    Config
	}{
		{"api embedded", "api", nil, apiEmbedded},
		{"api embedded with tokens", "api", map[string]string{"API_TOKENS": "t1:acme"}, apiEmbeddedTokens},
		{"api redis", "api", map[string]string{"REDIS_URL": testRedis, "API_TOKENS": "t1:acme"}, apiRedis},
		{"worker redis", "worker", map[string]string{"REDIS_URL": testRedis}, worker},
		{"worker with tokens", "worker", map[string]string{"REDIS_URL": testRedis, "API_TOKENS": "t1:acme"}, workerTokens},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := Load(envOf(tc.env), tc.program)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Load =\n%+v\nwant\n%+v", got, tc.want)
			}
			if got.Embedded() != (tc.env["REDIS_URL"] == "") {
				t.Errorf("Embedded() = %v", got.Embedded())
			}
		})
	}
}

func TestLoadValues(t *testing.T) {
	t.Parallel()
	env := map[string]string{
		"REDIS_URL":           " " + testRedis + " ",
		"HTTP_ADDR":           "0.0.0.0:9000",
		"API_TOKENS":          " a:org1, b:org2 ,c:d:org3,",
		"DEMO_DATA":           "yes",
		"BATCH_SIZE":          " 10000 ",
		"WORKER_CONCURRENCY":  "3",
		"SEND_CONCURRENCY":    "7",
		"SMS_PROVIDER":        "WEBHOOK",
		"SMS_WEBHOOK_URL":     "https://sms.example/send?key=k",
		"SMS_WEBHOOK_TOKEN":   "wh",
		"SMS_RATE_LIMIT":      "100",
		"SEND_MAX_ATTEMPTS":   "1",
		"MONITORING_USER":     "ops",
		"MONITORING_PASSWORD": " pw ",
		"MONITORING_READONLY": "false",
		"METRICS_ADDR":        "127.0.0.1:0",
		"DLR_TOKEN":           "dlr",
		"LOG_LEVEL":           "DEBUG",
		"RECONCILE_INTERVAL":  "1m30s",
		"SHUTDOWN_TIMEOUT":    "250ms",
		"AMBIGUOUS_SENDS":     "FAIL",
	}
	want := Config{
		Program:            "api",
		HTTPAddr:           "0.0.0.0:9000",
		RedisURL:           testRedis,
		Tokens:             map[string]string{"a": "org1", "b": "org2", "c:d": "org3"},
		DemoData:           true,
		BatchSize:          10000,
		WorkerConcurrency:  3,
		SendConcurrency:    7,
		SMSProvider:        "webhook",
		SMSWebhookURL:      "https://sms.example/send?key=k",
		SMSWebhookToken:    "wh",
		SMSRateLimit:       100,
		SMSWebhookBatch:    1,
		SendMaxAttempts:    1,
		MonitoringUser:     "ops",
		MonitoringPassword: " pw ",
		MetricsAddr:        "127.0.0.1:0",
		DLRToken:           "dlr",
		LogLevel:           zapcore.DebugLevel,
		ReconcileInterval:  90 * time.Second,
		ShutdownTimeout:    250 * time.Millisecond,
		AmbiguousSends:     "fail",
	}
	got, err := Load(envOf(env), "api")
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Load =\n%+v\nwant\n%+v", got, want)
	}
}

func TestLoadErrors(t *testing.T) {
	t.Parallel()
	const secret = "hunter2"
	redisEnv := map[string]string{"REDIS_URL": testRedis, "API_TOKENS": "t1:acme"}
	tests := []struct {
		name    string
		program string
		env     map[string]string
		wantVar string
	}{
		{"worker without redis", "worker", nil, "REDIS_URL"},
		{"api redis without tokens", "api", map[string]string{"REDIS_URL": testRedis}, "API_TOKENS"},
		{"unknown program", "cron", nil, "program"},

		{"batch not a number", "api", with(redisEnv, "BATCH_SIZE", "abc"), "BATCH_SIZE"},
		{"batch fraction", "api", with(redisEnv, "BATCH_SIZE", "1.5"), "BATCH_SIZE"},
		{"batch negative", "api", with(redisEnv, "BATCH_SIZE", "-1"), "BATCH_SIZE"},
		{"batch zero", "api", with(redisEnv, "BATCH_SIZE", "0"), "BATCH_SIZE"},
		{"batch too large", "api", with(redisEnv, "BATCH_SIZE", "10001"), "BATCH_SIZE"},
		{"batch overflow", "api", with(redisEnv, "BATCH_SIZE", "99999999999999999999999"), "BATCH_SIZE"},
		{"worker concurrency zero", "worker", with(redisEnv, "WORKER_CONCURRENCY", "0"), "WORKER_CONCURRENCY"},
		{"send concurrency negative", "worker", with(redisEnv, "SEND_CONCURRENCY", "-3"), "SEND_CONCURRENCY"},
		{"rate limit negative", "worker", with(redisEnv, "SMS_RATE_LIMIT", "-1"), "SMS_RATE_LIMIT"},
		{"rate limit word", "worker", with(redisEnv, "SMS_RATE_LIMIT", "fast"), "SMS_RATE_LIMIT"},
		{"attempts zero", "worker", with(redisEnv, "SEND_MAX_ATTEMPTS", "0"), "SEND_MAX_ATTEMPTS"},
		{"demo data", "api", with(redisEnv, "DEMO_DATA", "maybe"), "DEMO_DATA"},
		{"readonly", "api", with(redisEnv, "MONITORING_READONLY", "2"), "MONITORING_READONLY"},
		{"log level", "api", with(redisEnv, "LOG_LEVEL", "loud"), "LOG_LEVEL"},
		{"reconcile without unit", "worker", with(redisEnv, "RECONCILE_INTERVAL", "30"), "RECONCILE_INTERVAL"},
		{"reconcile zero", "worker", with(redisEnv, "RECONCILE_INTERVAL", "0s"), "RECONCILE_INTERVAL"},
		{"shutdown negative", "api", with(redisEnv, "SHUTDOWN_TIMEOUT", "-1s"), "SHUTDOWN_TIMEOUT"},
		{"ambiguous sends word", "worker", with(redisEnv, "AMBIGUOUS_SENDS", "maybe"), "AMBIGUOUS_SENDS"},
		{"http addr no port", "api", with(redisEnv, "HTTP_ADDR", "8080"), "HTTP_ADDR"},
		{"metrics addr bad port", "worker", with(redisEnv, "METRICS_ADDR", ":abc"), "METRICS_ADDR"},
		{"unknown provider", "worker", with(redisEnv, "SMS_PROVIDER", "sns"), "SMS_PROVIDER"},
		{"webhook without url", "worker", with(redisEnv, "SMS_PROVIDER", "webhook"), "SMS_WEBHOOK_URL"},
		{"webhook relative url", "worker", with(redisEnv, "SMS_PROVIDER", "webhook", "SMS_WEBHOOK_URL", "/send?key="+secret), "SMS_WEBHOOK_URL"},
		{"webhook ftp url", "worker", with(redisEnv, "SMS_PROVIDER", "webhook", "SMS_WEBHOOK_URL", "ftp://u:"+secret+"@x/"), "SMS_WEBHOOK_URL"},
		{"webhook bad url", "worker", with(redisEnv, "SMS_PROVIDER", "webhook", "SMS_WEBHOOK_URL", "http://x/%zz"+secret), "SMS_WEBHOOK_URL"},
		{"webhook url no host", "worker", with(redisEnv, "SMS_WEBHOOK_URL", "https:///"+secret), "SMS_WEBHOOK_URL"},
		{"webhook token space", "worker", with(redisEnv, "SMS_WEBHOOK_TOKEN", secret+" x"), "SMS_WEBHOOK_TOKEN"},
		{"dlr token control", "api", with(redisEnv, "DLR_TOKEN", secret+"\x01"), "DLR_TOKEN"},
		{"monitoring user alone", "api", with(redisEnv, "MONITORING_USER", "ops"), "MONITORING_PASSWORD"},
		{"monitoring password alone", "api", with(redisEnv, "MONITORING_PASSWORD", secret), "MONITORING_USER"},
		{"monitoring user colon", "api", with(redisEnv, "MONITORING_USER", "o:ps", "MONITORING_PASSWORD", secret), "MONITORING_USER"},

		{"token without org", "api", with(redisEnv, "API_TOKENS", secret), "API_TOKENS"},
		{"token empty org", "api", with(redisEnv, "API_TOKENS", secret+":"), "API_TOKENS"},
		{"token empty token", "api", with(redisEnv, "API_TOKENS", " :acme"), "API_TOKENS"},
		{"token duplicate", "api", with(redisEnv, "API_TOKENS", secret+":a, "+secret+":b"), "API_TOKENS"},
		{"token with space", "api", with(redisEnv, "API_TOKENS", secret+" x:acme"), "API_TOKENS"},
		{"org reversed", "api", with(redisEnv, "API_TOKENS", "acme:"+secret+"/x"), "API_TOKENS"},
		{"tokens only commas", "api", with(redisEnv, "API_TOKENS", " , ,"), "API_TOKENS"},
		{"bad tokens in worker env", "worker", with(redisEnv, "API_TOKENS", secret), "API_TOKENS"},

		{"redis scheme", "api", with(redisEnv, "REDIS_URL", "http://u:"+secret+"@h"), "REDIS_URL"},
		{"redis not url", "api", with(redisEnv, "REDIS_URL", secret), "REDIS_URL"},
		{"redis bad port", "api", with(redisEnv, "REDIS_URL", "redis://u:"+secret+"@h:port/0"), "REDIS_URL"},
		{"redis bad db", "worker", with(redisEnv, "REDIS_URL", "redis://u:"+secret+"@h/x"), "REDIS_URL"},
		{"redis unescaped slash", "worker", with(redisEnv, "REDIS_URL", "redis://u:a/"+secret+"@h/0"), "REDIS_URL"},
		{"redis bad escape", "worker", with(redisEnv, "REDIS_URL", "redis://u:%zz"+secret+"@h/0"), "REDIS_URL"},
		{"sentinel without master", "worker", with(redisEnv, "REDIS_URL", "redis-sentinel://u:"+secret+"@a,b/0"), "REDIS_URL"},
		{"sentinel bad query", "worker", with(redisEnv, "REDIS_URL", "redis-sentinel://a/0?master=m&sentinel_password=%zz"+secret), "REDIS_URL"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := Load(envOf(tc.env), tc.program)
			if err == nil {
				t.Fatalf("Load succeeded: %+v", got)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "config: ") || !strings.Contains(msg, tc.wantVar) {
				t.Errorf("error %q does not name %s", msg, tc.wantVar)
			}
			if strings.ContainsAny(msg, "\n\r") {
				t.Errorf("error %q is more than one line", msg)
			}
			if strings.Contains(msg, secret) {
				t.Errorf("error %q leaks the secret", msg)
			}
			if !reflect.DeepEqual(got, Config{}) {
				t.Errorf("Load returned a config with its error: %+v", got)
			}
		})
	}
}

func TestLoadErrorMessages(t *testing.T) {
	t.Parallel()
	tests := []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"BATCH_SIZE": "abc"}, `config: BATCH_SIZE: "abc" is not a whole number`},
		{map[string]string{"BATCH_SIZE": "-1"}, `config: BATCH_SIZE: -1 is negative; want a whole number from 1 to 10000`},
		{map[string]string{"SMS_PROVIDER": "sns"}, `config: SMS_PROVIDER: "sns" is not a known provider (want log, webhook, msg91, exotel, kaleyra, gupshup, twilio)`},
		{map[string]string{"SMS_PROVIDER": "webhook"}, `config: SMS_WEBHOOK_URL: required when SMS_PROVIDER=webhook`},
		{map[string]string{"API_TOKENS": "a:x,b:y,a:z"}, `config: API_TOKENS: entry 3 repeats the token of entry 1`},
	}
	for _, tc := range tests {
		t.Run(tc.want, func(t *testing.T) {
			t.Parallel()
			_, err := Load(envOf(tc.env), "api")
			if err == nil || err.Error() != tc.want {
				t.Errorf("err = %v, want %s", err, tc.want)
			}
		})
	}
}

func TestLoadNilGetenv(t *testing.T) {
	t.Parallel()
	if _, err := Load(nil, "api"); err == nil {
		t.Fatal("Load(nil) succeeded")
	}
}

func TestRedisOptions(t *testing.T) {
	t.Parallel()
	embedded := Config{}
	if opts, err := embedded.RedisOptions(); opts != nil || err != nil {
		t.Errorf("embedded RedisOptions = %v, %v; want nil, nil", opts, err)
	}
	c := Config{RedisURL: "redis://h:1/4"}
	a, err := c.RedisOptions()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := c.RedisOptions()
	a.Addrs[0] = "changed"
	if b.Addrs[0] != "h:1" || b.DB != 4 {
		t.Errorf("RedisOptions shares state between calls: %v", b.Addrs)
	}
	if _, err := (Config{RedisURL: "nope"}).RedisOptions(); err == nil || !strings.Contains(err.Error(), "REDIS_URL") {
		t.Errorf("bad URL error = %v", err)
	}
}

func TestFieldsMaskSecrets(t *testing.T) {
	t.Parallel()
	secrets := []string{"tok-alpha-1", "tok-beta-2", "redispw-3", "sentpw-4", "whtoken-5", "whkey-6", "monpw-7", "dlr-8", "whpass-9"}
	env := map[string]string{
		"REDIS_URL":           "redis-sentinel://app:redispw-3@s1,s2:26380/2?master=mm&sentinel_password=sentpw-4",
		"API_TOKENS":          "tok-alpha-1:acme,tok-beta-2:globex",
		"SMS_PROVIDER":        "webhook",
		"SMS_WEBHOOK_URL":     "https://hook:whpass-9@sms.example/send?key=whkey-6",
		"SMS_WEBHOOK_TOKEN":   "whtoken-5",
		"MONITORING_USER":     "ops",
		"MONITORING_PASSWORD": "monpw-7",
		"DLR_TOKEN":           "dlr-8",
	}
	c, err := Load(envOf(env), "api")
	if err != nil {
		t.Fatal(err)
	}
	got := renderFields(c)
	for _, s := range secrets {
		if strings.Contains(got, s) {
			t.Errorf("Fields leak %q: %s", s, got)
		}
	}
	for _, want := range []string{
		"api_tokens=2", "api_token_orgs=[acme globex]",
		"redis_url=redis-sentinel://app:***@s1:26379,s2:26380/2?master=mm&sentinel_password=***",
		"redis_kind=sentinel", "sms_webhook_url=https://hook:***@sms.example/send",
		"sms_webhook_token=***", "monitoring_password=***", "dlr_token=***", "monitoring_user=ops",
		"batch_size=500", "log_level=info", "reconcile_interval=30s", "program=api",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("Fields lack %q: %s", want, got)
		}
	}

	local, err := Load(envOf(nil), "api")
	if err != nil {
		t.Fatal(err)
	}
	got = renderFields(local)
	for _, want := range []string{"redis_kind=embedded", "api_tokens_default=true", "dlr_token= ", "api_token_orgs=[default]"} {
		if !strings.Contains(got, want) {
			t.Errorf("embedded Fields lack %q: %s", want, got)
		}
	}
}

// renderFields encodes the fields as "key=value" pairs in order.
func renderFields(c Config) string {
	var b strings.Builder
	for _, f := range c.Fields() {
		enc := zapcore.NewMapObjectEncoder()
		f.AddTo(enc)
		v := enc.Fields[f.Key]
		if d, ok := v.(time.Duration); ok {
			v = d.String()
		}
		fmt.Fprintf(&b, "%s=%v ", f.Key, v)
	}
	return b.String()
}
