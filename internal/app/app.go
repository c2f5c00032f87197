// Package app wires the parts both programs share: the logger, the Redis
// connection (real or embedded), the SMS provider and the worker runtime.
package app

import (
	"context"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/campaignsms/campaignsms/internal/config"
)

// NewLogger returns a JSON logger at level writing to w.
func NewLogger(level zapcore.Level, w io.Writer) *zap.Logger {
	enc := zap.NewProductionEncoderConfig()
	enc.TimeKey = "ts"
	enc.EncodeTime = zapcore.ISO8601TimeEncoder
	core := zapcore.NewCore(zapcore.NewJSONEncoder(enc), zapcore.Lock(zapcore.AddSync(w)), level)
	return zap.New(core)
}

// Redis is the connection of a program, and the embedded server behind it
// when there is no REDIS_URL.
type Redis struct {
	Client   redis.UniversalClient
	Embedded *miniredis.Miniredis
	stop     chan struct{}
}

// embeddedTimeout bounds one call to the embedded Redis.
const embeddedTimeout = 30 * time.Second

// OpenRedis connects to REDIS_URL, or starts an embedded in-memory Redis.
func OpenRedis(ctx context.Context, cfg config.Config) (*Redis, error) {
	if cfg.Embedded() {
		mr := miniredis.NewMiniRedis()
		if err := mr.Start(); err != nil {
			return nil, fmt.Errorf("start embedded redis: %w", err)
		}
		r := &Redis{
			// The server is in this process: a slow answer means a busy
			// CPU, never a dead server, and timing out (go-redis' 3 s) only
			// turns slowness into failures (the demo load at start).
			Client: redis.NewClient(&redis.Options{Addr: mr.Addr(), DisableIdentity: true,
				ReadTimeout: embeddedTimeout, WriteTimeout: embeddedTimeout}),
			Embedded: mr,
			stop:     make(chan struct{}),
		}
		go r.tick()
		return r, nil
	}
	opts, err := cfg.RedisOptions()
	if err != nil {
		return nil, err
	}
	c := redis.NewUniversalClient(opts)
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := c.Ping(pctx).Err(); err != nil {
		// Not fatal: Redis may come up after us; /readyz reports it.
		return &Redis{Client: c}, fmt.Errorf("redis does not answer yet: %w", err)
	}
	return &Redis{Client: c}, nil
}

// tick lets the embedded Redis' TTLs count down: miniredis only moves its
// clock when told to.
func (r *Redis) tick() {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	last := time.Now()
	for {
		select {
		case <-r.stop:
			return
		case now := <-t.C:
			r.Embedded.FastForward(now.Sub(last))
			last = now
		}
	}
}

// Close closes the client and the embedded server.
func (r *Redis) Close() error {
	err := r.Client.Close()
	if r.Embedded != nil {
		close(r.stop)
		r.Embedded.Close()
	}
	return err
}

// redisLogs forwards go-redis' own messages (sentinel failovers, pool
// warnings) to the program's logger as structured lines. go-redis has one
// process-wide logger, so this is the one package-level state here; the
// target is swapped atomically so that tests running several programs in one
// process do not race.
var redisLogs struct {
	once   sync.Once
	target atomic.Pointer[zap.Logger]
}

type redisLogger struct{}

func (redisLogger) Printf(_ context.Context, format string, v ...any) {
	if l := redisLogs.target.Load(); l != nil {
		l.Warn(fmt.Sprintf(format, v...))
	}
}

// RouteRedisLogs sends go-redis' messages to log instead of stderr.
func RouteRedisLogs(log *zap.Logger) {
	redisLogs.target.Store(log.Named("redis"))
	redisLogs.once.Do(func() { redis.SetLogger(redisLogger{}) })
}
