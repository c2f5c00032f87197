package provider_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/campaignsms/campaignsms/internal/provider"
	"github.com/campaignsms/campaignsms/internal/providertest"
)

func testMsg(id string) provider.Message {
	return provider.Message{
		ID: id, To: "+919876543210", From: "TMPPAY", Body: "Dear Asha, your EMI of Rs 2500 is due.",
		TemplateID: "hfu7VL6sBhI6NPm", DLTTemplateID: "1107161234567890123", DLTEntityID: "1101234567890123456",
		CampaignID: "demo", CustomerID: "LOANID-2043000", InitiationID: "init-1",
	}
}

func startFake(t *testing.T, opts providertest.Options) *providertest.Server {
	t.Helper()
	s := providertest.Start(opts)
	t.Cleanup(s.Close)
	return s
}

func newWebhook(t *testing.T, url string, mod ...func(*provider.WebhookParams)) provider.Provider {
	t.Helper()
	p := provider.WebhookParams{URL: url, Timeout: 5 * time.Second}
	for _, f := range mod {
		f(&p)
	}
	return provider.NewWebhook(p)
}

// sendErr sends and requires a *provider.Error.
func sendErr(t *testing.T, p provider.Provider, m provider.Message) *provider.Error {
	t.Helper()
	res, err := p.Send(context.Background(), m)
	if err == nil {
		t.Fatalf("Send succeeded (%+v), want an error", res)
	}
	var pe *provider.Error
	if !errors.As(err, &pe) {
		t.Fatalf("error %T %v is not a *provider.Error", err, err)
	}
	if provider.IsTransient(err) != pe.Transient {
		t.Fatalf("IsTransient disagrees with Transient for %v", err)
	}
	return pe
}

func TestWebhookAccepted(t *testing.T) {
	srv := startFake(t, providertest.Options{Token: "s3cret"})
	p := newWebhook(t, srv.URL, func(w *provider.WebhookParams) { w.Token = "s3cret" })
	m := testMsg("msg-1")
	res, err := p.Send(context.Background(), m)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(res.ProviderMessageID, "pm-") {
		t.Errorf("ProviderMessageID = %q, want pm-…", res.ProviderMessageID)
	}
	got, ok := srv.Received("msg-1")
	want := providertest.Message{
		MessageID: m.ID, To: m.To, From: m.From, Body: m.Body, TemplateID: m.TemplateID,
		DLTTemplateID: m.DLTTemplateID, DLTEntityID: m.DLTEntityID, CampaignID: m.CampaignID,
		CustomerID: m.CustomerID, InitiationID: m.InitiationID,
	}
	if !ok || got != want {
		t.Errorf("Received = %+v, %v; want %+v", got, ok, want)
	}
	if a := srv.Accepted(); len(a) != 1 || a["msg-1"] != 1 {
		t.Errorf("Accepted = %v", a)
	}
}

func TestWebhookAcceptedWithoutProviderID(t *testing.T) {
	srv := startFake(t, providertest.Options{NoProviderMessageID: true})
	res, err := newWebhook(t, srv.URL).Send(context.Background(), testMsg("m"))
	if err != nil || res.ProviderMessageID != "" {
		t.Fatalf("Send = %+v, %v; want empty id, nil", res, err)
	}
	for _, body := range []string{"OK", `{"status":"queued"}`, `{"providerMessageId": 12345}`, ""} {
		hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusOK)
			io.WriteString(w, body)
		}))
		res, err := newWebhook(t, hs.URL).Send(context.Background(), testMsg("m"))
		hs.Close()
		want := ""
		if strings.Contains(body, "12345") {
			want = "12345"
		}
		if err != nil || res.ProviderMessageID != want {
			t.Errorf("body %q: Send = %+v, %v; want id %q", body, res, err, want)
		}
	}
}

func TestWebhookHeadersAndBody(t *testing.T) {
	var got http.Header
	var gotBody map[string]string
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Clone()
		if err := jsonDecode(r.Body, &gotBody); err != nil {
			t.Error(err)
		}
	}))
	defer hs.Close()
	p := newWebhook(t, hs.URL, func(w *provider.WebhookParams) { w.Token = "tok" })
	if _, err := p.Send(context.Background(), testMsg("msg-42")); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{
		"Content-Type": "application/json", "Idempotency-Key": "msg-42", "Authorization": "Bearer tok",
	} {
		if got.Get(k) != v {
			t.Errorf("header %s = %q, want %q", k, got.Get(k), v)
		}
	}
	keys := []string{"messageId", "to", "from", "body", "templateId", "dltTemplateId", "dltEntityId",
		"campaignId", "customerId", "initiationId"}
	if len(gotBody) != len(keys) {
		t.Errorf("body has %d keys, want %d: %v", len(gotBody), len(keys), gotBody)
	}
	for _, k := range keys {
		if _, ok := gotBody[k]; !ok {
			t.Errorf("body lacks %q", k)
		}
	}
	if gotBody["messageId"] != "msg-42" || gotBody["to"] != "+919876543210" {
		t.Errorf("body = %v", gotBody)
	}

	// Without a token there is no Authorization header.
	if _, err := newWebhook(t, hs.URL).Send(context.Background(), testMsg("x")); err != nil {
		t.Fatal(err)
	}
	if a, ok := got["Authorization"]; ok {
		t.Errorf("Authorization sent without a token: %q", a)
	}
}

