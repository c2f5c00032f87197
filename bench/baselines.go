package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"

	"github.com/campaignsms/campaignsms/internal/config"
	"github.com/campaignsms/campaignsms/internal/provider"
	"github.com/campaignsms/campaignsms/internal/providertest"
	"github.com/campaignsms/campaignsms/internal/smstemplate"
	"github.com/campaignsms/campaignsms/internal/store"

	"github.com/redis/go-redis/v9"
)

// webhookClient is provider.NewWebhook with a transport that keeps conc idle
// connections, so that conc senders never open a connection per request
// (a worker process keeps up to 512, more than its 500 sends in flight).
func webhookClient(url string, conc int) provider.Provider {
	tr := provider.NewTransport()
	tr.MaxIdleConns = max(tr.MaxIdleConns, conc)
	tr.MaxIdleConnsPerHost = max(tr.MaxIdleConnsPerHost, conc)
	return provider.NewWebhook(provider.WebhookParams{URL: url, Client: &http.Client{
		Transport:     tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}})
}

// directRun posts msgs to fake from conc goroutines: no queue, no Redis, no
// rendering. It returns messages per second.
func directRun(ctx context.Context, fake *providertest.Server, msgs []provider.Message, conc int) (float64, error) {
	p := webhookClient(fake.URL, conc)
	base := fake.AcceptedDistinct()
	var (
		next     atomic.Int64
		failures atomic.Int64
		firstErr atomic.Value
		wg       sync.WaitGroup
	)
	t0 := time.Now()
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(msgs) || ctx.Err() != nil {
					return
				}
				if _, err := p.Send(ctx, msgs[i]); err != nil {
					failures.Add(1)
					firstErr.CompareAndSwap(nil, err)
				}
			}
		}()
	}
	wg.Wait()
	el := time.Since(t0)
	if n := failures.Load(); n > 0 {
		return 0, fmt.Errorf("direct client: %d sends failed, first: %v", n, firstErr.Load())
	}
	if got := fake.AcceptedDistinct() - base; got != len(msgs) {
		return 0, fmt.Errorf("direct client: provider accepted %d of %d", got, len(msgs))
	}
	return float64(len(msgs)) / el.Seconds(), nil
}

const pmtQueue = "bench_per_message"

type pmtPayload struct {
	Campaign string `json:"c"`
	Customer string `json:"id"`
}

// perMessageRun is the naive design as a baseline: one asynq task per
// message. An asynq client enqueues one task per customer (payload: campaign
// and customer id); an asynq server in this process with conc handlers loads
// the customer from the store, renders the template, sends through the
// webhook provider and records a sent flag with one HSET. It returns messages
// per second from the first enqueue to the provider's last acceptance.
func perMessageRun(ctx context.Context, redisURL string, fake *providertest.Server, campaign string, n, conc int) (float64, error) {
	opts, err := config.ParseRedisURL(redisURL)
	if err != nil {
		return 0, err
	}
	rdb := redis.NewUniversalClient(opts)
	defer rdb.Close()
	st := store.New(store.Params{Redis: rdb})
	ids, err := st.CustomerIDs(ctx, org, campaign, 0, int64(n)-1)
	if err != nil {
		return 0, err
	}
	if len(ids) != n {
		return 0, fmt.Errorf("campaign %s has %d customers, want %d", campaign, len(ids), n)
	}
	tpl, err := smstemplate.Parse(templateBody)
	if err != nil {
		return 0, err
	}
	p := webhookClient(fake.URL, conc)
	sentKey := "bench:per_message:sent"
	var failures atomic.Int64
	handler := func(ctx context.Context, t *asynq.Task) error {
		var pl pmtPayload
		if err := json.Unmarshal(t.Payload(), &pl); err != nil {
			return fmt.Errorf("%v: %w", err, asynq.SkipRetry)
		}
		recs, err := st.Customers(ctx, org, pl.Campaign, []string{pl.Customer})
		if err != nil {
			return err
		}
		rec := recs[0]
		if rec == nil {
			failures.Add(1)
			return fmt.Errorf("customer %s not found: %w", pl.Customer, asynq.SkipRetry)
		}
		text, missing := tpl.Render(rec.Get)
		if missing != nil {
			failures.Add(1)
			return fmt.Errorf("missing %v: %w", missing, asynq.SkipRetry)
		}
		msgID := "pmt_" + pl.Campaign + "_" + pl.Customer
		if _, err := p.Send(ctx, provider.Message{
			ID: msgID, To: rec.Phone(), From: senderID, Body: text, TemplateID: templateID,
			DLTTemplateID: dltTemplate, DLTEntityID: dltEntity, CampaignID: pl.Campaign,
			CustomerID: pl.Customer, InitiationID: "pmt",
		}); err != nil {
			return err
		}
		return rdb.HSet(ctx, sentKey, msgID, "sent").Err()
	}
	srv := asynq.NewServerFromRedisClient(rdb, asynq.Config{
		Concurrency: conc, Queues: map[string]int{pmtQueue: 1}, LogLevel: asynq.ErrorLevel,
		ShutdownTimeout: 5 * time.Second,
	})
	if err := srv.Start(asynq.HandlerFunc(handler)); err != nil {
		return 0, fmt.Errorf("start asynq server: %w", err)
	}
	defer srv.Shutdown()
	client := asynq.NewClientFromRedisClient(rdb)
	defer client.Close()

	base := fake.AcceptedDistinct()
	t0 := time.Now()
	// Enqueue with a few goroutines, as the product's queue client does.
	var (
		wg       sync.WaitGroup
		next     atomic.Int64
		enqErr   atomic.Value
		enqCount atomic.Int64
	)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil || enqErr.Load() != nil {
					return
				}
				payload, _ := json.Marshal(pmtPayload{Campaign: campaign, Customer: ids[i]})
				if _, err := client.EnqueueContext(ctx, asynq.NewTask("sms:one", payload), asynq.Queue(pmtQueue), asynq.MaxRetry(3)); err != nil {
					enqErr.CompareAndSwap(nil, err)
					return
				}
				enqCount.Add(1)
			}
		}()
	}
	wg.Wait()
	if err, _ := enqErr.Load().(error); err != nil {
		return 0, fmt.Errorf("enqueue: %w", err)
	}
	if err := waitAccepted(ctx, fake, base+n, 60*time.Second); err != nil {
		return 0, err
	}
	el := time.Since(t0)
	if f := failures.Load(); f > 0 {
		return 0, fmt.Errorf("per-message tasks: %d failed", f)
	}
	// The last HSETs follow the last acceptances closely; wait for them.
	deadline := time.Now().Add(30 * time.Second)
	for {
		got, err := rdb.HLen(ctx, sentKey).Result()
		if err != nil {
			return 0, err
		}
		if got >= int64(n) {
			break
		}
		if time.Now().After(deadline) {
			return 0, errors.New("per-message tasks: sent flags missing")
		}
		time.Sleep(10 * time.Millisecond)
	}
	return float64(n) / el.Seconds(), nil
}
