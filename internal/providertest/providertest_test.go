package providertest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

func body(id, to string) string {
	return fmt.Sprintf(`{"messageId":%q,"to":%q,"from":"TMPPAY","body":"hi"}`, id, to)
}

type req struct {
	method, key, auth, ctype, body string
}

func do(t testing.TB, c *http.Client, url string, r req) (int, string, http.Header, error) {
	t.Helper()
	if r.method == "" {
		r.method = http.MethodPost
	}
	if r.ctype == "" {
		r.ctype = "application/json"
	}
	hr, err := http.NewRequest(r.method, url, strings.NewReader(r.body))
	if err != nil {
		t.Fatal(err)
	}
	hr.Header.Set("Content-Type", r.ctype)
	if r.key != "" {
		hr.Header.Set("Idempotency-Key", r.key)
	}
	if r.auth != "" {
		hr.Header.Set("Authorization", r.auth)
	}
	resp, err := c.Do(hr)
	if err != nil {
		return 0, "", nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header, err
}

func send(t testing.TB, c *http.Client, url, id string) int {
	t.Helper()
	st, _, _, err := do(t, c, url, req{key: id, body: body(id, "+919876543210")})
	if err != nil {
		t.Fatalf("send %s: %v", id, err)
	}
	return st
}

// eventually waits for cond with a deadline, checking often.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func start(t *testing.T, o Options) *Server {
	s := Start(o)
	t.Cleanup(s.Close)
	return s
}

func TestAcceptAndRecord(t *testing.T) {
	s := start(t, Options{})
	c := &http.Client{}
	st, b, h, err := do(t, c, s.URL, req{key: "a", body: body("a", "+911")})
	if err != nil || st != 200 || !strings.HasPrefix(b, `{"providerMessageId":"pm-`) || h.Get("Content-Type") != "application/json" {
		t.Fatalf("got %d %q %v %v", st, b, h, err)
	}
	send(t, c, s.URL, "a")
	send(t, c, s.URL, "b")
	if a := s.Accepted(); len(a) != 2 || a["a"] != 2 || a["b"] != 1 {
		t.Errorf("Accepted = %v, want a:2 b:1", a)
	}
	if s.AcceptedCount() != 3 || s.AcceptedDistinct() != 2 || s.Requests() != 3 || s.Duplicates() != 0 {
		t.Errorf("counts %d %d %d %d", s.AcceptedCount(), s.AcceptedDistinct(), s.Requests(), s.Duplicates())
	}
	if m, ok := s.Received("b"); !ok || m.MessageID != "b" || m.To != "+919876543210" || m.From != "TMPPAY" {
		t.Errorf("Received = %+v, %v", m, ok)
	}
	if _, ok := s.Received("zzz"); ok {
		t.Error("Received of an unknown id")
	}
	if s.Connections() != 1 {
		t.Errorf("Connections = %d, want 1", s.Connections())
	}
}

func TestNoProviderMessageID(t *testing.T) {
	s := start(t, Options{NoProviderMessageID: true})
	st, b, _, err := do(t, http.DefaultClient, s.URL, req{key: "a", body: body("a", "+91")})
	if err != nil || st != 202 || b != "" {
		t.Errorf("got %d %q %v", st, b, err)
	}
}

func TestDedupe(t *testing.T) {
	s := start(t, Options{Dedupe: true})
	c := &http.Client{}
	_, b1, _, _ := do(t, c, s.URL, req{key: "a", body: body("a", "+91")})
	_, b2, _, _ := do(t, c, s.URL, req{key: "a", body: body("a", "+91")})
	if b1 != b2 || b1 == "" {
		t.Errorf("a repeated key got another answer: %q vs %q", b1, b2)
	}
	send(t, c, s.URL, "b")
	if a := s.Accepted(); len(a) != 2 || a["a"] != 1 || a["b"] != 1 {
		t.Errorf("Accepted = %v, want a:1 b:1", a)
	}
	if s.Duplicates() != 1 || s.AcceptedCount() != 2 {
		t.Errorf("Duplicates %d AcceptedCount %d", s.Duplicates(), s.AcceptedCount())
	}
}

