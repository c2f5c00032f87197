package provider_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/campaignsms/campaignsms/internal/provider"
	"github.com/campaignsms/campaignsms/internal/providertest"
)

// fakeGateway is what every gateway fake offers.
type fakeGateway interface {
	URL() string
	Close()
	SetFaults(providertest.GatewayFaults)
	Accepted() []providertest.Accepted
	ByProviderID(string) (providertest.Accepted, bool)
	Requests() int
	BulkRequests() int
}

type gatewayCase struct {
	name string
	// start returns the adapter pointed at a fresh fake; bad gives it wrong
	// credentials.
	start func(t *testing.T, bad bool) (provider.Provider, fakeGateway)
	// callback is the fake's delivery report for an accepted message.
	callback func(f fakeGateway, pid string, o providertest.Outcome) providertest.Callback
	// ourID says whether the fake sees our message id (single sends).
	ourID bool
}

const (
	cbURL = "https://api.example.com/api/v1/webhooks/dlr/"
	fast  = 5 * time.Second
)

func httpParams() provider.HTTPParams { return provider.HTTPParams{Timeout: fast} }

func cred(bad bool, good string) string {
	if bad {
		return good + "-wrong"
	}
	return good
}

var gatewayCases = []gatewayCase{
	{
		name: "exotel", ourID: true,
		start: func(t *testing.T, bad bool) (provider.Provider, fakeGateway) {
			f := providertest.NewExotel("acme1", "key1", "tok1", providertest.GatewayFaults{})
			t.Cleanup(f.Close)
			return provider.NewExotel(provider.ExotelParams{BaseURL: f.URL(), SID: "acme1", APIKey: "key1", APIToken: cred(bad, "tok1"),
				StatusCallback: cbURL + "exotel?token=d", HTTPParams: httpParams()}), f
		},
		callback: func(f fakeGateway, pid string, o providertest.Outcome) providertest.Callback {
			return f.(*providertest.Exotel).StatusCallback(pid, o)
		},
	},
	{
		name: "msg91",
		start: func(t *testing.T, bad bool) (provider.Provider, fakeGateway) {
			f := providertest.NewMSG91("auth1", providertest.GatewayFaults{})
			t.Cleanup(f.Close)
			return provider.NewMSG91(provider.MSG91Params{BaseURL: f.URL(), AuthKey: cred(bad, "auth1"), HTTPParams: httpParams()}), f
		},
		callback: func(f fakeGateway, pid string, o providertest.Outcome) providertest.Callback {
			return f.(*providertest.MSG91).DeliveryReport(o, pid)
		},
	},
	{
		name: "kaleyra", ourID: true,
		start: func(t *testing.T, bad bool) (provider.Provider, fakeGateway) {
			f := providertest.NewKaleyra("HXIN1", "kkey", providertest.GatewayFaults{})
			t.Cleanup(f.Close)
			return provider.NewKaleyra(provider.KaleyraParams{BaseURL: f.URL(), SID: "HXIN1", APIKey: cred(bad, "kkey"),
				StatusCallback: cbURL + "kaleyra?token=d", HTTPParams: httpParams()}), f
		},
		callback: func(f fakeGateway, pid string, o providertest.Outcome) providertest.Callback {
			return f.(*providertest.Kaleyra).Callback(pid, o)
		},
	},
	{
		name: "gupshup",
		start: func(t *testing.T, bad bool) (provider.Provider, fakeGateway) {
			f := providertest.NewGupshup("2000111", "pw1", providertest.GatewayFaults{})
			t.Cleanup(f.Close)
			return provider.NewGupshup(provider.GupshupParams{BaseURL: f.URL(), UserID: "2000111", Password: cred(bad, "pw1"), HTTPParams: httpParams()}), f
		},
		callback: func(f fakeGateway, pid string, o providertest.Outcome) providertest.Callback {
			return f.(*providertest.Gupshup).ReportGET(pid, o)
		},
	},
	{
		name: "twilio", ourID: true,
		start: func(t *testing.T, bad bool) (provider.Provider, fakeGateway) {
			f := providertest.NewTwilio("AC1", "authtok", providertest.GatewayFaults{})
			t.Cleanup(f.Close)
			return provider.NewTwilio(provider.TwilioParams{BaseURL: f.URL(), AccountSID: "AC1", AuthToken: cred(bad, "authtok"),
				StatusCallback: cbURL + "twilio?token=d", HTTPParams: httpParams()}), f
		},
		callback: func(f fakeGateway, pid string, o providertest.Outcome) providertest.Callback {
			return f.(*providertest.Twilio).StatusCallback(pid, o)
		},
	},
}

