package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/campaignsms/campaignsms/internal/providertest"
	"github.com/campaignsms/campaignsms/internal/store"
)

// syncBuffer collects the program's log output safely across goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type testBundle struct {
	base string
	fake *providertest.Server
	logs *syncBuffer
}

// start runs the whole program, embedded Redis and in-process worker, on
// port 0 against a fake provider, and stops it when the test ends.
func start(t *testing.T, env map[string]string, faults providertest.Faults) testBundle {
	t.Helper()
	fake := providertest.Start(providertest.Options{Faults: faults, Seed: 7})
	t.Cleanup(fake.Close)
	vars := map[string]string{
		"HTTP_ADDR": "127.0.0.1:0", "SMS_PROVIDER": "webhook", "SMS_WEBHOOK_URL": fake.URL,
	}
	for k, v := range env {
		vars[k] = v
	}
	ctx, cancel := context.WithCancel(context.Background())
	logs := &syncBuffer{}
	addr := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- run(ctx, func(k string) string { return vars[k] }, logs, func(a string) { addr <- a }) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("run: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("program did not stop within 30 s")
		}
	})
	select {
	case a := <-addr:
		return testBundle{base: "http://" + a, fake: fake, logs: logs}
	case err := <-done:
		done <- err // for the cleanup, which waits for it
		t.Fatalf("program ended at start: %v\n%s", err, logs.String())
	case <-time.After(30 * time.Second):
		t.Fatal("program did not start within 30 s")
	}
	return testBundle{}
}

func (b testBundle) call(t *testing.T, method, path string, body any, hdr ...string) (int, map[string]any, http.Header) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		raw, ok := body.(string)
		if !ok {
			j, _ := json.Marshal(body)
			raw = string(j)
		}
		rd = strings.NewReader(raw)
	}
	req, _ := http.NewRequest(method, b.base+path, rd)
	req.Header.Set("Authorization", "Bearer dev-token")
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	raw, _ := io.ReadAll(resp.Body)
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("%s %s: not JSON: %s", method, path, raw)
		}
	}
	return resp.StatusCode, out, resp.Header
}

