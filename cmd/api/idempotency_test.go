package main

import (
	"strings"
	"sync"
	"testing"

	"github.com/campaignsms/campaignsms/internal/providertest"
)

func TestIdempotencyKey(t *testing.T) {
	t.Parallel()
	b := start(t, nil, providertest.Faults{})
	const body = `{"templateId":"hfu7VL6sBhI6NPm","limit":5}`
	code, first, hdr := b.call(t, "POST", "/api/v1/initiate/demo/sms", body, "Idempotency-Key", "k1")
	if code != 200 || hdr.Get("Idempotent-Replayed") != "" {
		t.Fatalf("first: %d %v", code, first)
	}
	// The same body with keys in another order and spacing is the same request.
	code, again, hdr := b.call(t, "POST", "/api/v1/initiate/demo/sms", `{ "limit": 5, "templateId": "hfu7VL6sBhI6NPm" }`, "Idempotency-Key", "k1")
	if code != 200 || hdr.Get("Idempotent-Replayed") != "true" || again["initiationId"] != first["initiationId"] {
		t.Fatalf("replay: %d %v %v", code, again, hdr)
	}
	if code, body, _ := b.call(t, "POST", "/api/v1/initiate/demo/sms", `{"templateId":"hfu7VL6sBhI6NPm","limit":6}`, "Idempotency-Key", "k1"); code != 422 || body["error"] != "Unprocessable" {
		t.Fatalf("other body: %d %v", code, body)
	}
	// The same key on another campaign path is another request too.
	if code, _, _ := b.call(t, "POST", "/api/v1/initiate/other/sms", body, "Idempotency-Key", "k1"); code != 422 {
		t.Fatalf("other path: %d", code)
	}
	for _, bad := range []string{"", strings.Repeat("k", 256)} {
		if code, body, _ := b.call(t, "POST", "/api/v1/initiate/demo/sms", body, "Idempotency-Key", bad); code != 400 || body["error"] != "ValidationError" {
			t.Fatalf("key %q: %d %v", bad, code, body)
		}
	}
	// A 404 is not stored: the key stays free for a corrected request.
	if code, _, _ := b.call(t, "POST", "/api/v1/initiate/demo/sms", `{"templateId":"nope"}`, "Idempotency-Key", "k2"); code != 404 {
		t.Fatalf("404 expected, got %d", code)
	}
	if code, _, hdr := b.call(t, "POST", "/api/v1/initiate/demo/sms", `{"templateId":"nope"}`, "Idempotency-Key", "k2"); code != 404 || hdr.Get("Idempotent-Replayed") != "" {
		t.Fatalf("a failed request was stored: %d", code)
	}
	// A dry run is never stored.
	for range 2 {
		code, body, hdr := b.call(t, "POST", "/api/v1/initiate/demo/sms", `{"templateId":"hfu7VL6sBhI6NPm","dryRun":true}`, "Idempotency-Key", "k3")
		if code != 200 || hdr.Get("Idempotent-Replayed") != "" || body["initiationId"] != nil {
			t.Fatalf("dry run: %d %v", code, body)
		}
	}
	b.waitCompleted(t, first["initiationId"].(string), 30e9)
	if got := b.fake.AcceptedCount(); got != 5 {
		t.Fatalf("provider accepted %d messages, want the first request's 5 only", got)
	}
}

func TestIdempotencyKeyRace(t *testing.T) {
	t.Parallel()
	b := start(t, nil, providertest.Faults{})
	const body = `{"templateId":"hfu7VL6sBhI6NPm","limit":3}`
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		ids   = map[any]int{}
		codes = map[int]int{}
	)
	for range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			code, out, _ := b.call(t, "POST", "/api/v1/initiate/demo/sms", body, "Idempotency-Key", "race")
			mu.Lock()
			defer mu.Unlock()
			codes[code]++
			if code == 200 {
				ids[out["initiationId"]]++
			}
		}()
	}
	wg.Wait()
	if len(ids) != 1 || codes[200]+codes[409] != 12 {
		t.Fatalf("codes %v, initiation ids %v: want one initiation, the rest replays or 409", codes, ids)
	}
	_, list, _ := b.call(t, "GET", "/api/v1/initiations?campaignId=demo", nil)
	if total := list["pagination"].(map[string]any)["total"]; total != 1.0 {
		t.Fatalf("%v initiations created", total)
	}
}
