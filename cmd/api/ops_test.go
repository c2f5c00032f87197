package main

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/campaignsms/campaignsms/internal/providertest"
)

func rawGet(t *testing.T, method, url string, auth ...string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	if len(auth) == 2 {
		req.SetBasicAuth(auth[0], auth[1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestOperationsEndpointsEmbedded(t *testing.T) {
	t.Parallel()
	b := start(t, nil, providertest.Faults{})
	if code, body := rawGet(t, "GET", b.base+"/healthz"); code != 200 || !strings.Contains(body, "ok") {
		t.Fatalf("healthz: %d %s", code, body)
	}
	if code, _ := rawGet(t, "GET", b.base+"/readyz"); code != 200 {
		t.Fatalf("readyz: %d", code)
	}
	// X-Request-ID is kept and returned, and logged with the request.
	_, _, hdr := b.call(t, "GET", "/api/v1/initiations", nil, "X-Request-ID", "req-4711")
	if hdr.Get("X-Request-ID") != "req-4711" || !strings.Contains(b.logs.String(), `"request_id":"req-4711"`) {
		t.Fatalf("X-Request-ID = %q", hdr.Get("X-Request-ID"))
	}
	// The dashboard is open on the embedded Redis, and read-only.
	if code, body := rawGet(t, "GET", b.base+"/monitoring/"); code != 200 || !strings.Contains(body, "<html") {
		t.Fatalf("monitoring: %d", code)
	}
	if code, body := rawGet(t, "GET", b.base+"/monitoring/api/queues"); code != 200 || !strings.Contains(body, "queues") {
		t.Fatalf("monitoring api: %d %s", code, body)
	}
	if code, _ := rawGet(t, "DELETE", b.base+"/monitoring/api/queues/sms"); code < 400 {
		t.Fatalf("read-only dashboard allowed a DELETE: %d", code)
	}
	b.call(t, "POST", "/api/v1/initiate/demo/sms", `{"templateId":"hfu7VL6sBhI6NPm","limit":2}`, "Prefer", "wait=10")
	_, page := rawGet(t, "GET", b.base+"/metrics")
	for _, want := range []string{
		`campaignsms_http_requests_total{method="POST",route="/api/v1/initiate/:campaignId/sms",status="200"} 1`,
		`campaignsms_messages_total{outcome="sent"} 2`,
		`asynq_queue_size{queue="sms"`,
		"campaignsms_provider_request_duration_seconds_bucket",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

func TestMonitoringBasicAuth(t *testing.T) {
	t.Parallel()
	b := start(t, map[string]string{"MONITORING_USER": "ops", "MONITORING_PASSWORD": "pw", "MONITORING_READONLY": "false"}, providertest.Faults{})
	if code, _ := rawGet(t, "GET", b.base+"/monitoring/"); code != 401 {
		t.Fatalf("no credentials: %d", code)
	}
	if code, _ := rawGet(t, "GET", b.base+"/monitoring/", "ops", "wrong"); code != 401 {
		t.Fatalf("wrong password: %d", code)
	}
	if code, _ := rawGet(t, "GET", b.base+"/monitoring/api/queues", "ops", "pw"); code != 200 {
		t.Fatalf("with credentials: %d", code)
	}
	if code, _ := rawGet(t, "POST", b.base+"/monitoring/api/queues/sms:pause", "ops", "pw"); code != 204 && code != 200 {
		t.Fatalf("actions allowed when not read-only, got %d", code)
	}
}
