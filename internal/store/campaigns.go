package store

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/campaignsms/campaignsms/internal/apperr"
)

// CreateCampaign stores c. A campaign with the same id in the org is a Conflict.
func (s *Store) CreateCampaign(ctx context.Context, c *Campaign) error {
	now := s.Now()
	c.CreatedAt, c.UpdatedAt = now, now
	if c.Status == "" {
		c.Status = StatusActive
	}
	data, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("encode campaign: %w", err)
	}
	k := ckeys(c.Org, c.ID)
	ok, err := s.rdb.HSetNX(ctx, k.meta(), "data", data).Result()
	if err != nil {
		return fmt.Errorf("create campaign: %w", err)
	}
	if !ok {
		return apperr.New(apperr.Conflict, "Campaign %q already exists.", c.ID)
	}
	// The listing index is written after the record: a crash in between
	// leaves a campaign that is readable by id and is listed on the next save.
	pipe := s.rdb.Pipeline()
	pipe.HSet(ctx, k.meta(), "status", c.Status)
	addNewest(ctx, pipe, orgCampaigns(c.Org), c.ID, now)
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("index campaign: %w", err)
	}
	return nil
}

// Campaign returns the campaign, or a NotFound error.
func (s *Store) Campaign(ctx context.Context, org, id string) (*Campaign, error) {
	if !ValidID(id) {
		return nil, notFound("Campaign", id)
	}
	k := ckeys(org, id)
	pipe := s.rdb.Pipeline()
	meta := pipe.HMGet(ctx, k.meta(), "data", "status")
	rows := pipe.ZCard(ctx, k.ids())
	if _, err := pipe.Exec(ctx); err != nil && !isNil(err) {
		return nil, fmt.Errorf("read campaign: %w", err)
	}
	vals := meta.Val()
	data, _ := vals[0].(string)
	if data == "" {
		return nil, notFound("Campaign", id)
	}
	var c Campaign
	if err := json.Unmarshal([]byte(data), &c); err != nil {
		return nil, fmt.Errorf("decode campaign %s: %w", id, err)
	}
	c.Org = org
	if st, _ := vals[1].(string); st != "" {
		c.Status = st
	}
	c.RowsLen = rows.Val()
	return &c, nil
}

// CampaignStatus returns "active", "paused", or "" when the campaign is gone.
// Workers call it often, so it reads one hash field.
func (s *Store) CampaignStatus(ctx context.Context, org, id string) (string, error) {
	k := ckeys(org, id)
	vals, err := s.rdb.HMGet(ctx, k.meta(), "status", "data").Result()
	if err != nil {
		return "", fmt.Errorf("read campaign status: %w", err)
	}
	if vals[1] == nil {
		return "", nil
	}
	st, _ := vals[0].(string)
	if st == "" {
		st = StatusActive
	}
	return st, nil
}
