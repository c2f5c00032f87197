package store

import (
	"context"
	"time"

	"github.com/redis/go-redis/v9"
)

// addNewestScript lists a member as the newest of a listing: its score is
// the creation time in milliseconds, or one more than the newest member's
// when that is not older, so items created within one millisecond (or on
// hosts whose clocks disagree) still list in the order they were added. A
// member already listed keeps its place.
// KEYS: the listing zset. ARGV: member, creation time in ms.
var addNewestScript = redis.NewScript(`
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 0 end
local score = tonumber(ARGV[2])
local top = redis.call('ZREVRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if top[2] and tonumber(top[2]) >= score then score = tonumber(top[2]) + 1 end
return redis.call('ZADD', KEYS[1], score, ARGV[1])
`)

// addNewest queues addNewestScript on a pipeline. EVAL, not EVALSHA: in a
// pipeline a NOSCRIPT cannot fall back, and the script is short.
func addNewest(ctx context.Context, p redis.Pipeliner, key, member string, created time.Time) {
	addNewestScript.Eval(ctx, p, []string{key}, member, created.UnixMilli())
}
