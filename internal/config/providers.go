package config

import (
	"net/url"
	"strconv"
	"strings"

	"go.uber.org/zap"
)

// The SMS gateways of SPEC §8.
const (
	ProviderMSG91   = "msg91"
	ProviderExotel  = "exotel"
	ProviderKaleyra = "kaleyra"
	ProviderGupshup = "gupshup"
	ProviderTwilio  = "twilio"
)

// Providers lists every value SMS_PROVIDER and SMS_FALLBACK_PROVIDER take.
var providers = []string{ProviderLog, ProviderWebhook, ProviderMSG91, ProviderExotel, ProviderKaleyra, ProviderGupshup, ProviderTwilio}

// MaxWebhookBatch bounds SMS_WEBHOOK_BATCH.
const MaxWebhookBatch = 1000

// Gateways holds the SMS_<PROVIDER>_* variables. Only the providers in use
// (SMS_PROVIDER and SMS_FALLBACK_PROVIDER) are read; an empty BaseURL means
// the provider's public API.
type Gateways struct {
	MSG91   MSG91Config
	Exotel  ExotelConfig
	Kaleyra KaleyraConfig
	Gupshup GupshupConfig
	Twilio  TwilioConfig
}

// MSG91Config is SMS_MSG91_*.
type MSG91Config struct{ BaseURL, AuthKey string }

// ExotelConfig is SMS_EXOTEL_*; SmsType (SMS_EXOTEL_SMS_TYPE) is optional.
type ExotelConfig struct{ BaseURL, SID, APIKey, APIToken, SmsType string }

// KaleyraConfig is SMS_KALEYRA_*; Type (SMS_KALEYRA_TYPE) defaults to TXN.
type KaleyraConfig struct{ BaseURL, SID, APIKey, Type string }

// GupshupConfig is SMS_GUPSHUP_*.
type GupshupConfig struct{ BaseURL, UserID, Password string }

// TwilioConfig is SMS_TWILIO_*: From or MessagingServiceSID is required.
type TwilioConfig struct{ BaseURL, AccountSID, AuthToken, From, MessagingServiceSID string }

func (e *env) provider(name, def string) string {
	v := strings.ToLower(e.get(name))
	if v == "" {
		return def
	}
	for _, p := range providers {
		if v == p {
			return v
		}
	}
	e.fail(name, "%s is not a known provider (want %s)", quote(v), strings.Join(providers, ", "))
	return ""
}

// fallback reads SMS_FALLBACK_PROVIDER: any provider but the primary.
func (e *env) fallback(name, primary string) string {
	v := e.provider(name, "")
	if v != "" && v == primary {
		e.fail(name, "%s is also SMS_PROVIDER; the fallback must be another provider", quote(v))
	}
	return v
}

// requestRate reads SMS_REQUEST_RATE, requests per second (a decimal such as
// 3.33); set reports whether it was given, since unset means the provider's
// published limit.
func (e *env) requestRate(name string) (rate float64, set bool) {
	v := e.get(name)
	if v == "" {
		return 0, false
	}
	f, err := strconv.ParseFloat(v, 64)
	switch {
	case err != nil || f != f: // NaN
		e.fail(name, "%s is not a number of requests per second", quote(v))
	case f < 0:
		e.fail(name, "%s is negative; want requests per second, 0 for no limit", quote(v))
	case f > 1_000_000:
		e.fail(name, "%s is too large; want at most 1000000 requests per second", quote(v))
	}
	return f, true
}

// baseURL reads an absolute http(s) URL without query or fragment. It may
// hold a path prefix (a proxy's); it is never quoted, as a URL may carry
// credentials.
func (e *env) baseURL(name string) string {
	v := e.get(name)
	if v == "" {
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
	case u.User != nil:
		e.fail(name, "the URL must not carry credentials (use the credential variables)")
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		e.fail(name, "the URL must not have a query or #fragment (it is the part before the provider's path)")
	}
	return strings.TrimRight(v, "/")
}

// required reads a credential that the provider in use needs.
func (e *env) required(name, provider string) string {
	v := e.get(name)
	if v == "" && e.err == nil {
		e.fail(name, "required when %s is the SMS provider or its fallback", provider)
	}
	if strings.ContainsAny(v, "\r\n") && e.err == nil {
		e.fail(name, "must be one line")
	}
	return v
}

func (e *env) oneOf(name, def string, allowed ...string) string {
	v := e.get(name)
	if v == "" {
		return def
	}
	for _, a := range allowed {
		if strings.EqualFold(v, a) {
			return a
		}
	}
	e.fail(name, "%s is not one of %s", quote(v), strings.Join(allowed, ", "))
	return ""
}

