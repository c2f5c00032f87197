package provider_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/campaignsms/campaignsms/internal/provider"
	"github.com/campaignsms/campaignsms/internal/providertest"
)

type transitions struct {
	mu  sync.Mutex
	got []string
}

func (tr *transitions) record(name string, from, to provider.BreakerState) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.got = append(tr.got, name+":"+from.String()+">"+to.String())
}

func (tr *transitions) list() string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return strings.Join(tr.got, " ")
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestFailoverOpensFallsBackAndCloses(t *testing.T) {
	t.Parallel()
	primaryFake := providertest.NewExotel("s", "k", "t", providertest.GatewayFaults{Outage: true})
	t.Cleanup(primaryFake.Close)
	fallbackFake := startFake(t, providertest.Options{})
	tr := &transitions{}
	f := provider.NewFailover(provider.FailoverParams{
		Primary:  provider.NewExotel(provider.ExotelParams{BaseURL: primaryFake.URL(), SID: "s", APIKey: "k", APIToken: "t", HTTPParams: httpParams()}),
		Fallback: newWebhook(t, fallbackFake.URL),
		Failures: 3, OpenFor: 150 * time.Millisecond, OnStateChange: tr.record,
	})
	ctx := context.Background()
	for i := range 3 {
		if _, err := f.Send(ctx, gwMsg("init-8-000000"+string(rune('0'+i)), "+919876543210")); !provider.IsTransient(err) {
			t.Fatalf("send %d through the failing primary: %v", i, err)
		}
	}
	if f.State() != provider.BreakerOpen {
		t.Fatalf("state %v after 3 transient failures", f.State())
	}
	res, err := f.Send(ctx, gwMsg("init-8-0000010", "+919876543210"))
	if err != nil || res.Provider != "webhook" {
		t.Fatalf("while open: %+v, %v", res, err)
	}
	if _, ok := fallbackFake.Received("init-8-0000010"); !ok {
		t.Fatal("fallback did not get the message")
	}
	requests := primaryFake.Requests()

	primaryFake.SetFaults(providertest.GatewayFaults{})
	waitFor(t, "half-open", func() bool { return f.State() == provider.BreakerHalfOpen })
	res, err = f.Send(ctx, gwMsg("init-8-0000011", "+919876543210"))
	if err != nil || res.Provider != "exotel" {
		t.Fatalf("trial request: %+v, %v", res, err)
	}
	if f.State() != provider.BreakerClosed || primaryFake.Requests() != requests+1 {
		t.Fatalf("state %v, primary requests %d (was %d)", f.State(), primaryFake.Requests(), requests)
	}
	if want := "exotel:closed>open exotel:open>half-open exotel:half-open>closed"; tr.list() != want {
		t.Errorf("transitions %q, want %q", tr.list(), want)
	}
}

func TestFailoverIgnoresPermanentRefusals(t *testing.T) {
	t.Parallel()
	fake := providertest.NewTwilio("AC", "t", providertest.GatewayFaults{Reject: map[string]string{"15550001111": "21211 Invalid 'To' Phone Number"}})
	t.Cleanup(fake.Close)
	f := provider.NewFailover(provider.FailoverParams{
		Primary:  provider.NewTwilio(provider.TwilioParams{BaseURL: fake.URL(), AccountSID: "AC", AuthToken: "t", From: "+1555", HTTPParams: httpParams()}),
		Failures: 2,
	})
	for range 5 {
		if _, err := f.Send(context.Background(), gwMsg("init-9-0000001", "+15550001111")); err == nil || provider.IsTransient(err) {
			t.Fatalf("err = %v", err)
		}
	}
	if f.State() != provider.BreakerClosed {
		t.Fatalf("permanent refusals opened the breaker")
	}
}

func TestFailoverWithoutFallbackAndBatches(t *testing.T) {
	t.Parallel()
	fake := providertest.NewMSG91("a", providertest.GatewayFaults{Fail5xx: 1})
	t.Cleanup(fake.Close)
	f := provider.NewFailover(provider.FailoverParams{
		Primary:  provider.NewMSG91(provider.MSG91Params{BaseURL: fake.URL(), AuthKey: "a", HTTPParams: httpParams()}),
		Failures: 1, OpenFor: time.Hour,
	})
	if f.MaxBatch() != provider.MSG91MaxBatch || f.Name() != "msg91" {
		t.Fatalf("MaxBatch %d, Name %q", f.MaxBatch(), f.Name())
	}
	msgs := batchOf(4, false)
	for _, r := range f.SendBatch(context.Background(), msgs) {
		if !provider.IsTransient(r.Err) {
			t.Fatalf("5xx bulk: %v", r.Err)
		}
	}
	if f.State() != provider.BreakerOpen {
		t.Fatalf("a bulk request failed for every message did not open the breaker: %v", f.State())
	}
	requests := fake.Requests()
	for _, r := range f.SendBatch(context.Background(), msgs) {
		if pe := asErr(t, r.Err); !pe.Transient || !strings.Contains(pe.Reason, "circuit breaker is open") {
			t.Fatalf("open without fallback: %+v", pe)
		}
	}
	if _, err := f.Send(context.Background(), msgs[0]); !provider.IsTransient(err) {
		t.Fatalf("single send while open: %v", err)
	}
	if fake.Requests() != requests {
		t.Error("requests reached the primary while its breaker was open")
	}
}

// A batch with one message refused and the rest accepted is a healthy
// provider: it does not count towards opening.
func TestFailoverBatchPartialIsSuccess(t *testing.T) {
	t.Parallel()
	srv := startFake(t, providertest.Options{Faults: providertest.Faults{RetryIDs: []string{"init-7-0000000"}}})
	f := provider.NewFailover(provider.FailoverParams{Primary: newWebhook(t, srv.URL, func(w *provider.WebhookParams) { w.Batch = 50 }), Failures: 1})
	res := f.SendBatch(context.Background(), batchOf(3, false))
	if res[0].Err == nil || res[1].Err != nil || res[1].Result.Provider != "webhook" {
		t.Fatalf("results %+v", res)
	}
	if f.State() != provider.BreakerClosed {
		t.Fatal("a partly accepted batch opened the breaker")
	}
}