func TestValidation(t *testing.T) {
	s := start(t, Options{Token: "tok"})
	ok := "Bearer tok"
	for _, c := range []struct {
		name string
		r    req
		want int
	}{
		{"valid", req{key: "a", auth: ok, body: body("a", "+91")}, 200},
		{"GET", req{method: "GET", key: "a", auth: ok}, 400},
		{"no token", req{key: "a", body: body("a", "+91")}, 401},
		{"wrong token", req{key: "a", auth: "Bearer nope", body: body("a", "+91")}, 401},
		{"text body", req{key: "a", auth: ok, ctype: "text/plain", body: body("a", "+91")}, 400},
		{"charset ok", req{key: "c", auth: ok, ctype: "application/json; charset=utf-8", body: body("c", "+91")}, 200},
		{"no key", req{auth: ok, body: body("a", "+91")}, 400},
		{"key mismatch", req{key: "b", auth: ok, body: body("a", "+91")}, 400},
		{"not json", req{key: "a", auth: ok, body: "messageId=a"}, 400},
		{"no messageId", req{key: "a", auth: ok, body: `{"to":"+91"}`}, 400},
		{"no to", req{key: "a", auth: ok, body: `{"messageId":"a"}`}, 400},
		{"too large", req{key: "a", auth: ok, body: `{"messageId":"a","to":"1","body":"` + strings.Repeat("x", 70<<10) + `"}`}, 400},
	} {
		st, b, _, err := do(t, http.DefaultClient, s.URL, c.r)
		if err != nil || st != c.want {
			t.Errorf("%s: got %d %q %v, want %d", c.name, st, b, err, c.want)
		}
		if st >= 400 && !strings.Contains(b, `"reason"`) {
			t.Errorf("%s: answer %q lacks a reason", c.name, b)
		}
	}
	if s.AcceptedCount() != 2 {
		t.Errorf("AcceptedCount = %d, want 2", s.AcceptedCount())
	}
}

func TestOutageBurstAndSetFaults(t *testing.T) {
	s := start(t, Options{Faults: Faults{Outage: true}})
	c := &http.Client{}
	if st := send(t, c, s.URL, "a"); st != 503 {
		t.Errorf("outage: %d", st)
	}
	s.SetFaults(Faults{TooManyBurst: 2, RetryAfter: 1500 * time.Millisecond})
	for i := range 2 {
		st, _, h, err := do(t, c, s.URL, req{key: "a", body: body("a", "+91")})
		if err != nil || st != 429 || h.Get("Retry-After") != "2" {
			t.Errorf("burst %d: %d %v Retry-After %q", i, st, err, h.Get("Retry-After"))
		}
	}
	if st := send(t, c, s.URL, "a"); st != 200 {
		t.Errorf("after burst: %d", st)
	}
	s.SetFaults(Faults{TooManyBurst: 1})
	if _, _, h, _ := do(t, c, s.URL, req{key: "a", body: body("a", "+91")}); h.Get("Retry-After") != "" {
		t.Errorf("Retry-After %q sent without RetryAfter", h.Get("Retry-After"))
	}
	if s.AcceptedCount() != 1 || s.Requests() != 5 {
		t.Errorf("AcceptedCount %d Requests %d", s.AcceptedCount(), s.Requests())
	}
}

