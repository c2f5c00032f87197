package initiate

import (
	"context"
	"fmt"
	"time"

	"github.com/campaignsms/campaignsms/internal/apperr"
	"github.com/campaignsms/campaignsms/internal/store"
)

// Initiation states of SPEC §4.2.
const (
	StateQueued    = "queued"
	StateRunning   = "running"
	StatePaused    = "paused"
	StateCompleted = "completed"
	StateCancelled = "cancelled"
)

// Status is an initiation with its running totals.
type Status struct {
	Initiation *store.Initiation
	Counters   store.Counters
	State      string
	Errors     []store.MessageError
}

// Pending is what is still to be decided.
func (s *Status) Pending() int64 { return s.Counters.Pending() }

// Message is a one-sentence summary of the totals.
func (s *Status) Message() string {
	c := s.Counters
	switch s.State {
	case StateCancelled:
		return fmt.Sprintf("Initiation cancelled: %d sent, %d failed, %d cancelled", c.Sent, c.Failed, c.Cancelled)
	case StateCompleted:
		return fmt.Sprintf("Initiation completed: %d sent, %d failed, %d skipped", c.Sent, c.Failed, c.Skipped)
	case StatePaused:
		return fmt.Sprintf("Campaign paused: %d sent, %d pending", c.Sent, s.Pending())
	}
	return fmt.Sprintf("%d of %d messages sent, %d pending", c.Sent, c.Selected, s.Pending())
}

// Status reads an initiation of org with its totals, exact at the read.
func (s *Service) Status(ctx context.Context, org, id string) (*Status, error) {
	st := s.p.Store
	ini, err := st.Initiation(ctx, org, id)
	if err != nil {
		return nil, err
	}
	c, err := st.Counters(ctx, id)
	if err != nil {
		return nil, err
	}
	errs, err := st.Errors(ctx, id)
	if err != nil {
		return nil, err
	}
	if c.Pending() <= 0 {
		// Every message is final, so every batch's work is done, even if
		// the worker has not marked its batch yet: the totals never
		// disagree with each other.
		c.BatchesDone = int64(ini.Batches)
	}
	out := &Status{Initiation: ini, Counters: c, Errors: errs}
	switch {
	case c.CancelledState:
		out.State = StateCancelled
	case c.Pending() <= 0:
		out.State = StateCompleted
	default:
		cs, err := st.CampaignStatus(ctx, org, ini.CampaignID)
		if err != nil {
			return nil, err
		}
		switch {
		case cs == store.StatusPaused:
			out.State = StatePaused
		case c.Started:
			out.State = StateRunning
		default:
			out.State = StateQueued
		}
	}
	return out, nil
}

// List returns a page of the org's initiations, newest first, and the total.
func (s *Service) List(ctx context.Context, org, campaign string, page, limit int) ([]*Status, int64, error) {
	ids, total, err := s.p.Store.ListInitiations(ctx, org, campaign, int64((page-1)*limit), int64(limit))
	if err != nil {
		return nil, 0, err
	}
	out := make([]*Status, 0, len(ids))
	for _, id := range ids {
		st, err := s.Status(ctx, org, id)
		if apperr.KindOf(err) == apperr.NotFound {
			continue
		}
		if err != nil {
			return nil, 0, err
		}
		out = append(out, st)
	}
	return out, total, nil
}

// Cancel cancels what is still pending and returns the status after it.
func (s *Service) Cancel(ctx context.Context, org, id string) (*Status, error) {
	if _, err := s.p.Store.Initiation(ctx, org, id); err != nil {
		return nil, err
	}
	if _, err := s.p.Store.Cancel(ctx, id); err != nil {
		return nil, err
	}
	return s.Status(ctx, org, id)
}

// Completed is the completion time, if any.
func (s *Status) Completed() *time.Time { return s.Counters.CompletedAt }
