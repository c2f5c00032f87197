package config

import (
	"reflect"
	"strings"
	"testing"
)

var gatewayEnv = map[string]map[string]string{
	"msg91":   {"SMS_MSG91_AUTHKEY": "m91-secret"},
	"exotel":  {"SMS_EXOTEL_SID": "acme1", "SMS_EXOTEL_API_KEY": "exo-key", "SMS_EXOTEL_API_TOKEN": "exo-secret"},
	"kaleyra": {"SMS_KALEYRA_SID": "HXIN1", "SMS_KALEYRA_API_KEY": "kal-secret"},
	"gupshup": {"SMS_GUPSHUP_USERID": "2000111", "SMS_GUPSHUP_PASSWORD": "gup-secret"},
	"twilio":  {"SMS_TWILIO_ACCOUNT_SID": "AC1", "SMS_TWILIO_AUTH_TOKEN": "twi-secret", "SMS_TWILIO_FROM": "+15017122661"},
}

// envFor is a worker environment using provider p (and fallback fb).
func envFor(p, fb string, kv ...string) map[string]string {
	m := map[string]string{"REDIS_URL": testRedis, "SMS_PROVIDER": p}
	for k, v := range gatewayEnv[p] {
		m[k] = v
	}
	if fb != "" {
		m["SMS_FALLBACK_PROVIDER"] = fb
		for k, v := range gatewayEnv[fb] {
			m[k] = v
		}
	}
	return with(m, kv...)
}

func TestLoadProviders(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		env  map[string]string
		want func(*Config)
	}{
		{"msg91", envFor("msg91", "", "SMS_MSG91_BASE_URL", "http://127.0.0.1:9/"), func(c *Config) {
			c.Gateways.MSG91 = MSG91Config{BaseURL: "http://127.0.0.1:9", AuthKey: "m91-secret"}
		}},
		{"exotel", envFor("exotel", "", "SMS_EXOTEL_BASE_URL", "https://api.in.exotel.com", "SMS_EXOTEL_SMS_TYPE", "Transactional"), func(c *Config) {
			c.Gateways.Exotel = ExotelConfig{BaseURL: "https://api.in.exotel.com", SID: "acme1", APIKey: "exo-key", APIToken: "exo-secret", SmsType: "transactional"}
		}},
		{"kaleyra", envFor("kaleyra", ""), func(c *Config) {
			c.Gateways.Kaleyra = KaleyraConfig{SID: "HXIN1", APIKey: "kal-secret", Type: "TXN"}
		}},
		{"gupshup", envFor("gupshup", ""), func(c *Config) {
			c.Gateways.Gupshup = GupshupConfig{UserID: "2000111", Password: "gup-secret"}
		}},
		{"twilio with service", envFor("twilio", "", "SMS_TWILIO_FROM", "", "SMS_TWILIO_MESSAGING_SERVICE_SID", "MG1"), func(c *Config) {
			c.Gateways.Twilio = TwilioConfig{AccountSID: "AC1", AuthToken: "twi-secret", MessagingServiceSID: "MG1"}
		}},
		{"exotel with twilio fallback", envFor("exotel", "twilio", "SMS_REQUEST_RATE", "2.5", "SMS_CALLBACK_URL", "https://sms.example.com/"), func(c *Config) {
			c.SMSFallbackProvider = "twilio"
			c.SMSRequestRate, c.SMSRequestRateSet = 2.5, true
			c.SMSCallbackURL = "https://sms.example.com"
			c.Gateways.Exotel = ExotelConfig{SID: "acme1", APIKey: "exo-key", APIToken: "exo-secret"}
			c.Gateways.Twilio = TwilioConfig{AccountSID: "AC1", AuthToken: "twi-secret", From: "+15017122661"}
		}},
		{"webhook batch, log fallback, rate 0", envFor("webhook", "", "SMS_WEBHOOK_URL", "http://127.0.0.1:9/sms", "SMS_WEBHOOK_BATCH", "100",
			"SMS_FALLBACK_PROVIDER", "log", "SMS_REQUEST_RATE", "0"), func(c *Config) {
			c.SMSWebhookURL, c.SMSWebhookBatch, c.SMSFallbackProvider = "http://127.0.0.1:9/sms", 100, "log"
			c.SMSRequestRateSet = true
		}},
		{"other providers' variables are not read", envFor("log", "", "SMS_EXOTEL_BASE_URL", "ftp://x", "SMS_TWILIO_AUTH_TOKEN", "x"), func(*Config) {}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := Load(envOf(tc.env), "worker")
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			want := defaults()
			want.Program, want.HTTPAddr, want.RedisURL = "worker", ":8080", testRedis
			want.SMSProvider = tc.env["SMS_PROVIDER"]
			tc.want(&want)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("Load =\n%+v\nwant\n%+v", got, want)
			}
		})
	}
}

