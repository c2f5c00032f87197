package provider_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/campaignsms/campaignsms/internal/provider"
	"github.com/campaignsms/campaignsms/internal/providertest"
)

// batchOf makes n messages to distinct numbers; same says whether they
// share one text (Kaleyra groups those).
func batchOf(n int, same bool) []provider.Message {
	out := make([]provider.Message, n)
	for i := range out {
		out[i] = gwMsg(fmt.Sprintf("init-7-%07d", i), fmt.Sprintf("+9198765%05d", i))
		if !same {
			out[i].Body += fmt.Sprintf(" Ref %d.", i)
		}
	}
	return out
}

type bulkCase struct {
	name  string
	start func(t *testing.T, f providertest.GatewayFaults) (provider.BatchProvider, fakeGateway)
	same  bool // messages must share a text to go out in one request
}

var bulkCases = []bulkCase{
	{"exotel", func(t *testing.T, f providertest.GatewayFaults) (provider.BatchProvider, fakeGateway) {
		x := providertest.NewExotel("s", "k", "t", f)
		t.Cleanup(x.Close)
		return provider.NewExotel(provider.ExotelParams{BaseURL: x.URL(), SID: "s", APIKey: "k", APIToken: "t", HTTPParams: httpParams()}), x
	}, false},
	{"msg91", func(t *testing.T, f providertest.GatewayFaults) (provider.BatchProvider, fakeGateway) {
		x := providertest.NewMSG91("a", f)
		t.Cleanup(x.Close)
		return provider.NewMSG91(provider.MSG91Params{BaseURL: x.URL(), AuthKey: "a", HTTPParams: httpParams()}), x
	}, false},
	{"kaleyra", func(t *testing.T, f providertest.GatewayFaults) (provider.BatchProvider, fakeGateway) {
		x := providertest.NewKaleyra("s", "k", f)
		t.Cleanup(x.Close)
		return provider.NewKaleyra(provider.KaleyraParams{BaseURL: x.URL(), SID: "s", APIKey: "k", HTTPParams: httpParams()}), x
	}, true},
}

// A permanent rejection of one message in the middle of a bulk request fails
// that message only; the others are accepted, each with its own id.
func TestBulkRejectionInTheMiddle(t *testing.T) {
	t.Parallel()
	for _, bc := range bulkCases {
		t.Run(bc.name, func(t *testing.T) {
			t.Parallel()
			msgs := batchOf(7, bc.same)
			bad := digitsOnly(msgs[3].To)
			p, f := bc.start(t, providertest.GatewayFaults{Reject: map[string]string{bad: "number barred"}})
			res := p.SendBatch(context.Background(), msgs)
			if len(res) != len(msgs) {
				t.Fatalf("%d results for %d messages", len(res), len(msgs))
			}
			seen := map[string]bool{}
			for i, r := range res {
				if i == 3 {
					if r.Err == nil || provider.IsTransient(r.Err) || !strings.Contains(r.Err.Error(), "number barred") {
						t.Errorf("rejected message: %+v", r)
					}
					continue
				}
				if r.Err != nil || r.Result.Provider != bc.name || seen[r.Result.ProviderMessageID] {
					t.Fatalf("message %d: %+v", i, r)
				}
				seen[r.Result.ProviderMessageID] = true
				a, ok := f.ByProviderID(r.Result.ProviderMessageID)
				if !ok || digitsOnly(a.To) != digitsOnly(msgs[i].To) {
					t.Errorf("message %d recorded as %+v", i, a)
				}
			}
			if got := len(f.Accepted()); got != 6 {
				t.Errorf("fake accepted %d messages, want 6", got)
			}
			switch {
			case bc.name == "msg91":
				// MSG91 refuses the request as a whole: it is sent again
				// message by message to isolate the bad one.
				if f.Requests() != 1+len(msgs) {
					t.Errorf("%d requests, want 1 bulk and %d single", f.Requests(), len(msgs))
				}
			case f.BulkRequests() != 1 || f.Requests() != 1:
				t.Errorf("%d requests, %d bulk; want one bulk request", f.Requests(), f.BulkRequests())
			}
		})
	}
}

