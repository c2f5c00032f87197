package provider_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/campaignsms/campaignsms/internal/provider"
	"github.com/campaignsms/campaignsms/internal/providertest"
)

// startHolding serves requests that wait until hold is closed or the client
// gives up.
func startHolding(t *testing.T, hold <-chan struct{}) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-hold:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// replay answers every request with a recorded answer and keeps the last
// request's form.
type replay struct {
	mu     sync.Mutex
	path   string
	form   url.Values
	header http.Header
}

func startReplay(t *testing.T, status int, contentType, body string) (string, *replay) {
	t.Helper()
	rp := &replay{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		f, _ := url.ParseQuery(string(b))
		rp.mu.Lock()
		rp.path, rp.form, rp.header = r.URL.Path, f, r.Header.Clone()
		rp.mu.Unlock()
		w.Header().Set("Content-Type", contentType)
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv.URL, rp
}

// Recorded answers of the providers' docs parse as documented.
func TestRecordedAnswers(t *testing.T) {
	t.Parallel()
	m := gwMsg("init-3-0000001", "+919876543210")
	for _, c := range []struct {
		name      string
		status    int
		ct, file  string
		build     func(base string) provider.Provider
		pid       string
		errSubstr string
		transient bool
		errStatus int
	}{
		{"exotel send", 200, "application/json", "exotel_send.json", exo, "0f477d60517e6e6a0f6d9a7e9af8630e", "", false, 0},
		{"exotel xml 403", 403, "application/xml", "exotel_error.xml", exo, "", "Insufficient balance", false, 403},
		{"exotel json 400", 400, "application/json", "exotel_error.json", exo, "", "Invalid Recipient", false, 400},
		{"msg91 send", 200, "application/json", "msg91_send.json", m91, "3465646f6b73313234353637:919876543210", "", false, 0},
		{"msg91 type error", 200, "application/json", "msg91_error.json", m91, "", "Invalid template id", false, 0},
		{"kaleyra send", 202, "application/json", "kaleyra_send.json", kal, "95a1c2ac-f36a-4e4c-8fc4-2a7bfd0be1d2:1", "", false, 0},
		{"gupshup json", 200, "application/json", "gupshup_send.json", gup, "3562707498794989059-328736121207676738", "", false, 0},
		{"gupshup text", 200, "text/plain", "gupshup_send.txt", gup, "3562707498794989059-328736121207676738", "", false, 0},
		{"gupshup auth", 200, "application/json", "gupshup_error.json", gup, "", "105 Authentication failed", false, 401},
		{"twilio send", 201, "application/json", "twilio_send.json", twi, "SM1342fe1b2c904d1ab04f0fc7a58abca9", "", false, 0},
		{"twilio 21610", 400, "application/json", "twilio_error_21610.json", twi, "", "21610 Attempt to send to unsubscribed recipient", false, 400},
	} {
		base, _ := startReplay(t, c.status, c.ct, fixture(t, c.file))
		res, err := c.build(base).Send(context.Background(), m)
		if c.pid != "" {
			if err != nil || res.ProviderMessageID != c.pid {
				t.Errorf("%s: %+v, %v", c.name, res, err)
			}
			continue
		}
		pe := sendErr(t, c.build(base), m)
		if !strings.Contains(pe.Reason, c.errSubstr) || pe.Transient != c.transient || pe.Status != c.errStatus {
			t.Errorf("%s: %+v", c.name, pe)
		}
	}
}

func exo(base string) provider.Provider {
	return provider.NewExotel(provider.ExotelParams{BaseURL: base, SID: "s", APIKey: "k", APIToken: "t", HTTPParams: httpParams()})
}
func m91(base string) provider.Provider {
	return provider.NewMSG91(provider.MSG91Params{BaseURL: base, AuthKey: "a", HTTPParams: httpParams()})
}
func kal(base string) provider.Provider {
	return provider.NewKaleyra(provider.KaleyraParams{BaseURL: base, SID: "s", APIKey: "k", HTTPParams: httpParams()})
}
func gup(base string) provider.Provider {
	return provider.NewGupshup(provider.GupshupParams{BaseURL: base, UserID: "u", Password: "p", HTTPParams: httpParams()})
}
func twi(base string) provider.Provider {
	return provider.NewTwilio(provider.TwilioParams{BaseURL: base, AccountSID: "AC", AuthToken: "t", HTTPParams: httpParams()})
}

func TestTwilioErrorCodes(t *testing.T) {
	t.Parallel()
	f := providertest.NewTwilio("AC1", "tok", providertest.GatewayFaults{Reject: map[string]string{
		"15550000001": "21610 Attempt to send to unsubscribed recipient",
		"15550000002": "21611 This 'From' number has exceeded the maximum number of queued messages",
		"15550000003": "30001 Queue overflow",
		"15550000004": "21211 Invalid 'To' Phone Number",
	}})
	t.Cleanup(f.Close)
	p := provider.NewTwilio(provider.TwilioParams{BaseURL: f.URL(), AccountSID: "AC1", AuthToken: "tok",
		MessagingServiceSID: "MG1", HTTPParams: httpParams()})
	for _, c := range []struct {
		to                          string
		transient, optOut, slowDown bool
		code                        string
	}{
		{"+15550000001", false, true, false, "21610"},
		{"+15550000002", true, false, true, "21611"},
		{"+15550000003", true, false, true, "30001"},
		{"+15550000004", false, false, false, "21211"},
	} {
		pe := sendErr(t, p, gwMsg("init-4-0000001", c.to))
		if pe.Transient != c.transient || pe.OptOut != c.optOut || pe.SlowDown != c.slowDown || pe.Code != c.code || pe.Status != 400 {
			t.Errorf("%s: %+v", c.to, pe)
		}
		if c.slowDown && pe.RetryAfter <= 0 {
			t.Errorf("%s: a slow-down without a pause", c.to)
		}
	}
	res, err := p.Send(context.Background(), gwMsg("init-4-0000002", "+15550000009"))
	if err != nil {
		t.Fatal(err)
	}
	if a, _ := f.ByProviderID(res.ProviderMessageID); a.From != "MG1" {
		t.Errorf("messaging service not used: %+v", a)
	}
}

func TestExotelDetails(t *testing.T) {
	t.Parallel()
	base, rp := startReplay(t, 200, "application/json", fixture(t, "exotel_send.json"))
	p := provider.NewExotel(provider.ExotelParams{BaseURL: base, SID: "acme", APIKey: "k", APIToken: "t", SmsType: "transactional",
		StatusCallback: cbURL + "exotel?token=d", HTTPParams: httpParams()})
	m := gwMsg("init-5-0000001", "+919876543210")
	m.Body = "प्रिय आशा, आपकी EMI देय है।"
	if _, err := p.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	rp.mu.Lock()
	defer rp.mu.Unlock()
	want := map[string]string{"From": "TMPPAY", "To": m.To, "Body": m.Body, "DltEntityId": m.DLTEntityID, "DltTemplateId": m.DLTTemplateID,
		"SmsType": "transactional", "StatusCallback": cbURL + "exotel?token=d", "CustomField": m.ID, "EncodingType": "unicode"}
	for k, v := range want {
		if rp.form.Get(k) != v {
			t.Errorf("%s = %q, want %q", k, rp.form.Get(k), v)
		}
	}
	if rp.path != "/v1/Accounts/acme/Sms/send.json" || !strings.HasPrefix(rp.header.Get("Authorization"), "Basic ") {
		t.Errorf("path %s, auth %q", rp.path, rp.header.Get("Authorization"))
	}
	if r := provider.RequestRateOf(p); r != 200.0/60 {
		t.Errorf("RequestRate = %v", r)
	}
	for _, q := range []provider.Provider{m91("http://x"), kal("http://x"), gup("http://x"), twi("http://x")} {
		if provider.RequestRateOf(q) != 0 {
			t.Errorf("%s publishes a request rate", provider.NameOf(q))
		}
	}
}

func TestMSG91TemplateChoice(t *testing.T) {
	t.Parallel()
	f := providertest.NewMSG91("a", providertest.GatewayFaults{})
	t.Cleanup(f.Close)
	p := provider.NewMSG91(provider.MSG91Params{BaseURL: f.URL(), AuthKey: "a", HTTPParams: httpParams()})
	m := gwMsg("init-6-0000001", "+919876543210")
	m.ProviderTemplateID = "64f0c0ffee"
	res, err := p.Send(context.Background(), m)
	if err != nil {
		t.Fatal(err)
	}
	if a, _ := f.ByProviderID(res.ProviderMessageID); a.TemplateID != "64f0c0ffee" {
		t.Errorf("template %q, want the providerTemplateId", a.TemplateID)
	}
	m.ProviderTemplateID, m.DLTTemplateID = "", ""
	if pe := sendErr(t, p, m); pe.Transient || !strings.Contains(pe.Reason, "template") {
		t.Errorf("no template: %+v", pe)
	}
}