// gateway reads the variables of one gateway provider.
func (e *env) gateway(g *Gateways, p string) {
	switch p {
	case ProviderMSG91:
		g.MSG91 = MSG91Config{BaseURL: e.baseURL("SMS_MSG91_BASE_URL"), AuthKey: e.required("SMS_MSG91_AUTHKEY", p)}
	case ProviderExotel:
		g.Exotel = ExotelConfig{
			BaseURL: e.baseURL("SMS_EXOTEL_BASE_URL"), SID: e.required("SMS_EXOTEL_SID", p),
			APIKey: e.required("SMS_EXOTEL_API_KEY", p), APIToken: e.required("SMS_EXOTEL_API_TOKEN", p),
			SmsType: e.oneOf("SMS_EXOTEL_SMS_TYPE", "", "transactional", "transactional_opt_in", "promotional"),
		}
	case ProviderKaleyra:
		g.Kaleyra = KaleyraConfig{
			BaseURL: e.baseURL("SMS_KALEYRA_BASE_URL"), SID: e.required("SMS_KALEYRA_SID", p),
			APIKey: e.required("SMS_KALEYRA_API_KEY", p), Type: e.oneOf("SMS_KALEYRA_TYPE", "TXN", "TXN", "MKT", "DEFAULT"),
		}
	case ProviderGupshup:
		g.Gupshup = GupshupConfig{
			BaseURL: e.baseURL("SMS_GUPSHUP_BASE_URL"), UserID: e.required("SMS_GUPSHUP_USERID", p),
			Password: e.required("SMS_GUPSHUP_PASSWORD", p),
		}
	case ProviderTwilio:
		t := TwilioConfig{
			BaseURL: e.baseURL("SMS_TWILIO_BASE_URL"), AccountSID: e.required("SMS_TWILIO_ACCOUNT_SID", p),
			AuthToken: e.required("SMS_TWILIO_AUTH_TOKEN", p),
			From:      e.get("SMS_TWILIO_FROM"), MessagingServiceSID: e.get("SMS_TWILIO_MESSAGING_SERVICE_SID"),
		}
		if t.From == "" && t.MessagingServiceSID == "" && e.err == nil {
			e.fail("SMS_TWILIO_FROM", "required (or SMS_TWILIO_MESSAGING_SERVICE_SID) when twilio is the SMS provider or its fallback")
		}
		g.Twilio = t
	}
}

// loadProviders reads SPEC §8's variables into c, after SMS_PROVIDER.
func loadProviders(e *env, c *Config) {
	c.SMSFallbackProvider = e.fallback("SMS_FALLBACK_PROVIDER", c.SMSProvider)
	c.SMSWebhookBatch = e.integer("SMS_WEBHOOK_BATCH", 1, 1, MaxWebhookBatch)
	c.SMSRequestRate, c.SMSRequestRateSet = e.requestRate("SMS_REQUEST_RATE")
	c.SMSCallbackURL = e.baseURL("SMS_CALLBACK_URL")
	for _, p := range []string{c.SMSProvider, c.SMSFallbackProvider} {
		e.gateway(&c.Gateways, p)
	}
}

// webhookRequiredBy names the variable that makes SMS_WEBHOOK_URL required.
func (c Config) webhookRequiredBy() string {
	switch ProviderWebhook {
	case c.SMSProvider:
		return "SMS_PROVIDER"
	case c.SMSFallbackProvider:
		return "SMS_FALLBACK_PROVIDER"
	}
	return ""
}

// UsesProvider reports whether name is SMS_PROVIDER or SMS_FALLBACK_PROVIDER.
func (c Config) UsesProvider(name string) bool {
	return name != "" && (c.SMSProvider == name || c.SMSFallbackProvider == name)
}

// providerFields describes SPEC §8's settings, secrets masked.
func (c Config) providerFields() []zap.Field {
	g := c.Gateways
	f := []zap.Field{
		zap.String("sms_fallback_provider", c.SMSFallbackProvider),
		zap.Int("sms_webhook_batch", c.SMSWebhookBatch),
		zap.String("sms_callback_url", c.SMSCallbackURL),
	}
	if c.SMSRequestRateSet {
		f = append(f, zap.Float64("sms_request_rate", c.SMSRequestRate))
	} else {
		f = append(f, zap.String("sms_request_rate", "provider default"))
	}
	if c.UsesProvider(ProviderMSG91) {
		f = append(f, zap.String("sms_msg91_base_url", orDefault(g.MSG91.BaseURL)), zap.String("sms_msg91_authkey", mask(g.MSG91.AuthKey)))
	}
	if c.UsesProvider(ProviderExotel) {
		f = append(f, zap.String("sms_exotel_base_url", orDefault(g.Exotel.BaseURL)), zap.String("sms_exotel_sid", g.Exotel.SID),
			zap.String("sms_exotel_api_key", mask(g.Exotel.APIKey)), zap.String("sms_exotel_api_token", mask(g.Exotel.APIToken)),
			zap.String("sms_exotel_sms_type", g.Exotel.SmsType))
	}
	if c.UsesProvider(ProviderKaleyra) {
		f = append(f, zap.String("sms_kaleyra_base_url", orDefault(g.Kaleyra.BaseURL)), zap.String("sms_kaleyra_sid", g.Kaleyra.SID),
			zap.String("sms_kaleyra_api_key", mask(g.Kaleyra.APIKey)), zap.String("sms_kaleyra_type", g.Kaleyra.Type))
	}
	if c.UsesProvider(ProviderGupshup) {
		f = append(f, zap.String("sms_gupshup_base_url", orDefault(g.Gupshup.BaseURL)), zap.String("sms_gupshup_userid", g.Gupshup.UserID),
			zap.String("sms_gupshup_password", mask(g.Gupshup.Password)))
	}
	if c.UsesProvider(ProviderTwilio) {
		f = append(f, zap.String("sms_twilio_base_url", orDefault(g.Twilio.BaseURL)), zap.String("sms_twilio_account_sid", g.Twilio.AccountSID),
			zap.String("sms_twilio_auth_token", mask(g.Twilio.AuthToken)), zap.String("sms_twilio_from", g.Twilio.From),
			zap.String("sms_twilio_messaging_service_sid", g.Twilio.MessagingServiceSID))
	}
	return f
}

func orDefault(u string) string {
	if u == "" {
		return "(provider's public API)"
	}
	return u
}
