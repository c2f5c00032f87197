// Package config reads the environment variables of SPEC §2 into a Config,
// once, at start. Every bad value is reported as one line naming the variable,
// and no secret ever appears in an error or in Fields.
package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap/zapcore"
)

// Programs that Load knows; they differ in what they require.
const (
	ProgramAPI    = "api"
	ProgramWorker = "worker"
)

// SMS providers of SPEC §2.
const (
	ProviderLog     = "log"
	ProviderWebhook = "webhook"
)

// MaxBatchSize bounds BATCH_SIZE: one asynq task carries the ids of its batch,
// and a huge payload would make every retry costly.
const MaxBatchSize = 10000

// Config is the whole configuration of cmd/api and cmd/worker.
type Config struct {
	Program string // ProgramAPI or ProgramWorker

	HTTPAddr string
	// RedisURL is the raw REDIS_URL, password included: log RedactedRedisURL
	// instead. Empty means the embedded in-memory Redis.
	RedisURL string
	// Tokens maps an API token to its org. Nil for the worker without API_TOKENS.
	Tokens map[string]string
	// TokensFromDefault is set when Tokens is the built-in dev-token, which
	// the caller should announce in the log.
	TokensFromDefault bool
	DemoData          bool

	BatchSize         int
	WorkerConcurrency int
	SendConcurrency   int // concurrent provider calls within one batch

	SMSProvider     string
	SMSWebhookURL   string
	SMSWebhookToken string
	SMSRateLimit    int // messages per second over all workers; 0 means no limit
	SendMaxAttempts int

	// SPEC §8 (providers.go).
	SMSFallbackProvider string
	SMSWebhookBatch     int
	// SMSRequestRate is SMS_REQUEST_RATE in requests per second; when
	// SMSRequestRateSet is false the provider's published limit applies.
	SMSRequestRate    float64
	SMSRequestRateSet bool
	// SMSCallbackURL is our public base URL as providers reach it; adapters
	// that take a callback URL per message get
	// {SMSCallbackURL}/api/v1/webhooks/dlr/{provider}.
	SMSCallbackURL string
	Gateways       Gateways

	MonitoringUser     string
	MonitoringPassword string
	MonitoringReadOnly bool

	MetricsAddr string
	DLRToken    string
	LogLevel    zapcore.Level

	ReconcileInterval time.Duration
	ShutdownTimeout   time.Duration
	// AmbiguousSends is AmbiguousResend or AmbiguousFail (SPEC 5).
	AmbiguousSends string
}

// AMBIGUOUS_SENDS values.
const (
	AmbiguousResend = "resend"
	AmbiguousFail   = "fail"
)

// Embedded reports whether the program runs on the embedded in-memory Redis.
func (c Config) Embedded() bool { return c.RedisURL == "" }

// RedisOptions parses RedisURL afresh, so each caller gets options it may
// mutate. It returns nil, nil on the embedded Redis.
func (c Config) RedisOptions() (*redis.UniversalOptions, error) {
	if c.Embedded() {
		return nil, nil
	}
	opts, err := ParseRedisURL(c.RedisURL)
	if err != nil {
		return nil, fmt.Errorf("config: REDIS_URL: %w", err)
	}
	return opts, nil
}