func gwMsg(id, to string) provider.Message {
	m := testMsg(id)
	m.To = to
	m.Vars = map[string]string{"name": "Asha", "amount": "2500"}
	return m
}

func TestGatewayAccepts(t *testing.T) {
	t.Parallel()
	for _, gc := range gatewayCases {
		t.Run(gc.name, func(t *testing.T) {
			t.Parallel()
			p, f := gc.start(t, false)
			m := gwMsg("init-1-0000001", "+919876543210")
			res, err := p.Send(context.Background(), m)
			if err != nil {
				t.Fatal(err)
			}
			if res.Provider != gc.name || res.ProviderMessageID == "" || provider.NameOf(p) != gc.name {
				t.Fatalf("result %+v, name %q", res, provider.NameOf(p))
			}
			a, ok := f.ByProviderID(res.ProviderMessageID)
			if !ok {
				t.Fatalf("fake has no message %s: %+v", res.ProviderMessageID, f.Accepted())
			}
			if digitsOnly(a.To) != "919876543210" {
				t.Errorf("To = %q", a.To)
			}
			if gc.ourID && a.MessageID != m.ID {
				t.Errorf("our id reached the provider as %q, want %q", a.MessageID, m.ID)
			}
			switch gc.name {
			case "msg91":
				if a.TemplateID != m.DLTTemplateID || a.From != "TMPPAY" || a.Vars["name"] != "Asha" || a.Vars["amount"] != "2500" {
					t.Errorf("msg91 got %+v", a)
				}
			case "twilio":
				if a.Body != m.Body || a.From != "TMPPAY" || !strings.Contains(a.StatusCallback, "mid="+m.ID) {
					t.Errorf("twilio got %+v", a)
				}
			default:
				if a.Body != m.Body || a.From != "TMPPAY" || a.TemplateID != m.DLTTemplateID {
					t.Errorf("got %+v", a)
				}
				if gc.name != "kaleyra" && a.EntityID != m.DLTEntityID {
					t.Errorf("DLT entity id = %q", a.EntityID)
				}
			}
		})
	}
}

func TestGatewayFaults(t *testing.T) {
	t.Parallel()
	for _, gc := range gatewayCases {
		t.Run(gc.name, func(t *testing.T) {
			t.Parallel()
			p, f := gc.start(t, false)
			m := gwMsg("init-1-0000002", "+919876543210")
			for _, c := range []struct {
				name      string
				faults    providertest.GatewayFaults
				transient bool
				status    int
				slowDown  bool
				after     time.Duration
			}{
				{"5xx", providertest.GatewayFaults{Fail5xx: 1}, true, 500, false, 0},
				{"outage", providertest.GatewayFaults{Outage: true}, true, 503, false, 0},
				{"429 with Retry-After", providertest.GatewayFaults{TooMany: 1, RetryAfter: 7 * time.Second}, true, 429, true, 7 * time.Second},
				{"429 without Retry-After", providertest.GatewayFaults{TooMany: 1}, true, 429, true, -1},
				{"rejected recipient", providertest.GatewayFaults{Reject: map[string]string{"919876543210": "invalid number"}}, false, -1, false, 0},
			} {
				f.SetFaults(c.faults)
				pe := sendErr(t, p, m)
				if pe.Transient != c.transient || pe.SlowDown != c.slowDown {
					t.Errorf("%s: %+v", c.name, pe)
				}
				if c.status > 0 && pe.Status != c.status {
					t.Errorf("%s: status %d, want %d (%s)", c.name, pe.Status, c.status, pe.Reason)
				}
				switch {
				case c.after > 0 && pe.RetryAfter != c.after:
					t.Errorf("%s: RetryAfter %v, want %v", c.name, pe.RetryAfter, c.after)
				case c.after < 0 && pe.RetryAfter > time.Second:
					t.Errorf("%s: RetryAfter %v without a hint", c.name, pe.RetryAfter)
				}
				if !strings.HasPrefix(pe.Reason, gc.name+" answered") {
					t.Errorf("%s: reason %q", c.name, pe.Reason)
				}
				if c.name == "rejected recipient" && !strings.Contains(pe.Reason, "invalid number") {
					t.Errorf("reason %q lacks the provider's text", pe.Reason)
				}
			}
			f.SetFaults(providertest.GatewayFaults{})
			if _, err := p.Send(context.Background(), m); err != nil {
				t.Fatalf("after the faults: %v", err)
			}
		})
	}
}

