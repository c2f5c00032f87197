package worker

import (
	"context"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/campaignsms/campaignsms/internal/store"
)

// finisher records outcomes as they arrive, many per script call when they
// arrive together, so a sent message is recorded within milliseconds and a
// crash re-sends at most what was in flight. add never blocks: a sender
// that has an outcome is done with its message whatever Redis is doing, and
// the queue is bounded by the batch size.
type finisher struct {
	st       *store.Store
	id       string
	owner    string
	log      *zap.Logger
	progress func()

	mu     sync.Mutex
	queue  []store.Outcome
	closed bool
	err    error
	wake   chan struct{}
	done   chan struct{}
}

// maxFlush is the most outcomes one Finish call carries.
const maxFlush = 128

func newFinisher(st *store.Store, id, owner string, log *zap.Logger, progress func()) *finisher {
	if progress == nil {
		progress = func() {}
	}
	f := &finisher{st: st, id: id, owner: owner, log: log, progress: progress,
		wake: make(chan struct{}, 1), done: make(chan struct{})}
	go f.loop()
	return f
}

func (f *finisher) add(o store.Outcome) {
	f.mu.Lock()
	f.queue = append(f.queue, o)
	f.mu.Unlock()
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// close flushes what is left and reports the first write that never landed.
func (f *finisher) close() error {
	f.mu.Lock()
	f.closed = true
	f.mu.Unlock()
	select {
	case f.wake <- struct{}{}:
	default:
	}
	<-f.done
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}

func (f *finisher) loop() {
	defer close(f.done)
	buf := make([]store.Outcome, 0, maxFlush)
	for {
		f.mu.Lock()
		n := min(len(f.queue), maxFlush)
		buf = append(buf[:0], f.queue[:n]...)
		f.queue = f.queue[n:]
		closed := f.closed && len(f.queue) == 0
		f.mu.Unlock()
		if len(buf) > 0 {
			f.flush(buf)
			continue
		}
		if closed {
			return
		}
		<-f.wake
	}
}

// flush retries for a while: the task's context may be gone (shutdown), but
// an outcome that is not written means a message sent again later.
func (f *finisher) flush(buf []store.Outcome) {
	deadline := time.Now().Add(30 * time.Second)
	wait := 50 * time.Millisecond
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := f.st.Finish(ctx, f.id, f.owner, buf)
		cancel()
		if err == nil {
			f.progress()
			return
		}
		if time.Now().After(deadline) {
			f.log.Error("record message outcomes", zap.String("initiation", f.id), zap.Int("messages", len(buf)), zap.Error(err))
			f.mu.Lock()
			if f.err == nil {
				f.err = err
			}
			f.mu.Unlock()
			return
		}
		time.Sleep(wait)
		wait = min(wait*2, time.Second)
	}
}
