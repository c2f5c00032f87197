package worker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/campaignsms/campaignsms/internal/customer"
	"github.com/campaignsms/campaignsms/internal/queue"
	"github.com/campaignsms/campaignsms/internal/smstemplate"
	"github.com/campaignsms/campaignsms/internal/store"
)

// batchRun is one run of one batch.
type batchRun struct {
	h       *Handler
	b       queue.Batch
	ini     *store.Initiation
	tpl     *smstemplate.Set
	owner   string
	log     *zap.Logger
	paused  atomic.Bool
	busy    atomic.Bool // some message is held by another run or was lost to one
	release atomic.Bool // some claimed message was handed back unsent
	sent    atomic.Int64
	failed  atomic.Int64
	fin     *finisher
	cancel  context.CancelCauseFunc // ends the run; set by ProcessBatch
	// progress is the monotonic time (ns since start) of the last step
	// forward; the watchdog reads it.
	start    time.Time
	progress atomic.Int64
	slots    []slot
}

func newRun(h *Handler, b queue.Batch, ini *store.Initiation, tpl *smstemplate.Set) *batchRun {
	r := &batchRun{h: h, b: b, ini: ini, tpl: tpl, owner: newOwner(), start: time.Now()}
	r.log = h.p.Log.With(zap.String("initiation", ini.ID), zap.Int("batch", b.Batch))
	r.slots = make([]slot, max(1, min(h.p.Concurrency, len(b.IDs))))
	return r
}

// progressed records a step forward for the watchdog.
func (r *batchRun) progressed() { r.progress.Store(int64(time.Since(r.start))) }

// claimedChunk is one chunk's claim answers and the customer records read
// right after the claim, so that every message is rendered and checked
// against the customer as they are at send time, not at the batch's start.
type claimedChunk struct {
	start  int
	ns     []int
	claims []store.Claim
	recs   []customer.Record
}

// run claims the batch's messages chunk by chunk and sends them with a fixed
// pool of Concurrency senders. The next chunk is claimed while the current
// one is being sent, so a claim's round trip never leaves the senders idle.
// Every wait in here ends when ctx does, so a cancelled run always returns.
func (r *batchRun) run(ctx context.Context) error {
	go r.watchPause(ctx)
	chunks := make(chan claimedChunk, 1)
	claimErr := make(chan error, 1)
	go r.claimAhead(ctx, chunks, claimErr)

	work := make(chan msg)
	var wg sync.WaitGroup
	for i := range r.slots {
		wg.Add(1)
		go func(s *slot) {
			defer wg.Done()
			for m := range work {
				r.handle(ctx, s, m)
				s.set(actIdle, -1, time.Time{})
			}
		}(&r.slots[i])
	}
	for c := range chunks {
		for j, cl := range c.claims {
			if cl.Kind == store.ClaimBusy {
				r.busy.Store(true)
			}
			if cl.Kind != store.ClaimTaken {
				continue
			}
			i := c.start + j
			m := msg{n: c.ns[j], id: r.b.IDs[i], rec: c.recs[j], attempt: cl.Attempt, resend: cl.Resend}
			if r.paused.Load() || ctx.Err() != nil {
				r.giveBack(m) // claimed ahead but not to be sent now
				continue
			}
			select {
			case work <- m:
			case <-ctx.Done():
				r.giveBack(m)
			}
		}
	}
	close(work)
	r.waitSenders(ctx, &wg)
	select {
	case err := <-claimErr:
		return err
	default:
		return nil
	}
}

// senderGrace is how long a cancelled run waits for its senders. Every wait
// of a sender ends with the run's context; one that does not (a bug, or code
// that ignores its context) is left behind rather than keep the batch.
const senderGrace = 5 * time.Second

// waitSenders waits for the senders; once ctx has ended it waits at most
// senderGrace. A message held by a sender left behind stays leased and is
// taken over by a later run when its lease runs out.
func (r *batchRun) waitSenders(ctx context.Context, wg *sync.WaitGroup) {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		return
	case <-ctx.Done():
	}
	t := time.NewTimer(senderGrace)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		r.log.Error("senders did not stop after the run ended; leaving them behind", r.waitFields()...)
	}
}

// claimAhead claims the batch chunk by chunk into out, one chunk ahead of
// the senders, and stops at a pause, a cancelled context or an error.
func (r *batchRun) claimAhead(ctx context.Context, out chan<- claimedChunk, errc chan<- error) {
	defer close(out)
	chunk := max(1, min(r.h.p.Concurrency, 100))
	for start := 0; start < len(r.b.IDs); start += chunk {
		if r.paused.Load() || ctx.Err() != nil {
			return
		}
		end := min(start+chunk, len(r.b.IDs))
		ns := make([]int, 0, end-start)
		for i := start; i < end; i++ {
			ns = append(ns, r.b.First+i)
		}
		claims, err := r.h.p.Store.Claim(ctx, r.ini.ID, r.owner, r.h.p.Lease, ns)
		if err != nil {
			if ctx.Err() == nil {
				errc <- err
			}
			return
		}
		if len(claims) == 0 { // the initiation is gone
			return
		}
		c := claimedChunk{start: start, ns: ns, claims: claims}
		c.recs, err = r.h.p.Store.Customers(ctx, r.b.Org, r.b.CampaignID, r.b.IDs[start:end])
		if err != nil {
			// The claimed messages go back; a later run takes them.
			for j, cl := range claims {
				if cl.Kind == store.ClaimTaken {
					r.giveBack(msg{n: ns[j]})
				}
			}
			if ctx.Err() == nil {
				errc <- err
			}
			return
		}
		r.progressed()
		// The consumer always drains out, so this send cannot block for ever.
		out <- c
	}
}

// watchPause rereads the campaign status every PauseCheck so that a pause
// stops sending within that time.
func (r *batchRun) watchPause(ctx context.Context) {
	t := time.NewTicker(r.h.p.PauseCheck)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := r.checkPaused(ctx); err != nil && ctx.Err() == nil {
				r.log.Warn("read campaign status", zap.Error(err))
			}
		}
	}
}

// giveBack returns a claimed, unsent message to pending.
func (r *batchRun) giveBack(m msg) {
	r.release.Store(true)
	r.fin.add(store.Outcome{N: m.n, Outcome: store.OutRelease})
}

// giveBackAmbiguous returns a message whose provider call was cut off: the
// provider may have it, so the run that takes it next knows it is a re-send.
func (r *batchRun) giveBackAmbiguous(m msg) {
	r.release.Store(true)
	r.fin.add(store.Outcome{N: m.n, Outcome: store.OutReleaseAmbiguous})
}

func newOwner() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
