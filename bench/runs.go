package main

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/campaignsms/campaignsms/internal/providertest"
)

// withFake runs fn against a fresh fake provider, closed afterwards so that
// its record of accepted messages does not outlive the run.
func withFake(fn func(fake *providertest.Server) error) error {
	fake := providertest.Start(providertest.Options{Seed: 1})
	defer fake.Close()
	return fn(fake)
}

// withWorkers starts n workers sending to a fresh fake, runs fn and stops them.
func (b *bench) withWorkers(ctx context.Context, n int, extra map[string]string, fn func(fake *providertest.Server, ws []*proc) error) error {
	return withFake(func(fake *providertest.Server) error {
		ws, err := b.startWorkers(ctx, n, fake, extra)
		if err != nil {
			return err
		}
		defer stopAll(ws)
		if err := fn(fake, ws); err != nil {
			for _, w := range ws {
				progress("tail of %s:\n%s", w.name, w.tail(15))
			}
			return err
		}
		return nil
	})
}

func (b *bench) runDirect(ctx context.Context) error {
	n := b.s.direct
	msgs, err := directMessages(n)
	if err != nil {
		return err
	}
	progress("direct client: %s messages from %d goroutines", fmtN(n), b.conc)
	err = withFake(func(fake *providertest.Server) error {
		rate, err := directRun(ctx, fake, msgs, b.conc)
		if err != nil {
			return err
		}
		progress("  %.0f msg/s", rate)
		b.rep.add("direct_client_per_s", rate, 0, "msg/s",
			fmt.Sprintf("plain Go loop, provider.NewWebhook, %d senders (as the workers), %s msgs, no queue/Redis", b.conc, fmtN(n)))
		return nil
	})
	if err != nil || b.s.altConc <= 0 || b.s.altConc == b.conc {
		return err
	}
	// For reference: fewer senders cost less CPU per message here.
	progress("direct client: %s messages from %d goroutines", fmtN(n), b.s.altConc)
	return withFake(func(fake *providertest.Server) error {
		rate, err := directRun(ctx, fake, msgs, b.s.altConc)
		if err != nil {
			return err
		}
		progress("  %.0f msg/s", rate)
		b.rep.add(fmt.Sprintf("direct_client_per_s_%d_senders", b.s.altConc), rate, 0, "msg/s",
			fmt.Sprintf("for reference: the same loop with %d senders", b.s.altConc))
		return nil
	})
}

func (b *bench) runE2E(ctx context.Context) error {
	s := b.s
	return b.withWorkers(ctx, s.workers, nil, func(fake *providertest.Server, _ []*proc) error {
		progress("e2e: %s customers, %d workers, provider without latency", fmtN(s.e2e), s.workers)
		rate, err := b.sendRun(ctx, fake, campaignID(s.e2e), s.e2e, 0)
		if err != nil {
			return err
		}
		progress("  %.0f msg/s", rate)
		b.rep.add("e2e_sent_per_s", rate, 0, "msg/s",
			fmt.Sprintf("%s customers, %d workers, initiate call → provider's last acceptance", fmtN(s.e2e), s.workers))

		lat := time.Duration(s.latencyMS) * time.Millisecond
		fake.SetFaults(providertest.Faults{Latency: lat})
		progress("e2e: %s customers, provider answers after %v", fmtN(s.latency), lat)
		rate, err = b.sendRun(ctx, fake, campaignID(s.latency), s.latency, 0)
		if err != nil {
			return err
		}
		progress("  %.0f msg/s", rate)
		b.rep.add("e2e_sent_per_s_latency50", rate, 0, "msg/s",
			fmt.Sprintf("as e2e_sent_per_s, provider answers after %v, %s customers", lat, fmtN(s.latency)))
		return nil
	})
}

// runLimiter compares fresh workers without SMS_RATE_LIMIT against fresh
// workers with a limit far above the achievable rate: the difference is the
// cost of one Redis GCRA call per message. The two alternate s.limiterReps
// times and the best rate of each counts, which damps the machine's noise.
func (b *bench) runLimiter(ctx context.Context) error {
	s := b.s
	cases := []struct {
		name, limit, what string
		rates             []float64
	}{
		{name: "e2e_sent_per_s_no_limit", what: "SMS_RATE_LIMIT unset"},
		{name: "e2e_sent_per_s_limit_1m", limit: "1000000", what: "SMS_RATE_LIMIT=1000000 (never reached)"},
	}
	for rep := range s.limiterReps {
		for i := range cases {
			c := &cases[i]
			extra := map[string]string{}
			if c.limit != "" {
				extra["SMS_RATE_LIMIT"] = c.limit
			}
			err := b.withWorkers(ctx, s.workers, extra, func(fake *providertest.Server, _ []*proc) error {
				progress("rate limiter %d/%d: %s customers, %s", rep+1, s.limiterReps, fmtN(s.limiter), c.what)
				rate, err := b.sendRun(ctx, fake, campaignID(s.limiter), s.limiter, 0)
				if err != nil {
					return err
				}
				progress("  %.0f msg/s", rate)
				c.rates = append(c.rates, rate)
				return nil
			})
			if err != nil {
				return err
			}
		}
	}
	for _, c := range cases {
		b.rep.add(c.name, slices.Max(c.rates), 0, "msg/s",
			fmt.Sprintf("%s customers, %d fresh workers, %s, best of %d", fmtN(s.limiter), s.workers, c.what, len(c.rates)))
	}
	return nil
}

