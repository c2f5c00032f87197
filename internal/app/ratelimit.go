package app

import (
	"context"
	"fmt"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"golang.org/x/time/rate"
)

// globalLimiter shares SMS_RATE_LIMIT among every worker through Redis
// (GCRA, one script call per message).
type globalLimiter struct {
	lim   *redis_rate.Limiter
	limit redis_rate.Limit
}

func (g *globalLimiter) Wait(ctx context.Context) error {
	for {
		res, err := g.lim.Allow(ctx, "cs:ratelimit:sms", g.limit)
		if err != nil {
			return fmt.Errorf("rate limit: %w", err)
		}
		if res.Allowed > 0 {
			return nil
		}
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
	return &globalLimiter{lim: redis_rate.NewLimiter(r.Client), limit: redis_rate.Limit{Rate: perSecond, Burst: max(1, perSecond/10), Period: time.Second}}
}
