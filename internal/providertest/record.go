package providertest

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
)

// Accepted maps each accepted message id to the number of times it was
// accepted with 2xx (a copy). Without Dedupe, a message sent twice counts 2.
func (s *Server) Accepted() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.accepted))
	for id, e := range s.accepted {
		out[id] = e.count
	}
	return out
}

// AcceptedCount is the total number of acceptances (the sum over Accepted),
// Dedupe duplicates excluded.
func (s *Server) AcceptedCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.total
}

// AcceptedDistinct is the number of distinct message ids accepted.
func (s *Server) AcceptedDistinct() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.accepted)
}

// Duplicates is the number of repeated, already accepted Idempotency-Keys
// answered 200 without counting (Dedupe only).
func (s *Server) Duplicates() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.duplicates
}

// Received returns the last accepted body for a message id.
func (s *Server) Received(id string) (Message, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.accepted[id]
	if !ok {
		return Message{}, false
	}
	return e.msg, true
}

// WaitAccepted waits until at least n distinct message ids were accepted. It
// returns an error when ctx ends first or the server is closed.
func (s *Server) WaitAccepted(ctx context.Context, n int) error {
	for {
		s.mu.Lock()
		got := len(s.accepted)
		if got >= n {
			s.mu.Unlock()
			return nil
		}
		if s.closed {
			s.mu.Unlock()
			return fmt.Errorf("providertest: server closed with %d of %d messages accepted", got, n)
		}
		if s.notify == nil {
			s.notify = make(chan struct{})
		}
		ch := s.notify
		s.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("providertest: %d of %d messages accepted: %w", s.AcceptedDistinct(), n, ctx.Err())
		}
	}
}

func (s *Server) accept(w http.ResponseWriter, msg Message) {
	s.answerAccepted(w, s.record(msg))
}

// record counts an acceptance of msg and returns its providerMessageId; under
// Dedupe a repeated id is counted as a duplicate instead.
func (s *Server) record(msg Message) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.accepted[msg.MessageID]
	if e != nil && s.opts.Dedupe {
		s.duplicates++
		return e.pmid
	}
	if e == nil {
		e = &entry{pmid: "pm-" + strconv.FormatInt(s.pmSeq.Add(1), 10)}
		s.accepted[msg.MessageID] = e
		if s.notify != nil {
			close(s.notify)
			s.notify = nil
		}
	}
	e.count++
	e.msg = msg
	s.total++
	return e.pmid
}

func (s *Server) answerAccepted(w http.ResponseWriter, pmid string) {
	if s.opts.NoProviderMessageID {
		w.WriteHeader(http.StatusAccepted)
		return
	}
	writeJSON(w, http.StatusOK, `{"providerMessageId":"`+pmid+`"}`)
}
