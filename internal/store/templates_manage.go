package store

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// TemplatesPage returns count templates of the org from offset, newest
// first, in one pipelined read, and how many the org has.
func (s *Store) TemplatesPage(ctx context.Context, org string, offset, count int64) ([]*Template, int64, error) {
	pipe := s.rdb.Pipeline()
	idsCmd := pipe.ZRevRange(ctx, orgTemplates(org), offset, offset+count-1)
	total := pipe.ZCard(ctx, orgTemplates(org))
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, 0, fmt.Errorf("list templates: %w", err)
	}
	ids := idsCmd.Val()
	if len(ids) == 0 {
		return []*Template{}, total.Val(), nil
	}
	// Template keys carry no hash tag, so this is a pipeline of GETs rather
	// than one MGET, which a cluster would refuse across slots.
	pipe = s.rdb.Pipeline()
	cmds := make([]*redis.StringCmd, len(ids))
	for i, id := range ids {
		cmds[i] = pipe.Get(ctx, orgTemplate(org, id))
	}
	if _, err := pipe.Exec(ctx); err != nil && !isNil(err) {
		return nil, 0, fmt.Errorf("read templates: %w", err)
	}
	out := make([]*Template, 0, len(ids))
	for i, c := range cmds {
		data, err := c.Bytes()
		if isNil(err) {
			continue // deleted between the listing and this read
		}
		if err != nil {
			return nil, 0, fmt.Errorf("read template %s: %w", ids[i], err)
		}
		var t Template
		if err := json.Unmarshal(data, &t); err != nil {
			return nil, 0, fmt.Errorf("decode template %s: %w", ids[i], err)
		}
		t.Org = org
		out = append(out, &t)
	}
	return out, total.Val(), nil
}

// UpdateTemplate replaces an existing template with t (created time kept by
// the caller). SET XX makes a template deleted meanwhile stay deleted rather
// than come back with the update.
func (s *Store) UpdateTemplate(ctx context.Context, t *Template) error {
	t.UpdatedAt = s.Now()
	data, err := json.Marshal(t)
	if err != nil {
		return fmt.Errorf("encode template: %w", err)
	}
	ok, err := s.rdb.SetXX(ctx, orgTemplate(t.Org, t.ID), data, 0).Result()
	if err != nil {
		return fmt.Errorf("save template: %w", err)
	}
	if !ok {
		return notFound("Template", t.ID)
	}
	return nil
}