// waitCompleted polls the status until the initiation is completed.
func (b testBundle) waitCompleted(t *testing.T, id string, within time.Duration) map[string]any {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		code, st, _ := b.call(t, "GET", "/api/v1/initiations/"+id, nil)
		if code != 200 {
			t.Fatalf("status %d: %v", code, st)
		}
		r := st["results"].(map[string]any)
		parts := 0.0
		for _, k := range []string{"sent", "failed", "skipped", "cancelled", "pending"} {
			parts += r[k].(float64)
		}
		if parts != r["customersSelected"].(float64) {
			t.Fatalf("parts %v do not add up to customersSelected: %v", parts, r)
		}
		if st["state"] == "completed" {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("not completed within %v: %v", within, st)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func results(m map[string]any) map[string]any { return m["results"].(map[string]any) }

func TestSeedExamplesEndToEnd(t *testing.T) {
	t.Parallel()
	b := start(t, nil, providertest.Faults{})
	const tpl = "hfu7VL6sBhI6NPm"
	var ids []string
	var want int
	for _, tc := range []struct {
		body              string
		matched, selected float64
	}{
		{`{"templateId": "` + tpl + `"}`, 500, 500},
		{`{"templateId": "` + tpl + `", "filters": {"ids": ["LOANID-2043153", "LOANID-2043154"]}}`, 2, 2},
		{`{"templateId": "` + tpl + `", "filters": {"exclude_ids": ["LOANID-2043153", "LOANID-2043154"]}}`, 498, 498},
		{`{"templateId": "` + tpl + `", "limit": 250}`, 500, 250},
	} {
		code, body, _ := b.call(t, "POST", "/api/v1/initiate/demo/sms", tc.body)
		r := results(body)
		if code != 200 || body["success"] != true || r["totalMatched"] != tc.matched || r["customersSelected"] != tc.selected ||
			r["initiated"] != tc.selected || r["failed"] != 0.0 || len(r["errors"].([]any)) != 0 ||
			body["message"] != fmt.Sprintf("SMS messages initiated for %d customers", int(tc.selected)) {
			t.Fatalf("%s: %d %v", tc.body, code, body)
		}
		if body["statusUrl"] != "/api/v1/initiations/"+body["initiationId"].(string) {
			t.Fatalf("statusUrl = %v", body["statusUrl"])
		}
		ids = append(ids, body["initiationId"].(string))
		want += int(tc.selected)
	}
	code, body, _ := b.call(t, "POST", "/api/v1/initiate/demo/sms", `{"templateId": "`+tpl+`", "filters": {"payment_status": ["bounced", "pending"]}}`)
	if m := results(body)["totalMatched"].(float64); code != 200 || m <= 0 || m >= 500 {
		t.Fatalf("bounced+pending: %d %v", code, body)
	}
	ids = append(ids, body["initiationId"].(string))
	want += int(results(body)["initiated"].(float64))
	for _, id := range ids {
		st := b.waitCompleted(t, id, 60*time.Second)
		if r := results(st); r["sent"] != r["customersSelected"] || st["completedAt"] == nil || r["batchesProcessed"] != r["batchesTotal"] {
			t.Fatalf("%s: %v", id, st)
		}
	}
	// Every message reached the provider once, with its own id.
	if got := b.fake.AcceptedCount(); got != want || len(b.fake.Accepted()) != want {
		t.Fatalf("provider accepted %d (%d distinct), want %d", got, len(b.fake.Accepted()), want)
	}
	m, ok := b.fake.Received(store.MessageID(ids[1], 0))
	if !ok || m.CustomerID != "LOANID-2043153" || !strings.Contains(m.Body, "LOANID-2043153") || m.From != "TMPPAY" {
		t.Fatalf("message = %+v", m)
	}
	if strings.Contains(b.logs.String(), m.To) || strings.Contains(b.logs.String(), m.Body) {
		t.Fatal("a phone number or message body appears in the info log")
	}
}

func TestInitiateAnswersAndStatus(t *testing.T) {
	t.Parallel()
	b := start(t, nil, providertest.Faults{Latency: 20 * time.Millisecond})
	const tpl = "hfu7VL6sBhI6NPm"
	for _, tc := range []struct {
		name, body string
		hdr        []string
		code       int
		kind       string
	}{
		{"no token", `{}`, []string{"Authorization", ""}, 401, "Unauthorized"},
		{"wrong token", `{}`, []string{"Authorization", "Bearer nope"}, 401, "Unauthorized"},
		{"unknown field", `{"templateId":"` + tpl + `","filter":{}}`, nil, 400, "ValidationError"},
		{"empty ids", `{"templateId":"` + tpl + `","filters":{"ids":[]}}`, nil, 400, "ValidationError"},
		{"bad status", `{"templateId":"` + tpl + `","filters":{"payment_status":"late"}}`, nil, 400, "ValidationError"},
		{"bad json", `{"templateId":`, nil, 400, "ValidationError"},
		{"wrong content type", `{}`, []string{"Content-Type", "text/plain"}, 415, "UnsupportedMediaType"},
		{"too large", `{"templateId":"` + strings.Repeat("x", 2<<20) + `"}`, nil, 413, "PayloadTooLarge"},
		{"no campaign", `{"templateId":"` + tpl + `"}`, nil, 404, "NotFound"},
		{"no template", `{"templateId":"nope"}`, nil, 404, "NotFound"},
		{"no match", `{"templateId":"` + tpl + `","filters":{"ids":["nobody"]}}`, nil, 404, "NotFound"},
	} {
		path := "/api/v1/initiate/demo/sms"
		if tc.name == "no campaign" {
			path = "/api/v1/initiate/nope/sms"
		}
		code, body, _ := b.call(t, "POST", path, tc.body, tc.hdr...)
		if code != tc.code || body["error"] != tc.kind || body["success"] != false || body["message"] == "" {
			t.Errorf("%s: %d %v", tc.name, code, body)
		}
	}
	// A dry run answers like the real thing and creates nothing.
	code, body, _ := b.call(t, "POST", "/api/v1/initiate/demo/sms", `{"templateId":"`+tpl+`","limit":3,"dryRun":true}`)
	if code != 200 || body["initiationId"] != nil || body["statusUrl"] != nil || results(body)["batchesProcessed"] != 1.0 {
		t.Fatalf("dry run: %d %v", code, body)
	}
	// Prefer: wait answers with the status body once nothing is pending.
	code, body, hdr := b.call(t, "POST", "/api/v1/initiate/demo/sms", `{"templateId":"`+tpl+`","limit":40}`, "Prefer", "wait=30")
	if code != 200 || body["state"] != "completed" || results(body)["sent"] != 40.0 || hdr.Get("Preference-Applied") != "wait=30" {
		t.Fatalf("wait: %d %v", code, body)
	}
	if b.fake.Requests() != 40 {
		t.Fatalf("provider saw %d requests", b.fake.Requests())
	}
	// Cancel and list.
	code, body, _ = b.call(t, "DELETE", "/api/v1/initiations/"+body["initiationId"].(string), nil)
	if code != 200 || body["state"] != "completed" || results(body)["cancelled"] != 0.0 {
		t.Fatalf("cancel of a finished initiation: %d %v", code, body)
	}
	code, body, _ = b.call(t, "GET", "/api/v1/initiations?campaignId=demo&page=1&limit=10", nil)
	if p := body["pagination"].(map[string]any); code != 200 || p["total"] != 1.0 || len(body["data"].([]any)) != 1 {
		t.Fatalf("list: %d %v", code, body)
	}
	if code, body, _ = b.call(t, "GET", "/api/v1/initiations/ini_nope", nil); code != 404 || body["error"] != "NotFound" {
		t.Fatalf("unknown initiation: %d %v", code, body)
	}
	if code, _, _ = b.call(t, "GET", "/api/v1/nowhere", nil); code != 404 {
		t.Fatalf("unknown route: %d", code)
	}
}

func TestProviderFaultsEndToEnd(t *testing.T) {
	t.Parallel()
	b := start(t, map[string]string{"BATCH_SIZE": "50", "SEND_MAX_ATTEMPTS": "6"},
		providertest.Faults{Fail5xxRate: 0.2, TimeoutRate: 0.0, Reject4xxRate: 0.05, TooManyBurst: 30, RetryAfter: time.Second})
	code, body, _ := b.call(t, "POST", "/api/v1/initiate/demo/sms", `{"templateId":"hfu7VL6sBhI6NPm"}`)
	if code != 200 {
		t.Fatalf("%d %v", code, body)
	}
	st := b.waitCompleted(t, body["initiationId"].(string), 90*time.Second)
	r := results(st)
	accepted := b.fake.Accepted()
	for id, n := range accepted {
		if n != 1 {
			t.Errorf("%s accepted %d times", id, n)
		}
	}
	if r["sent"].(float64) != float64(len(accepted)) || r["failed"].(float64) == 0 || r["sent"].(float64)+r["failed"].(float64) != 500 {
		t.Fatalf("results %v, provider accepted %d", r, len(accepted))
	}
	for _, e := range r["errors"].([]any) {
		if e := e.(map[string]any); e["code"] != "provider_rejected" || !strings.Contains(e["message"].(string), "400") {
			t.Errorf("error without the provider's reason: %v", e)
		}
	}
	if st["success"] != false {
		t.Fatalf("success with failures: %v", st)
	}
}