// Load reads the configuration of program ("api" or "worker") through getenv,
// normally os.Getenv; tests pass a map. It stops at the first bad variable.
func Load(getenv func(string) string, program string) (Config, error) {
	if getenv == nil {
		return Config{}, errors.New("config: no getenv function")
	}
	if program != ProgramAPI && program != ProgramWorker {
		return Config{}, fmt.Errorf("config: unknown program %q (want %q or %q)", program, ProgramAPI, ProgramWorker)
	}
	c := Config{Program: program, RedisURL: strings.TrimSpace(getenv("REDIS_URL"))}
	embedded := c.Embedded()
	if embedded && program == ProgramWorker {
		return Config{}, errors.New("config: REDIS_URL is required for cmd/worker (only cmd/api can run on the embedded Redis)")
	}
	if !embedded {
		if _, err := ParseRedisURL(c.RedisURL); err != nil {
			return Config{}, fmt.Errorf("config: REDIS_URL: %w", err)
		}
	}

	e := env{getenv: getenv}
	httpDefault := ":8080"
	if embedded {
		// Without a real deployment behind it, the local run has an open
		// dashboard and a well-known token: keep it off the network.
		httpDefault = "127.0.0.1:8080"
	}
	c.HTTPAddr = e.addr("HTTP_ADDR", httpDefault)
	c.Tokens, c.TokensFromDefault = e.tokens("API_TOKENS", program, embedded)
	c.DemoData = e.boolean("DEMO_DATA", embedded)
	c.BatchSize = e.integer("BATCH_SIZE", 500, 1, MaxBatchSize)
	c.WorkerConcurrency = e.integer("WORKER_CONCURRENCY", 10, 1, 10000)
	c.SendConcurrency = e.integer("SEND_CONCURRENCY", 50, 1, 10000)
	c.SMSProvider = e.provider("SMS_PROVIDER", ProviderLog)
	loadProviders(&e, &c)
	c.SMSWebhookURL = e.webhookURL("SMS_WEBHOOK_URL", c.webhookRequiredBy())
	c.SMSWebhookToken = e.headerSecret("SMS_WEBHOOK_TOKEN")
	c.SMSRateLimit = e.integer("SMS_RATE_LIMIT", 0, 0, 1_000_000)
	c.SendMaxAttempts = e.integer("SEND_MAX_ATTEMPTS", 5, 1, 1000)
	c.MonitoringUser, c.MonitoringPassword = e.basicAuth("MONITORING_USER", "MONITORING_PASSWORD")
	c.MonitoringReadOnly = e.boolean("MONITORING_READONLY", true)
	c.MetricsAddr = e.addr("METRICS_ADDR", ":9091")
	c.DLRToken = e.headerSecret("DLR_TOKEN")
	c.LogLevel = e.level("LOG_LEVEL", zapcore.InfoLevel)
	c.ReconcileInterval = e.duration("RECONCILE_INTERVAL", 30*time.Second)
	c.ShutdownTimeout = e.duration("SHUTDOWN_TIMEOUT", 10*time.Second)
	c.AmbiguousSends = e.choice("AMBIGUOUS_SENDS", AmbiguousResend, AmbiguousResend, AmbiguousFail)
	if e.err != nil {
		return Config{}, e.err
	}
	return c, nil
}

// env reads variables in order and keeps the first error, so Load reads as a
// plain list of settings. Every reader returns a zero value once err is set.
type env struct {
	getenv func(string) string
	err    error
}

func (e *env) get(name string) string {
	if e.err != nil {
		return ""
	}
	return strings.TrimSpace(e.getenv(name))
}

func (e *env) fail(name, format string, args ...any) {
	e.err = fmt.Errorf("config: %s: %s", name, fmt.Sprintf(format, args...))
}

// quote shows a non-secret bad value, cut short so one line stays one line.
func quote(v string) string {
	const limit = 64
	if len(v) > limit {
		v = v[:limit] + "…"
	}
	return strconv.Quote(v)
}

func (e *env) integer(name string, def, lo, hi int) int {
	v := e.get(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		if errors.Is(err, strconv.ErrRange) {
			e.fail(name, "%s is too large; want a whole number from %d to %d", quote(v), lo, hi)
		} else {
			e.fail(name, "%s is not a whole number", quote(v))
		}
		return 0
	}
	switch {
	case n < 0 && lo >= 0:
		e.fail(name, "%d is negative; want a whole number from %d to %d", n, lo, hi)
	case n < lo:
		e.fail(name, "%d is too small; want a whole number from %d to %d", n, lo, hi)
	case n > hi:
		e.fail(name, "%d is too large; want a whole number from %d to %d", n, lo, hi)
	}
	return n
}

// choice reads one of the allowed words (case-insensitive).
func (e *env) choice(name, def string, allowed ...string) string {
	v := strings.ToLower(e.get(name))
	if v == "" {
		return def
	}
	for _, a := range allowed {
		if v == a {
			return a
		}
	}
	e.fail(name, "%s is not one of %s", quote(v), strings.Join(allowed, ", "))
	return ""
}