func TestGatewayBadCredentialsAndConnection(t *testing.T) {
	t.Parallel()
	for _, gc := range gatewayCases {
		t.Run(gc.name, func(t *testing.T) {
			t.Parallel()
			p, f := gc.start(t, true)
			pe := sendErr(t, p, gwMsg("init-1-0000003", "+919876543210"))
			if pe.Transient || pe.Status != http.StatusUnauthorized {
				t.Errorf("bad credentials: %+v", pe)
			}
			if len(f.Accepted()) != 0 {
				t.Error("fake accepted with bad credentials")
			}
			f.Close()
			pe = sendErr(t, p, gwMsg("init-1-0000003", "+919876543210"))
			if !pe.Transient || pe.Status != 0 {
				t.Errorf("closed server: %+v", pe)
			}
		})
	}
}

// A provider that holds the request gets the deadline, not the caller's
// patience.
func TestGatewayTimeout(t *testing.T) {
	t.Parallel()
	hold := make(chan struct{})
	srv := startHolding(t, hold)
	hp := provider.HTTPParams{Timeout: 100 * time.Millisecond}
	for _, p := range []provider.Provider{
		provider.NewExotel(provider.ExotelParams{BaseURL: srv, SID: "s", APIKey: "k", APIToken: "t", HTTPParams: hp}),
		provider.NewMSG91(provider.MSG91Params{BaseURL: srv, AuthKey: "a", HTTPParams: hp}),
		provider.NewKaleyra(provider.KaleyraParams{BaseURL: srv, SID: "s", APIKey: "k", HTTPParams: hp}),
		provider.NewGupshup(provider.GupshupParams{BaseURL: srv, UserID: "u", Password: "p", HTTPParams: hp}),
		provider.NewTwilio(provider.TwilioParams{BaseURL: srv, AccountSID: "AC", AuthToken: "t", From: "+1", HTTPParams: hp}),
	} {
		pe := sendErr(t, p, gwMsg("init-1-0000004", "+919876543210"))
		if !pe.Transient || pe.Reason != "timeout" {
			t.Errorf("%s: %+v", provider.NameOf(p), pe)
		}
	}
	close(hold)
}

// Each fake's delivery report for an accepted message parses back to that
// message.
func TestGatewayCallbackRoundTrip(t *testing.T) {
	t.Parallel()
	for _, gc := range gatewayCases {
		t.Run(gc.name, func(t *testing.T) {
			t.Parallel()
			p, f := gc.start(t, false)
			for i, o := range []providertest.Outcome{providertest.Delivered, providertest.Failed, providertest.DND} {
				m := gwMsg("init-2-000000"+string(rune('1'+i)), "+91987654321"+string(rune('0'+i)))
				res, err := p.Send(context.Background(), m)
				if err != nil {
					t.Fatal(err)
				}
				target := cbURL + gc.name + "?token=d"
				req, err := gc.callback(f, res.ProviderMessageID, o).NewRequest(context.Background(), target)
				if err != nil {
					t.Fatal(err)
				}
				if gc.name == "twilio" && !provider.VerifyTwilioRequest(req, "authtok", req.URL.String()) {
					t.Fatal("the fake's signed callback does not verify")
				}
				reps := dlr(t, gc.name, req)
				want := []provider.ReportStatus{provider.ReportDelivered, provider.ReportFailed, provider.ReportDND}[i]
				if len(reps) != 1 || reps[0].ProviderMessageID != res.ProviderMessageID || reps[0].Status != want {
					t.Fatalf("%v: reports %+v, want %s %v", o, reps, res.ProviderMessageID, want)
				}
				if gc.ourID && reps[0].MessageID != m.ID {
					t.Errorf("report's message id %q, want %q", reps[0].MessageID, m.ID)
				}
				if reps[0].Phone != m.To {
					t.Errorf("report's phone %q, want %q", reps[0].Phone, m.To)
				}
			}
		})
	}
}

func digitsOnly(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	return b.String()
}
