package app

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/campaignsms/campaignsms/internal/config"
	"github.com/campaignsms/campaignsms/internal/provider"
	"github.com/campaignsms/campaignsms/internal/providertest"
)

func load(t *testing.T, env map[string]string) config.Config {
	t.Helper()
	env["REDIS_URL"] = "redis://127.0.0.1:1/0"
	cfg, err := config.Load(func(k string) string { return env[k] }, config.ProgramWorker)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

type fake interface {
	URL() string
	Close()
	Accepted() []providertest.Accepted
}

// Each SMS_PROVIDER, configured from its variables with the base URL of its
// fake, sends a real request that the fake accepts.
func TestNewProviderFromConfig(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name  string
		start func() fake
		env   func(base string) map[string]string
	}{
		{"msg91", func() fake { return providertest.NewMSG91("ak", providertest.GatewayFaults{}) },
			func(b string) map[string]string {
				return map[string]string{"SMS_MSG91_BASE_URL": b, "SMS_MSG91_AUTHKEY": "ak"}
			}},
		{"exotel", func() fake { return providertest.NewExotel("sid", "key", "tok", providertest.GatewayFaults{}) },
			func(b string) map[string]string {
				return map[string]string{"SMS_EXOTEL_BASE_URL": b, "SMS_EXOTEL_SID": "sid", "SMS_EXOTEL_API_KEY": "key", "SMS_EXOTEL_API_TOKEN": "tok"}
			}},
		{"kaleyra", func() fake { return providertest.NewKaleyra("sid", "key", providertest.GatewayFaults{}) },
			func(b string) map[string]string {
				return map[string]string{"SMS_KALEYRA_BASE_URL": b, "SMS_KALEYRA_SID": "sid", "SMS_KALEYRA_API_KEY": "key"}
			}},
		{"gupshup", func() fake { return providertest.NewGupshup("200", "pw", providertest.GatewayFaults{}) },
			func(b string) map[string]string {
				return map[string]string{"SMS_GUPSHUP_BASE_URL": b, "SMS_GUPSHUP_USERID": "200", "SMS_GUPSHUP_PASSWORD": "pw"}
			}},
		{"twilio", func() fake { return providertest.NewTwilio("AC1", "tok", providertest.GatewayFaults{}) },
			func(b string) map[string]string {
				return map[string]string{"SMS_TWILIO_BASE_URL": b, "SMS_TWILIO_ACCOUNT_SID": "AC1", "SMS_TWILIO_AUTH_TOKEN": "tok", "SMS_TWILIO_FROM": "+15017122661"}
			}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			f := c.start()
			defer f.Close()
			env := c.env(f.URL())
			env["SMS_PROVIDER"] = c.name
			env["SMS_CALLBACK_URL"], env["DLR_TOKEN"] = "https://sms.example.com", "dlr-tok"
			cfg := load(t, env)
			p, err := NewProvider(cfg, nil)
			if err != nil {
				t.Fatal(err)
			}
			if provider.NameOf(p) != c.name {
				t.Fatalf("built %q", provider.NameOf(p))
			}
			res, err := p.Send(context.Background(), provider.Message{ID: "init-1-0000001", To: "+919876543210", From: "TMPPAY",
				Body: "Your EMI is due.", DLTTemplateID: "1107161234567890123", DLTEntityID: "1101234567890123456"})
			if err != nil || res.Provider != c.name {
				t.Fatalf("send: %+v, %v", res, err)
			}
			acc := f.Accepted()
			if len(acc) != 1 {
				t.Fatalf("fake accepted %+v", acc)
			}
			if c.name == "exotel" || c.name == "twilio" {
				cb := acc[0].StatusCallback
				if !strings.HasPrefix(cb, "https://sms.example.com/api/v1/webhooks/dlr/"+c.name+"?") || !strings.Contains(cb, "token=dlr-tok") {
					t.Errorf("StatusCallback %q", cb)
				}
			}
			if c.name == "exotel" && RequestRate(cfg, p) != provider.ExotelRequestRate {
				t.Errorf("RequestRate = %v", RequestRate(cfg, p))
			}
		})
	}
}

func TestNewProviderFailoverAndRate(t *testing.T) {
	t.Parallel()
	wh := providertest.Start(providertest.Options{})
	defer wh.Close()
	cfg := load(t, map[string]string{"SMS_PROVIDER": "exotel", "SMS_EXOTEL_SID": "s", "SMS_EXOTEL_API_KEY": "k", "SMS_EXOTEL_API_TOKEN": "t",
		"SMS_FALLBACK_PROVIDER": "webhook", "SMS_WEBHOOK_URL": wh.URL, "SMS_WEBHOOK_BATCH": "50", "SMS_REQUEST_RATE": "1.5"})
	var mu sync.Mutex
	var seen []string
	p, err := NewObservedProvider(cfg, nil, func(name string, _, to provider.BreakerState) {
		mu.Lock()
		seen = append(seen, name+"="+to.String())
		mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	f, ok := p.(*provider.Failover)
	if !ok || f.Name() != "exotel" || f.MaxBatch() != provider.ExotelMaxBatch {
		t.Fatalf("built %T", p)
	}
	if RequestRate(cfg, p) != 1.5 {
		t.Errorf("RequestRate = %v, want SMS_REQUEST_RATE", RequestRate(cfg, p))
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 1 || seen[0] != "exotel=closed" {
		t.Errorf("observer saw %v", seen)
	}

	plain := load(t, map[string]string{"SMS_PROVIDER": "webhook", "SMS_WEBHOOK_URL": wh.URL, "SMS_WEBHOOK_BATCH": "50"})
	q, err := NewProvider(plain, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, isFailover := q.(*provider.Failover); isFailover || provider.MaxBatchOf(q) != 50 {
		t.Errorf("webhook without fallback: %T, MaxBatch %d", q, provider.MaxBatchOf(q))
	}
	if StatusCallbackURL(plain, "twilio") != "" {
		t.Error("a callback URL without SMS_CALLBACK_URL")
	}
}
