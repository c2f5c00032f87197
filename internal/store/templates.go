package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/campaignsms/campaignsms/internal/apperr"
)

// Template is an SMS template of an org.
type Template struct {
	ID            string            `json:"id"`
	Org           string            `json:"-"`
	Name          string            `json:"name"`
	Body          string            `json:"body"`
	Bodies        map[string]string `json:"bodies,omitempty"`
	SenderID      string            `json:"senderId,omitempty"`
	DLTTemplateID string            `json:"dltTemplateId,omitempty"`
	DLTEntityID   string            `json:"dltEntityId,omitempty"`
	Category      string            `json:"category,omitempty"`
	CreatedAt     time.Time         `json:"createdAt"`
	UpdatedAt     time.Time         `json:"updatedAt"`
}

// PutTemplate creates (create=true, Conflict if the id exists) or replaces a template.
func (s *Store) PutTemplate(ctx context.Context, t *Template, create bool) error {
	now := s.Now()
	if t.CreatedAt.IsZero() {
		t.CreatedAt = now
	}
	t.UpdatedAt = now
	data, err := json.Marshal(t)
	if err != nil {
		return fmt.Errorf("encode template: %w", err)
	}
	if create {
		ok, err := s.rdb.SetNX(ctx, orgTemplate(t.Org, t.ID), data, 0).Result()
		if err != nil {
			return fmt.Errorf("create template: %w", err)
		}
		if !ok {
			return apperr.New(apperr.Conflict, "Template %q already exists.", t.ID)
		}
	} else if err := s.rdb.Set(ctx, orgTemplate(t.Org, t.ID), data, 0).Err(); err != nil {
		return fmt.Errorf("save template: %w", err)
	}
	if err := addNewestScript.Run(ctx, s.rdb, []string{orgTemplates(t.Org)}, t.ID, t.CreatedAt.UnixMilli()).Err(); err != nil && !isNil(err) {
		return fmt.Errorf("index template: %w", err)
	}
	return nil
}

// Template returns a template of the org, or NotFound.
func (s *Store) Template(ctx context.Context, org, id string) (*Template, error) {
	if !ValidID(id) {
		return nil, notFound("Template", id)
	}
	data, err := s.rdb.Get(ctx, orgTemplate(org, id)).Bytes()
	if isNil(err) {
		return nil, notFound("Template", id)
	}
	if err != nil {
		return nil, fmt.Errorf("read template: %w", err)
	}
	var t Template
	if err := json.Unmarshal(data, &t); err != nil {
		return nil, fmt.Errorf("decode template %s: %w", id, err)
	}
	t.Org = org
	return &t, nil
}

// DeleteTemplate removes a template. Running initiations keep their copy.
func (s *Store) DeleteTemplate(ctx context.Context, org, id string) error {
	n, err := s.rdb.Del(ctx, orgTemplate(org, id)).Result()
	if err != nil {
		return fmt.Errorf("delete template: %w", err)
	}
	if n == 0 {
		return notFound("Template", id)
	}
	if err := s.rdb.ZRem(ctx, orgTemplates(org), id).Err(); err != nil {
		return fmt.Errorf("unindex template: %w", err)
	}
	return nil
}