func TestBulkWholeRequestTransient(t *testing.T) {
	t.Parallel()
	for _, bc := range bulkCases {
		t.Run(bc.name, func(t *testing.T) {
			t.Parallel()
			p, f := bc.start(t, providertest.GatewayFaults{TooMany: 1000, RetryAfter: 3 * time.Second})
			msgs := batchOf(5, true)
			for i, r := range p.SendBatch(context.Background(), msgs) {
				pe := asErr(t, r.Err)
				if !pe.Transient || !pe.SlowDown || pe.RetryAfter != 3*time.Second {
					t.Errorf("message %d: %+v", i, pe)
				}
			}
			if f.Requests() != 1 {
				t.Errorf("%d requests for one refused bulk request", f.Requests())
			}
		})
	}
}

func TestBulkSplitsAtMaxBatch(t *testing.T) {
	t.Parallel()
	p, f := bulkCases[0].start(t, providertest.GatewayFaults{})
	msgs := batchOf(provider.ExotelMaxBatch+5, false)
	res := provider.SendAll(context.Background(), p, msgs)
	for i, r := range res {
		if r.Err != nil {
			t.Fatalf("message %d: %v", i, r.Err)
		}
	}
	if f.Requests() != 2 || len(f.Accepted()) != len(msgs) {
		t.Errorf("%d requests, %d accepted", f.Requests(), len(f.Accepted()))
	}
}

func TestKaleyraGroupsByText(t *testing.T) {
	t.Parallel()
	p, f := bulkCases[2].start(t, providertest.GatewayFaults{})
	msgs := append(batchOf(3, true), batchOf(2, false)...)
	msgs[3].ID, msgs[4].ID = "other-1", "other-2"
	for i, r := range p.SendBatch(context.Background(), msgs) {
		if r.Err != nil {
			t.Fatalf("message %d: %v", i, r.Err)
		}
	}
	// One request for the three that share a text, one each for the others.
	if f.Requests() != 3 || f.BulkRequests() != 1 {
		t.Errorf("%d requests, %d bulk", f.Requests(), f.BulkRequests())
	}
}

func asErr(t *testing.T, err error) *provider.Error {
	t.Helper()
	var pe *provider.Error
	if !errors.As(err, &pe) {
		t.Fatalf("error %T %v is not a *provider.Error", err, err)
	}
	return pe
}

func newBatchWebhook(t *testing.T, srv *providertest.Server, n int) provider.BatchProvider {
	t.Helper()
	p := newWebhook(t, srv.URL, func(w *provider.WebhookParams) { w.Batch = n; w.Token = "tk" })
	bp, ok := p.(provider.BatchProvider)
	if !ok || bp.MaxBatch() != n {
		t.Fatalf("SMS_WEBHOOK_BATCH=%d gives no BatchProvider", n)
	}
	return bp
}

func TestWebhookBatch(t *testing.T) {
	t.Parallel()
	srv := startFake(t, providertest.Options{Token: "tk", Faults: providertest.Faults{
		RejectIDs: []string{"init-7-0000002"}, RetryIDs: []string{"init-7-0000004"}}})
	p := newBatchWebhook(t, srv, 100)
	msgs := batchOf(6, false)
	res := p.SendBatch(context.Background(), msgs)
	for i, r := range res {
		switch i {
		case 2:
			if pe := asErr(t, r.Err); pe.Transient || !strings.Contains(pe.Reason, "invalid number") {
				t.Errorf("rejected: %+v", pe)
			}
		case 4:
			if pe := asErr(t, r.Err); !pe.Transient {
				t.Errorf("retry: %+v", pe)
			}
		default:
			if r.Err != nil || !strings.HasPrefix(r.Result.ProviderMessageID, "pm-") || r.Result.Provider != "webhook" {
				t.Errorf("message %d: %+v", i, r)
			}
			got, ok := srv.Received(msgs[i].ID)
			if !ok || got.Body != msgs[i].Body || got.DLTEntityID != msgs[i].DLTEntityID {
				t.Errorf("message %d recorded as %+v", i, got)
			}
		}
	}
	if srv.AcceptedDistinct() != 4 || srv.Batches() != 1 || srv.Requests() != 1 {
		t.Errorf("accepted %d, batches %d, requests %d", srv.AcceptedDistinct(), srv.Batches(), srv.Requests())
	}
	// A single send still speaks SPEC §6 and honours the per-message faults.
	if pe := sendErr(t, p, msgs[2]); pe.Transient || pe.Status != 400 {
		t.Errorf("single send of a rejected id: %+v", pe)
	}
}

