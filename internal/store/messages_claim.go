package store

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// ClaimKind says what a claim found for one message.
type ClaimKind uint8

// What Claim can find for a message.
const (
	// ClaimTaken: the message is leased to the caller, who makes Attempt.
	ClaimTaken ClaimKind = iota + 1
	// ClaimBusy: another run holds a live lease on it.
	ClaimBusy
	// ClaimFinal: it is sent, delivered, failed, skipped or cancelled already.
	ClaimFinal
	// ClaimCancelled: the initiation was cancelled; the claim counted the
	// message as cancelled.
	ClaimCancelled
)

// Claim is the answer of Claim for one message.
type Claim struct {
	Kind ClaimKind
	// Attempt is the attempt to make (1 for a first send) when Kind is ClaimTaken.
	Attempt int
	// Resend is set when the message was taken over from a run whose lease
	// ran out or that died: that run may have handed it to the provider, so
	// sending it is possibly a second send (SPEC 5, AMBIGUOUS_SENDS).
	Resend bool
}

// parseClaim reads one answer of claimScript.
func parseClaim(s string) (Claim, error) {
	switch s {
	case "busy":
		return Claim{Kind: ClaimBusy}, nil
	case "final":
		return Claim{Kind: ClaimFinal}, nil
	case "C":
		return Claim{Kind: ClaimCancelled}, nil
	}
	c := Claim{Kind: ClaimTaken}
	if rest, ok := strings.CutPrefix(s, "r"); ok {
		c.Resend, s = true, rest
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		return Claim{}, fmt.Errorf("claim messages: unexpected answer %q", s)
	}
	c.Attempt = n
	return c, nil
}

// Claim leases messages ns of initiation id to owner for lease, one answer
// per message in the order of ns (see claimScript). It answers nothing when
// the initiation is gone.
func (s *Store) Claim(ctx context.Context, id, owner string, lease time.Duration, ns []int) ([]Claim, error) {
	k := ikeys(id)
	args := make([]any, 0, 3+len(ns))
	args = append(args, s.now().UnixMilli(), lease.Milliseconds(), owner)
	for _, n := range ns {
		args = append(args, n)
	}
	res, err := claimScript.Run(ctx, s.rdb, []string{k.meta(), k.st()}, args...).StringSlice()
	if err != nil {
		return nil, fmt.Errorf("claim messages: %w", err)
	}
	out := make([]Claim, len(res))
	for i, r := range res {
		if out[i], err = parseClaim(r); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// ExtendKind says what Extend found.
type ExtendKind uint8

// What Extend can find.
const (
	// ExtendRenewed: the lease is the caller's for another attempt.
	ExtendRenewed ExtendKind = iota + 1
	// ExtendLost: another run holds the message now, or it is final.
	ExtendLost
	// ExtendCancelled: the initiation was cancelled; the message is counted cancelled.
	ExtendCancelled
)

// Extension is the answer of Extend.
type Extension struct {
	Kind    ExtendKind
	Attempt int // the attempt to make next, when Kind is ExtendRenewed
}

// Extend renews owner's lease on message n before another attempt.
func (s *Store) Extend(ctx context.Context, id, owner string, lease time.Duration, n int) (Extension, error) {
	k := ikeys(id)
	res, err := extendScript.Run(ctx, s.rdb, []string{k.meta(), k.st()}, s.now().UnixMilli(), lease.Milliseconds(), owner, n).Text()
	if err != nil {
		return Extension{}, fmt.Errorf("extend lease: %w", err)
	}
	switch res {
	case "lost":
		return Extension{Kind: ExtendLost}, nil
	case "C":
		return Extension{Kind: ExtendCancelled}, nil
	}
	a, err := strconv.Atoi(res)
	if err != nil {
		return Extension{}, fmt.Errorf("extend lease: unexpected answer %q", res)
	}
	return Extension{Kind: ExtendRenewed, Attempt: a}, nil
}

// releaseOwnerScript expires the leases that owner holds on messages ns, so
// that the next run takes them over at once instead of waiting for the
// leases to run out. The rescuer calls it for runs of dead workers. The
// messages stay in flight and keep their attempt counts; a run that takes
// one over is told it may be a re-send.
// KEYS: st. ARGV: owner, n... Returns how many leases it expired.
var releaseOwnerScript = redis.NewScript(luaPrelude + `
local st, owner = KEYS[1], ARGV[1]
local ns = {unpack(ARGV, 2)}
if #ns == 0 then return 0 end
local cur = redis.call('HMGET', st, unpack(ns))
local set = {}
for i, n in ipairs(ns) do
  local c = cur[i]
  if c and string.sub(c, 1, 2) == 's|' then
    local o, l, a = parse(c)
    if o == owner and l and l > 0 then
      set[#set + 1] = n; set[#set + 1] = 's|' .. owner .. '|0|' .. a
    end
  end
end
if #set > 0 then redis.call('HSET', st, unpack(set)) end
return #set / 2
`)

// MessagesReleaseOwner expires owner's leases on messages ns of initiation
// id; it returns how many it expired.
func (s *Store) MessagesReleaseOwner(ctx context.Context, id, owner string, ns []int) (int, error) {
	args := make([]any, 0, 1+len(ns))
	args = append(args, owner)
	for _, n := range ns {
		args = append(args, n)
	}
	n, err := releaseOwnerScript.Run(ctx, s.rdb, []string{ikeys(id).st()}, args...).Int()
	if err != nil {
		return 0, fmt.Errorf("release leases: %w", err)
	}
	return n, nil
}

// MessageStates returns the states of messages ns.
func (s *Store) MessageStates(ctx context.Context, id string, ns []int) ([]MessageState, error) {
	fields := make([]string, len(ns))
	for i, n := range ns {
		fields[i] = strconv.Itoa(n)
	}
	vals, err := s.rdb.HMGet(ctx, ikeys(id).st(), fields...).Result()
	if err != nil {
		return nil, fmt.Errorf("read message states: %w", err)
	}
	out := make([]MessageState, len(ns))
	for i, v := range vals {
		str, _ := v.(string)
		out[i] = parseState(str)
	}
	return out, nil
}
