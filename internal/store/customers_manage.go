package store

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/campaignsms/campaignsms/internal/customer"
)

// AddCustomers upserts recs in chunks of chunk records (each chunk one
// UpsertCustomers call) and returns how many chunks it wrote. When the
// campaign was deleted while the records were written, what was written is
// dropped again and the answer is NotFound: customers never outlive their
// campaign.
func (s *Store) AddCustomers(ctx context.Context, org, campaign string, recs []customer.Record, chunk int) (UpsertResult, int, error) {
	if chunk <= 0 {
		chunk = max(1, len(recs))
	}
	ch := make(chan []customer.Record, (len(recs)+chunk-1)/chunk)
	for start := 0; start < len(recs); start += chunk {
		ch <- recs[start:min(start+chunk, len(recs))]
	}
	close(ch)
	return s.AddCustomerStream(ctx, org, campaign, ch)
}

// AddCustomerStream is AddCustomers over chunks that arrive on a channel, in
// order, so that a caller can validate the next chunk while this one is
// written. Empty chunks are skipped and not counted. It reads until the
// channel is closed or a write fails.
func (s *Store) AddCustomerStream(ctx context.Context, org, campaign string, chunks <-chan []customer.Record) (UpsertResult, int, error) {
	var res UpsertResult
	batches := 0
	for recs := range chunks {
		if len(recs) == 0 {
			continue
		}
		r, err := s.UpsertCustomers(ctx, org, campaign, recs)
		res.Created += r.Created
		res.Updated += r.Updated
		if err != nil {
			return res, batches, err
		}
		batches++
	}
	ok, err := s.campaignExists(ctx, org, campaign)
	if err != nil {
		return res, batches, err
	}
	if !ok {
		if err := s.DropOrphanCustomers(ctx, org, campaign); err != nil {
			return res, batches, err
		}
		return res, batches, notFound("Campaign", campaign)
	}
	return res, batches, nil
}

// UpdateCustomer reads customer id, lets merge build its new record and
// writes that with the upsert script, which moves the status and language
// indexes in the same step. The read and the write form a WATCH transaction
// on the campaign's record hash: a concurrent write makes it start over
// rather than overwrite that write with a record merged from stale data.
// A customer that does not exist is NotFound.
func (s *Store) UpdateCustomer(ctx context.Context, org, campaign, id string, merge func(old customer.Record) (customer.Record, error)) (customer.Record, error) {
	k := ckeys(org, campaign)
	keys := []string{k.ids(), k.seq(), k.cust(), k.fields(), k.attr()}
	var out customer.Record
	err := retryTx(ctx, "update customer", func() error {
		return s.rdb.Watch(ctx, func(tx *redis.Tx) error {
			raw, err := tx.HGet(ctx, k.cust(), id).Bytes()
			if isNil(err) {
				return notFound("Customer", id)
			}
			if err != nil {
				return fmt.Errorf("read customer: %w", err)
			}
			old, err := customer.Decode(raw)
			if err != nil {
				return fmt.Errorf("decode customer %s: %w", id, err)
			}
			rec, err := merge(old)
			if err != nil {
				return err
			}
			args, err := upsertArgs(k, rec)
			if err != nil {
				return err
			}
			_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
				// EVAL, not EVALSHA: inside MULTI a NOSCRIPT cannot fall back.
				upsertCustomers.Eval(ctx, p, keys, args...)
				return nil
			})
			if err != nil {
				return fmt.Errorf("write customer: %w", err)
			}
			out = rec
			return nil
		}, k.cust())
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Customer returns one customer's record, or NotFound.
func (s *Store) Customer(ctx context.Context, org, campaign, id string) (customer.Record, error) {
	recs, err := s.Customers(ctx, org, campaign, []string{id})
	if err != nil {
		return nil, err
	}
	if recs[0] == nil {
		return nil, notFound("Customer", id)
	}
	return recs[0], nil
}

// CustomersPage returns count customers from offset in insertion order, and
// how many the campaign has.
func (s *Store) CustomersPage(ctx context.Context, org, campaign string, offset, count int64) ([]customer.Record, int64, error) {
	k := ckeys(org, campaign)
	pipe := s.rdb.Pipeline()
	idsCmd := pipe.ZRange(ctx, k.ids(), offset, offset+count-1)
	total := pipe.ZCard(ctx, k.ids())
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, 0, fmt.Errorf("list customers: %w", err)
	}
	recs, err := s.Customers(ctx, org, campaign, idsCmd.Val())
	if err != nil {
		return nil, 0, err
	}
	out := recs[:0]
	for _, r := range recs {
		if r != nil { // the script writes both together; this is only defensive
			out = append(out, r)
		}
	}
	return out, total.Val(), nil
}
