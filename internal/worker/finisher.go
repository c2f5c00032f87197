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
// crash re-sends at most what was in flight.
type finisher struct {
	st    *store.Store
	id    string
	owner string
	log   *zap.Logger
	ch    chan store.Outcome
	done  chan struct{}
	mu    sync.Mutex
	err   error
}

func newFinisher(st *store.Store, id, owner string, log *zap.Logger) *finisher {
	f := &finisher{st: st, id: id, owner: owner, log: log, ch: make(chan store.Outcome, 256), done: make(chan struct{})}
	go f.loop()
	return f
}

func (f *finisher) add(o store.Outcome) { f.ch <- o }

// close flushes what is left and reports the first write that never landed.
func (f *finisher) close() error {
	close(f.ch)
	<-f.done
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}

func (f *finisher) loop() {
	defer close(f.done)
	buf := make([]store.Outcome, 0, 128)
	for o := range f.ch {
		buf = append(buf[:0], o)
	drain:
		for len(buf) < 128 {
			select {
			case o, ok := <-f.ch:
				if !ok {
					break drain
				}
				buf = append(buf, o)
			default:
				break drain
			}
		}
		f.flush(buf)
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