func TestWebhookWrongToken(t *testing.T) {
	srv := startFake(t, providertest.Options{Token: "right"})
	e := sendErr(t, newWebhook(t, srv.URL, func(w *provider.WebhookParams) { w.Token = "wrong" }), testMsg("m"))
	if e.Transient || e.Status != 401 {
		t.Errorf("got %+v, want permanent 401", e)
	}
}

func TestWebhookStatuses(t *testing.T) {
	cases := []struct {
		name       string
		faults     providertest.Faults
		status     int
		transient  bool
		retryAfter time.Duration
		reason     string
	}{
		{"429 with Retry-After", providertest.Faults{TooManyBurst: 1, RetryAfter: 3 * time.Second}, 429, true, 3 * time.Second, "provider answered 429"},
		{"429 without Retry-After", providertest.Faults{TooManyBurst: 1}, 429, true, 0, "provider answered 429"},
		{"500", providertest.Faults{Fail5xxRate: 1}, 500, true, 0, "provider answered 500"},
		{"503 outage", providertest.Faults{Outage: true}, 503, true, 0, "provider answered 503"},
		{"400 reject", providertest.Faults{Reject4xxRate: 1}, 400, false, 0, "provider answered 400: "},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv := startFake(t, providertest.Options{Faults: c.faults})
			e := sendErr(t, newWebhook(t, srv.URL), testMsg("m"))
			if e.Status != c.status || e.Transient != c.transient || e.RetryAfter != c.retryAfter {
				t.Errorf("got %+v, want status %d transient %v retryAfter %v", e, c.status, c.transient, c.retryAfter)
			}
			if !strings.HasPrefix(e.Reason, c.reason) {
				t.Errorf("Reason = %q, want prefix %q", e.Reason, c.reason)
			}
			if c.status == 400 && !strings.Contains(e.Reason, "invalid number") {
				t.Errorf("Reason = %q, want the provider's reason", e.Reason)
			}
			if srv.AcceptedCount() != 0 {
				t.Errorf("AcceptedCount = %d", srv.AcceptedCount())
			}
		})
	}
}

func TestWebhookRawStatuses(t *testing.T) {
	long := strings.Repeat("x", 300)
	cases := []struct {
		status     int
		header     string
		body       string
		transient  bool
		retryAfter time.Duration
		reason     string
	}{
		{408, "", "", true, 0, "provider answered 408"},
		{502, "", "bad gateway\n", true, 0, "provider answered 502: bad gateway"},
		{429, "120", "", true, time.Minute, "provider answered 429"},
		{429, "soon", "", true, 0, "provider answered 429"},
		{404, "", "  no such\r\n\troute  ", false, 0, "provider answered 404: no such route"},
		{422, "", "number +919876543210 is on DND", false, 0, "provider answered 422: number +91******3210 is on DND"},
		{400, "", long, false, 0, "provider answered 400: " + long[:200]},
		{301, "", "", false, 0, "provider answered 301"},
	}
	for _, c := range cases {
		t.Run(fmt.Sprint(c.status, c.header), func(t *testing.T) {
			hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if c.header != "" {
					w.Header().Set("Retry-After", c.header)
				}
				if c.status == 301 {
					w.Header().Set("Location", "/elsewhere")
				}
				w.WriteHeader(c.status)
				io.WriteString(w, c.body)
			}))
			defer hs.Close()
			e := sendErr(t, newWebhook(t, hs.URL), testMsg("m"))
			if e.Status != c.status || e.Transient != c.transient || e.RetryAfter != c.retryAfter || e.Reason != c.reason {
				t.Errorf("got %+v\nwant status %d transient %v retryAfter %v reason %q",
					e, c.status, c.transient, c.retryAfter, c.reason)
			}
		})
	}
}

func TestWebhookTimeout(t *testing.T) {
	srv := startFake(t, providertest.Options{Faults: providertest.Faults{TimeoutRate: 1}})
	p := newWebhook(t, srv.URL, func(w *provider.WebhookParams) { w.Timeout = 200 * time.Millisecond })
	start := time.Now()
	e := sendErr(t, p, testMsg("m"))
	if el := time.Since(start); el < 200*time.Millisecond || el > 5*time.Second {
		t.Errorf("timed out after %v, want about 200ms", el)
	}
	if !e.Transient || e.Status != 0 || e.Reason != "timeout" {
		t.Errorf("got %+v, want transient timeout with status 0", e)
	}
}

