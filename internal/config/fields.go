package config

import (
	"net/url"
	"strings"

	"go.uber.org/zap"
)

const masked = "***"

// Fields describes every setting for the start-up log line. Secrets are
// masked: tokens appear as a count and their orgs, passwords and bearer
// tokens as "***" when set, URLs without their passwords and query strings.
func (c Config) Fields() []zap.Field {
	redisURL := RedactedRedisURL(c.RedisURL)
	if c.Embedded() {
		redisURL = "(embedded in-memory Redis)"
	}
	return append([]zap.Field{
		zap.String("program", c.Program),
		zap.String("http_addr", c.HTTPAddr),
		zap.String("redis_url", redisURL),
		zap.String("redis_kind", RedisKind(c.RedisURL)),
		zap.Int("api_tokens", len(c.Tokens)),
		zap.Strings("api_token_orgs", orgNames(c.Tokens)),
		zap.Bool("api_tokens_default", c.TokensFromDefault),
		zap.Bool("demo_data", c.DemoData),
		zap.Int("batch_size", c.BatchSize),
		zap.Int("worker_concurrency", c.WorkerConcurrency),
		zap.Int("send_concurrency", c.SendConcurrency),
		zap.String("sms_provider", c.SMSProvider),
		zap.String("sms_webhook_url", redactWebhookURL(c.SMSWebhookURL)),
		zap.String("sms_webhook_token", mask(c.SMSWebhookToken)),
		zap.Int("sms_rate_limit", c.SMSRateLimit),
		zap.Int("send_max_attempts", c.SendMaxAttempts),
		zap.String("monitoring_user", c.MonitoringUser),
		zap.String("monitoring_password", mask(c.MonitoringPassword)),
		zap.Bool("monitoring_readonly", c.MonitoringReadOnly),
		zap.String("metrics_addr", c.MetricsAddr),
		zap.String("dlr_token", mask(c.DLRToken)),
		zap.Stringer("log_level", c.LogLevel),
		zap.Duration("reconcile_interval", c.ReconcileInterval),
		zap.Duration("shutdown_timeout", c.ShutdownTimeout),
		zap.String("ambiguous_sends", c.AmbiguousSends),
	}, c.providerFields()...)
}

// RedactedRedisURL is raw with its passwords replaced by "***", for logs and
// error reports; "" stays "" and an unparsable URL becomes "(invalid)".
func RedactedRedisURL(raw string) string {
	return redactRedisURL(raw)
}

func mask(secret string) string {
	if secret == "" {
		return ""
	}
	return masked
}

// redactWebhookURL drops the query string, where providers like to put API
// keys, and the password of any user info.
func redactWebhookURL(raw string) string {
	if raw == "" {
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "(invalid)"
	}
	u.RawQuery, u.ForceQuery, u.Fragment, u.RawFragment = "", false, "", ""
	if u.User == nil {
		return u.String()
	}
	if _, ok := u.User.Password(); !ok {
		return u.String()
	}
	// url.Userinfo would percent-encode the stars; mark the spot instead. An
	// escaped user name holds no ':', so ":marker@" occurs once.
	const marker = "REDACTED"
	u.User = url.UserPassword(u.User.Username(), marker)
	return strings.Replace(u.String(), ":"+marker+"@", ":"+masked+"@", 1)
}
