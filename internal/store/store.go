package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/campaignsms/campaignsms/internal/apperr"
)

// Store is the Redis persistence of the service. It is safe for concurrent use.
type Store struct {
	rdb redis.UniversalClient
	now func() time.Time
}

// Params configures a Store. Zero values take defaults.
type Params struct {
	Redis redis.UniversalClient
	Now   func() time.Time // injectable clock; default time.Now
}

// New returns a Store over p.Redis.
func New(p Params) *Store {
	if p.Now == nil {
		p.Now = time.Now
	}
	return &Store{rdb: p.Redis, now: p.Now}
}

// Redis returns the client the store uses.
func (s *Store) Redis() redis.UniversalClient { return s.rdb }

// Now returns the store's clock reading in UTC.
func (s *Store) Now() time.Time { return s.now().UTC() }

// Ping reports whether Redis answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("ping redis: %w", err)
	}
	return nil
}

func notFound(what, id string) error {
	return apperr.New(apperr.NotFound, "%s %q was not found.", what, id)
}

func isNil(err error) bool { return errors.Is(err, redis.Nil) }

// Campaign statuses.
const (
	StatusActive = "active"
	StatusPaused = "paused"
)

// Campaign is a campaign's metadata; its customers live in their own keys.
type Campaign struct {
	ID           string     `json:"id"`
	Org          string     `json:"-"`
	Name         string     `json:"name"`
	Description  string     `json:"description"`
	Status       string     `json:"status"`
	CampaignType string     `json:"campaignType"`
	StartDate    string     `json:"startDate"`
	StartTime    string     `json:"startTime"`
	EndDate      string     `json:"endDate"`
	EndTime      string     `json:"endTime"`
	Timezone     string     `json:"timezone"`
	Languages    []string   `json:"languages"`
	Region       string     `json:"region"`
	Tags         []string   `json:"tags"`
	RowsLen      int64      `json:"rowsLen"`
	CreatedAt    time.Time  `json:"createdAt"`
	UpdatedAt    time.Time  `json:"updatedAt"`
	PausedAt     *time.Time `json:"pausedAt,omitempty"`
}

func unixMs(t time.Time) float64 { return float64(t.UnixMilli()) }