func TestWebhookDroppedConnection(t *testing.T) {
	srv := startFake(t, providertest.Options{Faults: providertest.Faults{DropRate: 1}})
	e := sendErr(t, newWebhook(t, srv.URL), testMsg("m"))
	if !e.Transient || e.Status != 0 {
		t.Errorf("got %+v, want transient with status 0", e)
	}
	if srv.AcceptedCount() != 0 {
		t.Errorf("AcceptedCount = %d", srv.AcceptedCount())
	}
}

func TestWebhookConnectionRefused(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	e := sendErr(t, newWebhook(t, "http://"+addr+"/sms"), testMsg("m"))
	if !e.Transient || e.Status != 0 || e.Reason != "connection refused" {
		t.Errorf("got %+v, want transient connection refused", e)
	}
}

func TestWebhookCallerCancels(t *testing.T) {
	arrived := make(chan struct{}, 1)
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		arrived <- struct{}{}
		<-r.Context().Done()
	}))
	defer hs.Close()
	p := newWebhook(t, hs.URL)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := p.Send(ctx, testMsg("m"))
		errc <- err
	}()
	<-arrived
	cancel()
	err := <-errc
	if !errors.Is(err, context.Canceled) || provider.IsTransient(err) {
		t.Errorf("err = %v (transient %v), want context.Canceled, not transient", err, provider.IsTransient(err))
	}
	var pe *provider.Error
	if errors.As(err, &pe) {
		t.Errorf("cancellation returned a *provider.Error: %+v", pe)
	}
	// Already cancelled: nothing is sent.
	if _, err := p.Send(ctx, testMsg("m2")); !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
}

func TestWebhookInvalidConfig(t *testing.T) {
	for _, u := range []string{"", "not a url", "ftp://host/x", "http://"} {
		e := sendErr(t, provider.NewWebhook(provider.WebhookParams{URL: u}), testMsg("m"))
		if e.Transient {
			t.Errorf("url %q: got transient %+v", u, e)
		}
	}
	srv := startFake(t, providertest.Options{})
	if e := sendErr(t, newWebhook(t, srv.URL), testMsg("")); e.Transient {
		t.Errorf("empty id: got transient %+v", e)
	}
}

func TestWebhookKeepAlive(t *testing.T) {
	srv := startFake(t, providertest.Options{})
	p := newWebhook(t, srv.URL)
	for i := range 100 {
		if _, err := p.Send(context.Background(), testMsg(fmt.Sprint("m", i))); err != nil {
			t.Fatal(err)
		}
	}
	// Error answers must not cost the connection either.
	srv.SetFaults(providertest.Faults{Reject4xxRate: 1})
	for i := range 10 {
		sendErr(t, p, testMsg(fmt.Sprint("r", i)))
	}
	if c := srv.Connections(); c != 1 {
		t.Errorf("110 sequential sends opened %d connections, want 1", c)
	}
	if srv.AcceptedCount() != 100 || srv.Requests() != 110 {
		t.Errorf("AcceptedCount %d Requests %d", srv.AcceptedCount(), srv.Requests())
	}
}

func TestWebhookConcurrent(t *testing.T) {
	srv := startFake(t, providertest.Options{})
	p := newWebhook(t, srv.URL)
	const workers, each = 32, 25
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				if _, err := p.Send(context.Background(), testMsg(fmt.Sprintf("w%d-%d", w, i))); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	a := srv.Accepted()
	if len(a) != workers*each || srv.AcceptedCount() != workers*each {
		t.Errorf("accepted %d distinct, %d total; want %d", len(a), srv.AcceptedCount(), workers*each)
	}
	// The transport may dial a few spare connections under contention.
	if c := srv.Connections(); c > 2*workers {
		t.Errorf("%d connections for %d workers", c, workers)
	}
}

func TestWebhookLogsNoPII(t *testing.T) {
	core, logs := observer.New(zapcore.InfoLevel)
	srv := startFake(t, providertest.Options{Faults: providertest.Faults{Reject4xxRate: 1}})
	p := newWebhook(t, srv.URL, func(w *provider.WebhookParams) { w.Log = zap.New(core) })
	m := testMsg("m")
	p.Send(context.Background(), m)
	srv.SetFaults(providertest.Faults{})
	if _, err := p.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	assertNoPII(t, logs, m)
}

func assertNoPII(t *testing.T, logs *observer.ObservedLogs, m provider.Message) {
	t.Helper()
	for _, e := range logs.All() {
		text := fmt.Sprint(e.Message, e.ContextMap())
		if strings.Contains(text, m.To) || strings.Contains(text, m.Body) || strings.Contains(text, "9876543210") {
			t.Errorf("log entry at %v leaks PII: %s", e.Level, text)
		}
	}
}

func BenchmarkWebhookSend(b *testing.B) {
	srv := providertest.Start(providertest.Options{})
	defer srv.Close()
	p := provider.NewWebhook(provider.WebhookParams{URL: srv.URL})
	var seq atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := p.Send(context.Background(), testMsg(fmt.Sprint("b", seq.Add(1)))); err != nil {
				b.Error(err)
			}
		}
	})
}
