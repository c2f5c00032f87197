package filter

import (
	"strings"

	"github.com/campaignsms/campaignsms/internal/customer"
)

// Matcher applies Filters to many customers with set lookups. It is read-only
// and safe for concurrent use.
type Matcher struct {
	ids, exclude map[string]struct{}
	status, lang map[string]struct{}
	custom       []customSet
}

type customSet struct {
	key    string
	values map[string]struct{}
}

// Compile prepares f for matching many customers.
func (f Filters) Compile() *Matcher {
	m := &Matcher{
		ids:     toSet(f.IDs),
		exclude: toSet(f.ExcludeIDs),
		status:  toSet(lower(f.PaymentStatus)),
		lang:    toSet(lower(f.Language)),
	}
	for k, vals := range f.Custom {
		m.custom = append(m.custom, customSet{key: k, values: toSet(vals)})
	}
	return m
}

func toSet(list []string) map[string]struct{} {
	if len(list) == 0 {
		return nil
	}
	s := make(map[string]struct{}, len(list))
	for _, e := range list {
		s[e] = struct{}{}
	}
	return s
}

func lower(list []string) []string {
	out := make([]string, len(list))
	for i, s := range list {
		out[i] = strings.ToLower(s)
	}
	return out
}

func in(set map[string]struct{}, s string) bool {
	_, ok := set[s]
	return ok
}

// MatchAttributes is Filters.MatchAttributes.
func (m *Matcher) MatchAttributes(r customer.Record) bool {
	if m.status != nil && !in(m.status, r.PaymentStatus()) {
		return false
	}
	if m.lang != nil && !in(m.lang, r.Language()) {
		return false
	}
	for _, c := range m.custom {
		v, ok := r.Get(c.key)
		if !ok || !in(c.values, v) {
			return false
		}
	}
	return true
}

// MatchID applies ids and exclude_ids to a customer id.
func (m *Matcher) MatchID(id string) bool {
	if m.ids != nil && !in(m.ids, id) {
		return false
	}
	return !in(m.exclude, id)
}

// Match is Filters.Match.
func (m *Matcher) Match(r customer.Record) bool {
	if (m.ids != nil || m.exclude != nil) && !m.MatchID(r.ID()) {
		return false
	}
	return m.MatchAttributes(r)
}
