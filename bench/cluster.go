package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"regexp"
	"strconv"
	"time"

	"github.com/campaignsms/campaignsms/internal/providertest"
)

const (
	org      = "default"
	apiToken = "bench"
)

var (
	listenRe  = regexp.MustCompile(`"msg":"api listening","addr":"([^"]+)"`)
	runningRe = regexp.MustCompile(`"msg":"worker running"`)
)

// baseEnv is the environment shared by the API and the workers.
func (b *bench) baseEnv(webhookURL string) map[string]string {
	return map[string]string{
		"REDIS_URL": b.redisURL, "API_TOKENS": apiToken + ":" + org, "DEMO_DATA": "false",
		"HTTP_ADDR": "127.0.0.1:0", "METRICS_ADDR": "127.0.0.1:0",
		"SMS_PROVIDER": "webhook", "SMS_WEBHOOK_URL": webhookURL,
	}
}

// startAPI starts cmd/api and reads its address from the log.
func (b *bench) startAPI(ctx context.Context) error {
	// The API sends nothing; the URL only satisfies SMS_PROVIDER=webhook.
	p, err := startProc(ctx, b.tmp, "api", b.bin("api"), nil, b.baseEnv("http://127.0.0.1:9/unused"))
	if err != nil {
		return err
	}
	m, err := p.waitLog(ctx, listenRe, 30*time.Second)
	if err != nil {
		return err
	}
	b.apiBase = "http://" + m[1]
	return nil
}

// startWorkers starts n cmd/worker processes sending to fake, with extra
// environment on top of the defaults.
func (b *bench) startWorkers(ctx context.Context, n int, fake *providertest.Server, extra map[string]string) ([]*proc, error) {
	env := b.baseEnv(fake.URL)
	maps.Copy(env, extra)
	var ws []*proc
	for range n {
		b.seq++
		w, err := startProc(ctx, b.tmp, "worker-"+strconv.Itoa(b.seq), b.bin("worker"), nil, env)
		if err != nil {
			stopAll(ws)
			return nil, err
		}
		ws = append(ws, w)
	}
	for _, w := range ws {
		if _, err := w.waitLog(ctx, runningRe, 30*time.Second); err != nil {
			stopAll(ws)
			return nil, err
		}
	}
	return ws, nil
}

func stopAll(ws []*proc) {
	for _, w := range ws {
		w.stop(20 * time.Second)
	}
}

// call makes one API request and decodes the JSON answer.
func (b *bench) call(ctx context.Context, method, path string, body any) (int, map[string]any, error) {
	var rd io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(data)
	}
	rctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, method, b.apiBase+path, rd)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+apiToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := b.http.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		return resp.StatusCode, nil, fmt.Errorf("%s %s: %d %.200s", method, path, resp.StatusCode, raw)
	}
	return resp.StatusCode, out, nil
}

// initiate sends the campaign's template to its first limit customers (0:
// all), checks that want were queued and returns the initiation id and how
// long the answer took.
func (b *bench) initiate(ctx context.Context, campaign string, limit, want int) (string, time.Duration, error) {
	body := map[string]any{"templateId": templateID}
	if limit > 0 {
		body["limit"] = limit
	}
	t0 := time.Now()
	code, out, err := b.call(ctx, http.MethodPost, "/api/v1/initiate/"+campaign+"/sms", body)
	took := time.Since(t0)
	if err != nil {
		return "", took, err
	}
	res, _ := out["results"].(map[string]any)
	id, _ := out["initiationId"].(string)
	if code != http.StatusOK || id == "" || res == nil || num(res["initiated"]) != float64(want) {
		return "", took, fmt.Errorf("initiate %s: %d %v", campaign, code, out)
	}
	return id, took, nil
}

// cancel DELETEs an initiation.
func (b *bench) cancel(ctx context.Context, id string) error {
	code, out, err := b.call(ctx, http.MethodDelete, "/api/v1/initiations/"+id, nil)
	if err != nil {
		return err
	}
	if code != http.StatusOK {
		return fmt.Errorf("cancel %s: %d %v", id, code, out)
	}
	return nil
}

// waitCompleted polls the status until nothing is pending and checks that
// every message was sent.
func (b *bench) waitCompleted(ctx context.Context, id string, want int, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		code, out, err := b.call(ctx, http.MethodGet, "/api/v1/initiations/"+id, nil)
		if err != nil {
			return err
		}
		res, _ := out["results"].(map[string]any)
		if code != http.StatusOK || res == nil {
			return fmt.Errorf("status %s: %d %v", id, code, out)
		}
		if num(res["pending"]) == 0 {
			if out["state"] != "completed" || num(res["sent"]) != float64(want) {
				return fmt.Errorf("initiation %s ended %v with %v, want %d sent", id, out["state"], res, want)
			}
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("initiation %s still pending after %v: %v", id, within, res)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func num(v any) float64 {
	f, _ := v.(float64)
	return f
}

// waitAccepted polls the fake until it has accepted want distinct messages
// and fails when no message arrives for stall.
func waitAccepted(ctx context.Context, fake *providertest.Server, want int, stall time.Duration) error {
	last, lastAt := -1, time.Now()
	for {
		got := fake.AcceptedDistinct()
		if got >= want {
			return nil
		}
		if got != last {
			last, lastAt = got, time.Now()
		} else if time.Since(lastAt) > stall {
			return fmt.Errorf("provider accepted %d of %d messages, none in the last %v", got, want, stall)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("provider accepted %d of %d messages: %w", got, want, ctx.Err())
		case <-time.After(2 * time.Millisecond):
		}
	}
}

// sendRun initiates a whole campaign (or its first limit customers) through
// the running workers and returns messages per second from the initiate
// call to the provider's last acceptance, after checking the final status.
func (b *bench) sendRun(ctx context.Context, fake *providertest.Server, campaign string, n, limit int) (float64, error) {
	base := fake.AcceptedDistinct()
	total0 := fake.AcceptedCount()
	t0 := time.Now()
	id, _, err := b.initiate(ctx, campaign, limit, n)
	if err != nil {
		return 0, err
	}
	if err := waitAccepted(ctx, fake, base+n, 60*time.Second); err != nil {
		return 0, err
	}
	el := time.Since(t0)
	if err := b.waitCompleted(ctx, id, n, 2*time.Minute); err != nil {
		return 0, err
	}
	if dup := fake.AcceptedCount() - total0 - n; dup != 0 {
		progress("  note: provider saw %d repeated sends", dup)
	}
	return float64(n) / el.Seconds(), nil
}