func TestLoadProviderErrors(t *testing.T) {
	t.Parallel()
	const secret = "s3cr3t-value"
	tests := []struct {
		name    string
		env     map[string]string
		wantVar string
	}{
		{"msg91 no authkey", envFor("msg91", "", "SMS_MSG91_AUTHKEY", ""), "SMS_MSG91_AUTHKEY"},
		{"exotel no sid", envFor("exotel", "", "SMS_EXOTEL_SID", ""), "SMS_EXOTEL_SID"},
		{"exotel no key", envFor("exotel", "", "SMS_EXOTEL_API_KEY", ""), "SMS_EXOTEL_API_KEY"},
		{"exotel no token", envFor("exotel", "", "SMS_EXOTEL_API_TOKEN", ""), "SMS_EXOTEL_API_TOKEN"},
		{"exotel sms type", envFor("exotel", "", "SMS_EXOTEL_SMS_TYPE", "bulk"), "SMS_EXOTEL_SMS_TYPE"},
		{"kaleyra no sid", envFor("kaleyra", "", "SMS_KALEYRA_SID", ""), "SMS_KALEYRA_SID"},
		{"kaleyra no key", envFor("kaleyra", "", "SMS_KALEYRA_API_KEY", ""), "SMS_KALEYRA_API_KEY"},
		{"kaleyra type", envFor("kaleyra", "", "SMS_KALEYRA_TYPE", "OTP"), "SMS_KALEYRA_TYPE"},
		{"gupshup no user", envFor("gupshup", "", "SMS_GUPSHUP_USERID", ""), "SMS_GUPSHUP_USERID"},
		{"gupshup no password", envFor("gupshup", "", "SMS_GUPSHUP_PASSWORD", ""), "SMS_GUPSHUP_PASSWORD"},
		{"twilio no sid", envFor("twilio", "", "SMS_TWILIO_ACCOUNT_SID", ""), "SMS_TWILIO_ACCOUNT_SID"},
		{"twilio no token", envFor("twilio", "", "SMS_TWILIO_AUTH_TOKEN", ""), "SMS_TWILIO_AUTH_TOKEN"},
		{"twilio no sender", envFor("twilio", "", "SMS_TWILIO_FROM", ""), "SMS_TWILIO_FROM"},
		{"secret on two lines", envFor("msg91", "", "SMS_MSG91_AUTHKEY", secret+"\nx"), "SMS_MSG91_AUTHKEY"},

		{"base url ftp", envFor("msg91", "", "SMS_MSG91_BASE_URL", "ftp://"+secret+"@h"), "SMS_MSG91_BASE_URL"},
		{"base url relative", envFor("exotel", "", "SMS_EXOTEL_BASE_URL", "/v1/"+secret), "SMS_EXOTEL_BASE_URL"},
		{"base url credentials", envFor("exotel", "", "SMS_EXOTEL_BASE_URL", "https://k:"+secret+"@api.exotel.com"), "SMS_EXOTEL_BASE_URL"},
		{"base url query", envFor("kaleyra", "", "SMS_KALEYRA_BASE_URL", "https://api.kaleyra.io?key="+secret), "SMS_KALEYRA_BASE_URL"},
		{"base url bad escape", envFor("gupshup", "", "SMS_GUPSHUP_BASE_URL", "http://h/%zz"+secret), "SMS_GUPSHUP_BASE_URL"},
		{"base url no host", envFor("twilio", "", "SMS_TWILIO_BASE_URL", "https:///"+secret), "SMS_TWILIO_BASE_URL"},
		{"callback url", envFor("twilio", "", "SMS_CALLBACK_URL", "sms.example.com/"+secret), "SMS_CALLBACK_URL"},

		{"batch zero", envFor("log", "", "SMS_WEBHOOK_BATCH", "0"), "SMS_WEBHOOK_BATCH"},
		{"batch too large", envFor("log", "", "SMS_WEBHOOK_BATCH", "1001"), "SMS_WEBHOOK_BATCH"},
		{"batch word", envFor("log", "", "SMS_WEBHOOK_BATCH", "many"), "SMS_WEBHOOK_BATCH"},
		{"rate negative", envFor("log", "", "SMS_REQUEST_RATE", "-1"), "SMS_REQUEST_RATE"},
		{"rate word", envFor("log", "", "SMS_REQUEST_RATE", "fast"), "SMS_REQUEST_RATE"},
		{"rate NaN", envFor("log", "", "SMS_REQUEST_RATE", "NaN"), "SMS_REQUEST_RATE"},
		{"rate huge", envFor("log", "", "SMS_REQUEST_RATE", "1e9"), "SMS_REQUEST_RATE"},

		{"fallback unknown", envFor("msg91", "", "SMS_FALLBACK_PROVIDER", "sns"), "SMS_FALLBACK_PROVIDER"},
		{"fallback is primary", envFor("msg91", "", "SMS_FALLBACK_PROVIDER", "MSG91"), "SMS_FALLBACK_PROVIDER"},
		{"fallback without credentials", envFor("msg91", "", "SMS_FALLBACK_PROVIDER", "gupshup"), "SMS_GUPSHUP_USERID"},
		{"fallback webhook without url", envFor("msg91", "", "SMS_FALLBACK_PROVIDER", "webhook"), "SMS_WEBHOOK_URL"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := Load(envOf(tc.env), "worker")
			if err == nil {
				t.Fatalf("Load succeeded: %+v", got)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "config: "+tc.wantVar+": ") {
				t.Errorf("error %q does not name %s first", msg, tc.wantVar)
			}
			if strings.ContainsAny(msg, "\n\r") {
				t.Errorf("error %q is more than one line", msg)
			}
			for _, s := range []string{secret, "m91-secret", "exo-secret", "kal-secret", "gup-secret", "twi-secret"} {
				if strings.Contains(msg, s) {
					t.Errorf("error %q leaks a secret", msg)
				}
			}
		})
	}
}

func TestProviderFieldsMaskSecrets(t *testing.T) {
	t.Parallel()
	for _, pair := range [][2]string{{"exotel", "twilio"}, {"msg91", "kaleyra"}, {"gupshup", ""}} {
		c, err := Load(envOf(envFor(pair[0], pair[1])), "worker")
		if err != nil {
			t.Fatal(err)
		}
		got := renderFields(c)
		for _, s := range []string{"m91-secret", "exo-secret", "kal-secret", "gup-secret", "twi-secret", "exo-key"} {
			if strings.Contains(got, s) {
				t.Errorf("Fields leak %q: %s", s, got)
			}
		}
		for _, want := range []string{"sms_provider=" + pair[0], "sms_fallback_provider=" + pair[1], "sms_request_rate=provider default", "sms_webhook_batch=1"} {
			if !strings.Contains(got, want) {
				t.Errorf("Fields lack %q: %s", want, got)
			}
		}
		if pair[0] == "exotel" && (!strings.Contains(got, "sms_exotel_api_token=***") || !strings.Contains(got, "sms_twilio_auth_token=***") ||
			!strings.Contains(got, "sms_exotel_sid=acme1")) {
			t.Errorf("Fields: %s", got)
		}
	}
}
