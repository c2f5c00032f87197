package initiate

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/campaignsms/campaignsms/internal/customer"
	"github.com/campaignsms/campaignsms/internal/filter"
	"github.com/campaignsms/campaignsms/internal/smstemplate"
	"github.com/campaignsms/campaignsms/internal/store"
)

// match returns the ids of the customers that match f, in insertion order.
// Status and language come from their index sets; only custom filters read
// records, and then the records are returned for the checks that follow.
func (s *Service) match(ctx context.Context, org, campaign string, f filter.Filters) ([]string, map[string]customer.Record, error) {
	st := s.p.Store
	var ids []string
	if len(f.IDs) > 0 {
		order, err := st.InsertionOrder(ctx, org, campaign, f.IDs)
		if err != nil {
			return nil, nil, err
		}
		type scored struct {
			id  string
			seq float64
		}
		found := make([]scored, 0, len(f.IDs))
		for i, id := range f.IDs {
			if order[i] > 0 {
				found = append(found, scored{id, order[i]})
			}
		}
		sort.Slice(found, func(a, b int) bool { return found[a].seq < found[b].seq })
		ids = make([]string, len(found))
		for i, x := range found {
			ids[i] = x.id
		}
	} else {
		all, err := st.CustomerIDs(ctx, org, campaign, 0, -1)
		if err != nil {
			return nil, nil, err
		}
		ids = all
	}
	if len(f.ExcludeIDs) > 0 {
		ids = keep(ids, toSet(f.ExcludeIDs), false)
	}
	for _, idx := range []struct {
		kind   string
		values []string
	}{{"ps", f.PaymentStatus}, {"lang", f.Language}} {
		if len(idx.values) == 0 || len(ids) == 0 {
			continue
		}
		vals := make([]string, len(idx.values))
		for i, v := range idx.values {
			vals[i] = strings.ToLower(v)
		}
		members, err := st.IndexMembers(ctx, org, campaign, idx.kind, vals)
		if err != nil {
			return nil, nil, err
		}
		ids = keep(ids, members, true)
	}
	if len(f.Custom) == 0 || len(ids) == 0 {
		return ids, nil, nil
	}
	recs, err := st.Customers(ctx, org, campaign, ids)
	if err != nil {
		return nil, nil, err
	}
	byID := make(map[string]customer.Record, len(ids))
	out := ids[:0:0]
	for i, r := range recs {
		if r != nil && f.MatchAttributes(r) {
			out = append(out, ids[i])
			byID[ids[i]] = r
		}
	}
	return out, byID, nil
}

func toSet(ids []string) map[string]struct{} {
	m := make(map[string]struct{}, len(ids))
	for _, id := range ids {
		m[id] = struct{}{}
	}
	return m
}

// keep returns the ids that are (in=true) or are not (in=false) in set.
func keep(ids []string, set map[string]struct{}, in bool) []string {
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		if _, ok := set[id]; ok == in {
			out = append(out, id)
		}
	}
	return out
}

// check sorts the selected customers into those that can be messaged and
// those that fail now, in insertion order. When every customer of the
// campaign has a phone and every field the template uses, it reads no
// record at all; otherwise it reads the selected records in pipelined chunks.
func (s *Service) check(ctx context.Context, org, campaign string, set *smstemplate.Set, selected []string, recs map[string]customer.Record) ([]string, []store.MessageError, int64, error) {
	st := s.p.Store
	if recs == nil {
		counts, err := st.FieldCounts(ctx, org, campaign)
		if err != nil {
			return nil, nil, 0, err
		}
		total, err := st.CustomerCount(ctx, org, campaign)
		if err != nil {
			return nil, nil, 0, err
		}
		complete := counts["phone_number"] == total
		for _, f := range set.AllFields() {
			complete = complete && counts[f] == total
		}
		if complete {
			return selected, nil, 0, nil
		}
		list, err := st.Customers(ctx, org, campaign, selected)
		if err != nil {
			return nil, nil, 0, err
		}
		recs = make(map[string]customer.Record, len(selected))
		for i, r := range list {
			recs[selected[i]] = r
		}
	}
	ok := make([]string, 0, len(selected))
	var errs []store.MessageError
	var failed int64
	for _, id := range selected {
		code, msg := checkOne(set, recs[id])
		if code == "" {
			ok = append(ok, id)
			continue
		}
		failed++
		if len(errs) < store.MaxErrors {
			errs = append(errs, store.MessageError{ID: id, Code: code, Message: msg})
		}
	}
	return ok, errs, failed, nil
}

// checkOne returns the code and message of why r cannot be messaged, or "".
func checkOne(set *smstemplate.Set, r customer.Record) (string, string) {
	if r == nil {
		return "customer_deleted", "The customer was deleted."
	}
	if p, ok := r.Get("phone_number"); !ok || p == "" {
		return "missing_phone", "The customer has no phone number."
	}
	var missing []string
	for _, f := range set.For(r.Language()).Fields() {
		if v, ok := r.Get(f); !ok || v == "" {
			missing = append(missing, f)
		}
	}
	if len(missing) > 0 {
		return "missing_variable", fmt.Sprintf("The customer has no value for the template's %s.", strings.Join(missing, ", "))
	}
	return "", ""
}