func (b *bench) runPerMessage(ctx context.Context) error {
	n := b.s.pmt
	progress("per-message tasks: %s messages, asynq server with %d handlers in this process", fmtN(n), b.conc)
	return withFake(func(fake *providertest.Server) error {
		rate, err := perMessageRun(ctx, b.redisURL, fake, campaignID(n), n, b.conc)
		if err != nil {
			return err
		}
		progress("  %.0f msg/s", rate)
		b.rep.add("per_message_tasks_sent_per_s", rate, 0, "msg/s",
			fmt.Sprintf("baseline: one asynq task per message (load, render, send, HSET), %d handlers, %s msgs", b.conc, fmtN(n)))
		return nil
	})
}

// runRSS sends a small and a big campaign, each through one fresh worker,
// and reads the worker's peak RSS (VmHWM) after the campaign completed.
func (b *bench) runRSS(ctx context.Context) error {
	for _, c := range []struct {
		name string
		n    int
	}{{"worker_rss_mb_1k", b.s.rssSmall}, {"worker_rss_mb_1m", b.s.rssBig}} {
		err := b.withWorkers(ctx, 1, nil, func(fake *providertest.Server, ws []*proc) error {
			progress("worker RSS: one fresh worker sends %s customers", fmtN(c.n))
			rate, err := b.sendRun(ctx, fake, campaignID(c.n), c.n, 0)
			if err != nil {
				return err
			}
			mb, err := ws[0].peakRSSMB()
			if err != nil {
				return err
			}
			progress("  peak RSS %.1f MiB, %.0f msg/s", mb, rate)
			b.rep.add(c.name, mb, 1, "MiB", fmt.Sprintf("peak RSS (VmHWM) of one worker sending %s customers (%.0f msg/s)", fmtN(c.n), rate))
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// runAck measures the initiate answer with no worker running (every
// initiation is cancelled right after), and reading the same ids from Redis.
func (b *bench) runAck(ctx context.Context) error {
	s := b.s
	camp := campaignID(s.ack)
	var acks, reads []time.Duration
	for i := range s.reps {
		id, took, err := b.initiate(ctx, camp, 0, s.ack)
		if err != nil {
			return err
		}
		if err := b.cancel(ctx, id); err != nil {
			return err
		}
		acks = append(acks, took)
		t0 := time.Now()
		ids, err := b.st.CustomerIDs(ctx, org, camp, 0, -1)
		if err != nil {
			return err
		}
		reads = append(reads, time.Since(t0))
		if len(ids) != s.ack {
			return fmt.Errorf("read %d ids of %s, want %d", len(ids), camp, s.ack)
		}
		progress("ack %d: initiate %s customers %v, ZRANGE of their ids %v", i+1, fmtN(s.ack), took.Round(time.Millisecond), reads[i].Round(time.Microsecond))
	}
	b.rep.add("ack_ms_100k", medianMS(acks), 1, "ms", fmt.Sprintf("POST /initiate answer for %s customers, median of %d", fmtN(s.ack), s.reps))
	b.rep.add("redis_read_ms_100k", medianMS(reads), 1, "ms", fmt.Sprintf("store.CustomerIDs (ZRANGE) of the same %s ids, median of %d", fmtN(s.ack), s.reps))

	id, took, err := b.initiate(ctx, campaignID(s.ackBig), 0, s.ackBig)
	if err != nil {
		return err
	}
	if err := b.cancel(ctx, id); err != nil {
		return err
	}
	progress("ack: initiate %s customers %v", fmtN(s.ackBig), took.Round(time.Millisecond))
	b.rep.add("ack_ms_1m", float64(took)/float64(time.Millisecond), 1, "ms", fmt.Sprintf("POST /initiate answer for %s customers (target < 2000)", fmtN(s.ackBig)))
	return nil
}
