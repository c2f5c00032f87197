package app

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"golang.org/x/time/rate"
)

// globalLimiter shares SMS_RATE_LIMIT among every worker through Redis
// (GCRA). It takes up to 20 ms worth of tokens per Redis call and hands them
// out locally, so the limiter costs one script call per grab, not per
// message; a token taken and not used is lost, so the rate can fall short of
// the limit, never exceed it.
type globalLimiter struct {
	lim   *redis_rate.Limiter
	limit redis_rate.Limit
	grab  int
	mu    sync.Mutex
	local int
}

func (g *globalLimiter) Wait(ctx context.Context) error {
	for {
		g.mu.Lock()
		if g.local > 0 {
			g.local--
			g.mu.Unlock()
			return nil
		}
		res, err := g.lim.AllowAtMost(ctx, "cs:ratelimit:sms", g.limit, g.grab)
		if err != nil {
			g.mu.Unlock()
			return fmt.Errorf("rate limit: %w", err)
		}
		if res.Allowed > 0 {
			g.local = res.Allowed - 1
			g.mu.Unlock()
			return nil
		}
		g.mu.Unlock()
		t := time.NewTimer(res.RetryAfter)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("rate limit: %w", ctx.Err())
		case <-t.C:
		}
	}
}

type localLimiter struct{ lim *rate.Limiter }

func (l localLimiter) Wait(ctx context.Context) error { return l.lim.Wait(ctx) }

// newRateLimiter limits sends to perSecond across all workers on real Redis.
// On the embedded Redis there is one process, so a local limiter does.
func newRateLimiter(r *Redis, perSecond int) interface {
	Wait(ctx context.Context) error
} {
	if r.Embedded != nil {
		return localLimiter{rate.NewLimiter(rate.Limit(perSecond), max(1, perSecond/10))}
	}
	burst := max(1, perSecond/10)
	return &globalLimiter{
		lim:   redis_rate.NewLimiter(r.Client),
		limit: redis_rate.Limit{Rate: perSecond, Burst: burst, Period: time.Second},
		grab:  min(burst, max(1, perSecond/50)),
	}
}