func TestWebhookBatchWholeRequestFaults(t *testing.T) {
	t.Parallel()
	srv := startFake(t, providertest.Options{Token: "tk", Faults: providertest.Faults{TooManyBurst: 1, RetryAfter: 2 * time.Second}})
	p := newBatchWebhook(t, srv, 10)
	msgs := batchOf(3, false)
	for _, r := range p.SendBatch(context.Background(), msgs) {
		if pe := asErr(t, r.Err); !pe.Transient || !pe.SlowDown || pe.RetryAfter != 2*time.Second || pe.Status != 429 {
			t.Errorf("429: %+v", pe)
		}
	}
	srv.SetFaults(providertest.Faults{Outage: true})
	for _, r := range p.SendBatch(context.Background(), msgs) {
		if pe := asErr(t, r.Err); !pe.Transient || pe.Status != 503 {
			t.Errorf("503: %+v", pe)
		}
	}
	srv.SetFaults(providertest.Faults{})
	for i, r := range p.SendBatch(context.Background(), msgs) {
		if r.Err != nil {
			t.Errorf("message %d after the faults: %v", i, r.Err)
		}
	}
	if srv.AcceptedDistinct() != 3 {
		t.Errorf("accepted %d", srv.AcceptedDistinct())
	}
}

// A recorded answer: results out of order, a numeric providerMessageId, an
// unknown id and a missing message.
func TestWebhookBatchRecordedAnswer(t *testing.T) {
	t.Parallel()
	base, _ := startReplay(t, 200, "application/json", fixture(t, "webhook_batch_results.json"))
	p := provider.NewWebhook(provider.WebhookParams{URL: base, Batch: 10, Timeout: fast}).(provider.BatchProvider)
	ids := []string{"m4", "m1", "m2", "m3", "m5"}
	msgs := make([]provider.Message, len(ids))
	for i, id := range ids {
		msgs[i] = testMsg(id)
	}
	res := p.SendBatch(context.Background(), msgs)
	if res[0].Result.ProviderMessageID != "44" || res[1].Result.ProviderMessageID != "p1" {
		t.Errorf("accepted: %+v %+v", res[0], res[1])
	}
	if pe := asErr(t, res[2].Err); pe.Transient {
		t.Errorf("m2: %+v", pe)
	}
	if pe := asErr(t, res[3].Err); !pe.Transient {
		t.Errorf("m3: %+v", pe)
	}
	if pe := asErr(t, res[4].Err); !pe.Transient || !strings.Contains(pe.Reason, "no result") {
		t.Errorf("m5 (no result): %+v", pe)
	}
}

func TestSendAllWithoutBulk(t *testing.T) {
	t.Parallel()
	srv := startFake(t, providertest.Options{})
	p := newWebhook(t, srv.URL)
	if provider.MaxBatchOf(p) != 1 {
		t.Fatal("SMS_WEBHOOK_BATCH=1 is a batch provider")
	}
	res := provider.SendAll(context.Background(), p, batchOf(3, false))
	for i, r := range res {
		if r.Err != nil {
			t.Errorf("message %d: %v", i, r.Err)
		}
	}
	if srv.Requests() != 3 {
		t.Errorf("%d requests", srv.Requests())
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, r := range provider.SendAll(ctx, p, batchOf(2, false)) {
		if r.Err == nil || provider.IsTransient(r.Err) {
			t.Errorf("cancelled: %v", r.Err)
		}
	}
}