func (e *env) boolean(name string, def bool) bool {
	v := e.get(name)
	if v == "" {
		return def
	}
	switch strings.ToLower(v) {
	case "1", "t", "true", "yes", "y", "on":
		return true
	case "0", "f", "false", "no", "n", "off":
		return false
	}
	e.fail(name, "%s is not a boolean (want true or false)", quote(v))
	return false
}

func (e *env) duration(name string, def time.Duration) time.Duration {
	v := e.get(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		e.fail(name, "%s is not a duration (want e.g. 30s, 2m or 1h)", quote(v))
		return 0
	}
	if d <= 0 {
		e.fail(name, "%s must be positive", quote(v))
	}
	return d
}

func (e *env) level(name string, def zapcore.Level) zapcore.Level {
	v := e.get(name)
	if v == "" {
		return def
	}
	var l zapcore.Level
	if err := l.UnmarshalText([]byte(v)); err != nil {
		e.fail(name, "%s is not a log level (want debug, info, warn or error)", quote(v))
	}
	return l
}

// addr checks a listen address such as ":8080" or "127.0.0.1:8080".
func (e *env) addr(name, def string) string {
	v := e.get(name)
	if v == "" {
		return def
	}
	_, port, err := net.SplitHostPort(v)
	if err != nil {
		e.fail(name, "%s is not a host:port address (want e.g. :8080)", quote(v))
		return ""
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		e.fail(name, "%s has no valid port (want a number from 0 to 65535)", quote(v))
	}
	return v
}

// webhookURL is checked even for the log provider: a set but broken URL is a
// mistake worth stopping for. The URL may carry credentials, so it is never
// quoted.
func (e *env) webhookURL(name, requiredBy string) string {
	v := e.get(name)
	if v == "" {
		if requiredBy != "" && e.err == nil {
			e.fail(name, "required when %s=webhook", requiredBy)
		}
		return ""
	}
	u, err := url.Parse(v)
	switch {
	case err != nil:
		e.fail(name, "not a valid URL")
	case u.Scheme != "http" && u.Scheme != "https":
		e.fail(name, "not an absolute http:// or https:// URL")
	case u.Host == "" || u.Hostname() == "":
		e.fail(name, "the URL has no host")
	case u.Fragment != "":
		e.fail(name, "the URL must not have a #fragment")
	}
	return v
}

// headerSecret reads a token sent or checked as "Authorization: Bearer …".
func (e *env) headerSecret(name string) string {
	v := e.get(name)
	if v == "" {
		return ""
	}
	if err := checkHeaderSecret(v); err != nil {
		e.fail(name, "the value %v", err)
	}
	return v
}

// basicAuth reads a user and password that only make sense together: one
// without the other would silently leave /monitoring/ closed or open.
func (e *env) basicAuth(userVar, passVar string) (string, string) {
	user := e.get(userVar)
	if e.err != nil {
		return "", ""
	}
	pass := e.getenv(passVar) // not trimmed: spaces may belong to a password
	switch {
	case user != "" && pass == "":
		e.fail(passVar, "required when %s is set", userVar)
	case user == "" && pass != "":
		e.fail(userVar, "required when %s is set", passVar)
	case strings.Contains(user, ":"):
		e.fail(userVar, "must not contain ':' (HTTP basic auth cannot carry it)")
	}
	return user, pass
}

func (e *env) tokens(name, program string, embedded bool) (map[string]string, bool) {
	v := e.get(name)
	if e.err != nil {
		return nil, false
	}
	if v == "" {
		switch {
		case program == ProgramWorker:
			// The worker serves no API.
			return nil, false
		case embedded:
			return map[string]string{DefaultToken: DefaultOrg}, true
		default:
			e.fail(name, "required with REDIS_URL (comma-separated token:org pairs)")
			return nil, false
		}
	}
	tokens, err := parseTokens(v)
	if err != nil {
		e.err = fmt.Errorf("config: %s: %w", name, err)
		return nil, false
	}
	return tokens, false
}
