package metrics

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/campaignsms/campaignsms/internal/provider"
)

func TestProviderBreakerGauge(t *testing.T) {
	t.Parallel()
	m := New()
	m.ProviderBreaker("exotel", provider.BreakerClosed, provider.BreakerOpen)
	m.ProviderBreaker("twilio", provider.BreakerOpen, provider.BreakerHalfOpen)
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL) //nolint:noctx // test scrape
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, want := range []string{`campaignsms_provider_breaker_state{provider="exotel"} 2`, `campaignsms_provider_breaker_state{provider="twilio"} 1`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("scrape lacks %q", want)
		}
	}
}