// rates sends n distinct messages from the given number of workers and
// counts the outcomes by status, "timeout" or "drop". With a fixed seed the
// sequence of fault draws is fixed, so the counts do not depend on timing.
func rates(t *testing.T, s *Server, c *http.Client, n, workers int) map[string]int {
	var mu sync.Mutex
	counts := map[string]int{}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < n; i += workers {
				id := fmt.Sprint("m", i)
				st, _, _, err := do(t, c, s.URL, req{key: id, body: body(id, "+91")})
				k := fmt.Sprint(st)
				var ne interface{ Timeout() bool }
				switch {
				case err != nil && errors.As(err, &ne) && ne.Timeout():
					k = "timeout"
				case err != nil:
					k = "drop"
				}
				mu.Lock()
				counts[k]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return counts
}

func checkRate(t *testing.T, counts map[string]int, k string, n int, p, tol float64) {
	t.Helper()
	if got := float64(counts[k]) / float64(n); got < p-tol || got > p+tol {
		t.Errorf("%s: rate %.3f, want %.2f±%.2f (counts %v)", k, got, p, tol, counts)
	}
}

func TestFaultRates(t *testing.T) {
	f := Faults{DropRate: 0.15, Fail5xxRate: 0.25, Reject4xxRate: 0.1}
	s := start(t, Options{Faults: f, Seed: 7})
	// No keep-alive: a dropped reused connection would make the transport
	// retry the request by itself.
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	const n = 1000
	counts := rates(t, s, c, n, 32)
	checkRate(t, counts, "drop", n, f.DropRate, 0.04)
	checkRate(t, counts, "500", n, f.Fail5xxRate, 0.04)
	checkRate(t, counts, "400", n, f.Reject4xxRate, 0.04)
	checkRate(t, counts, "200", n, 0.5, 0.05)
	if s.AcceptedCount() != counts["200"] || s.AcceptedDistinct() != counts["200"] || s.Requests() != n {
		t.Errorf("AcceptedCount %d, 200s %d, Requests %d", s.AcceptedCount(), counts["200"], s.Requests())
	}
}

func TestTimeoutRate(t *testing.T) {
	s := start(t, Options{Faults: Faults{TimeoutRate: 0.3}, Seed: 3})
	c := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	const n = 128
	counts := rates(t, s, c, n, n)
	checkRate(t, counts, "timeout", n, 0.3, 0.12)
	checkRate(t, counts, "200", n, 0.7, 0.12)
}

func TestLatency(t *testing.T) {
	s := start(t, Options{Faults: Faults{Latency: 50 * time.Millisecond}})
	t0 := time.Now()
	if st := send(t, http.DefaultClient, s.URL, "a"); st != 200 {
		t.Fatal(st)
	}
	if el := time.Since(t0); el < 50*time.Millisecond {
		t.Errorf("answered after %v, want >= 50ms", el)
	}
}

func TestDrop(t *testing.T) {
	s := start(t, Options{Faults: Faults{DropRate: 1}})
	_, _, _, err := do(t, &http.Client{}, s.URL, req{key: "a", body: body("a", "+91")})
	if err == nil {
		t.Fatal("a dropped request got an answer")
	}
	if s.AcceptedCount() != 0 {
		t.Errorf("AcceptedCount = %d", s.AcceptedCount())
	}
}

// A held (timeout) request ends when the client gives up, and Close releases
// held requests without leaking goroutines.
func TestTimeoutHoldAndClose(t *testing.T) {
	base := runtime.NumGoroutine()
	s := Start(Options{Faults: Faults{TimeoutRate: 1}})
	tr := &http.Transport{}
	c := &http.Client{Transport: tr}

	// The client gives up.
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	hr, _ := http.NewRequestWithContext(ctx, "POST", s.URL, strings.NewReader(body("a", "+91")))
	hr.Header.Set("Content-Type", "application/json")
	hr.Header.Set("Idempotency-Key", "a")
	if _, err := c.Do(hr); !errors.Is(err, context.DeadlineExceeded) { //nolint:bodyclose // the call fails: there is no body
		t.Errorf("err = %v, want deadline exceeded", err)
	}
	cancel()

	// The server closes while requests are held.
	errc := make(chan error, 3)
	for i := range 3 {
		go func() {
			_, _, _, err := do(t, c, s.URL, req{key: fmt.Sprint(i), body: body(fmt.Sprint(i), "+91")})
			errc <- err
		}()
	}
	eventually(t, "4 requests", func() bool { return s.Requests() == 4 })
	closed := make(chan struct{})
	go func() { s.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Close blocked on held requests")
	}
	for range 3 {
		if err := <-errc; err == nil {
			t.Error("a held request got an answer")
		}
	}
	s.Close() // twice is fine
	tr.CloseIdleConnections()
	eventually(t, "goroutines to end", func() bool { return runtime.NumGoroutine() <= base })
}

func TestWaitAccepted(t *testing.T) {
	s := start(t, Options{})
	c := &http.Client{}
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		done <- s.WaitAccepted(ctx, 3)
	}()
	send(t, c, s.URL, "a")
	send(t, c, s.URL, "a") // not distinct
	send(t, c, s.URL, "b")
	select {
	case err := <-done:
		t.Fatalf("WaitAccepted returned early: %v", err)
	default:
	}
	send(t, c, s.URL, "c")
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := s.WaitAccepted(context.Background(), 3); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := s.WaitAccepted(ctx, 4); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want deadline exceeded", err)
	}

	go func() { done <- s.WaitAccepted(context.Background(), 10) }()
	eventually(t, "the waiter", func() bool { s.mu.Lock(); defer s.mu.Unlock(); return s.notify != nil })
	s.Close()
	if err := <-done; err == nil {
		t.Error("WaitAccepted returned nil after Close")
	}
}
