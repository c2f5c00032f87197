package store_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/campaignsms/campaignsms/internal/apperr"
	"github.com/campaignsms/campaignsms/internal/customer"
	"github.com/campaignsms/campaignsms/internal/store"
)

// statusKey is the payment status index of campaign c of org o (keys.go).
func statusKey(status string) string { return "cs:{c:o:c}:ps:" + status }

// snapshotStatuses reads every status index in one MULTI, so the result is
// one instant of Redis: what a filter could see.
func snapshotStatuses(t *testing.T, rdb redis.UniversalClient) map[string][]string {
	t.Helper()
	cmds := map[string]*redis.StringSliceCmd{}
	_, err := rdb.TxPipelined(ctx(t), func(p redis.Pipeliner) error {
		for _, ps := range customer.PaymentStatuses {
			cmds[ps] = p.SMembers(ctx(t), statusKey(ps))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	in := map[string][]string{} // customer -> statuses it is indexed under
	for ps, c := range cmds {
		for _, id := range c.Val() {
			in[id] = append(in[id], ps)
		}
	}
	return in
}

// Many writers flip payment_status and add their own field to the same
// customers while a reader takes atomic snapshots of the status indexes:
// every snapshot shows each customer in exactly one status, no write is lost
// and the final index agrees with the final record.
func TestConcurrentUpdatesMoveIndexesAtomically(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, b testBundle) {
		c := ctx(t)
		if err := b.st.CreateCampaign(c, &store.Campaign{ID: "c", Org: "o", Name: "C"}); err != nil {
			t.Fatal(err)
		}
		const customers, writers, rounds = 5, 8, 25
		var recs []customer.Record
		for i := range customers {
			recs = append(recs, mustRecord(t, map[string]any{"loan_id": fmt.Sprintf("L%d", i), "payment_status": "bounced"}))
		}
		if _, err := b.st.UpsertCustomers(c, "o", "c", recs); err != nil {
			t.Fatal(err)
		}

		stop := make(chan struct{})
		readerDone := make(chan error, 1)
		go func() {
			snaps := 0
			for {
				select {
				case <-stop:
					if snaps == 0 {
						readerDone <- fmt.Errorf("the reader took no snapshot")
					} else {
						readerDone <- nil
					}
					return
				default:
				}
				in := snapshotStatuses(t, b.rdb)
				for i := range customers {
					if got := in[fmt.Sprintf("L%d", i)]; len(got) != 1 {
						readerDone <- fmt.Errorf("snapshot %d: L%d is indexed under %v", snaps, i, got)
						return
					}
				}
				snaps++
			}
		}()

		var wg sync.WaitGroup
		errs := make(chan error, writers)
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for r := range rounds {
					id := fmt.Sprintf("L%d", (w+r)%customers)
					status := customer.PaymentStatuses[(w+r)%len(customer.PaymentStatuses)]
					field := fmt.Sprintf("w%d", w)
					_, err := b.st.UpdateCustomer(c, "o", "c", id, func(old customer.Record) (customer.Record, error) {
						m := make(map[string]any, len(old)+2)
						for k, v := range old {
							m[k] = v
						}
						m["payment_status"], m[field] = status, r
						rec, errs := customer.Normalize(m)
						if len(errs) > 0 {
							return nil, apperr.InvalidFields(errs)
						}
						return rec, nil
					})
					if err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		close(stop)
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		if err := <-readerDone; err != nil {
			t.Fatal(err)
		}

		ids := make([]string, customers)
		for i := range ids {
			ids[i] = fmt.Sprintf("L%d", i)
		}
		final, err := b.st.Customers(c, "o", "c", ids)
		if err != nil {
			t.Fatal(err)
		}
		in := snapshotStatuses(t, b.rdb)
		for i, r := range final {
			if got := in[ids[i]]; len(got) != 1 || got[0] != r.PaymentStatus() {
				t.Errorf("%s: record says %q, index says %v", ids[i], r.PaymentStatus(), got)
			}
			// Writer w touched customer (w+r)%customers for every round r:
			// its field holds the last such round, so no update was lost.
			for w := range writers {
				last := -1
				for r := range rounds {
					if (w+r)%customers == i {
						last = r
					}
				}
				if v, _ := r.Get(fmt.Sprintf("w%d", w)); last >= 0 && v != fmt.Sprint(last) {
					t.Errorf("%s: field w%d = %q, want %d (a lost update)", ids[i], w, v, last)
				}
			}
		}
	})
}

func TestUpdateCustomerMissingIsNotFound(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, b testBundle) {
		_, err := b.st.UpdateCustomer(ctx(t), "o", "c", "nobody", func(old customer.Record) (customer.Record, error) {
			t.Fatal("merge called for a missing customer")
			return nil, nil
		})
		if apperr.KindOf(err) != apperr.NotFound {
			t.Fatalf("err = %v, want NotFound", err)
		}
	})
}

// mkInitiation stores an initiation over the first n customers L0.. of
// campaign c, in batches of 10.
func mkInitiation(t *testing.T, b testBundle, id string, n int) *store.Initiation {
	t.Helper()
	var batches [][]string
	for i := 0; i < n; i += 10 {
		var ids []string
		for j := i; j < min(i+10, n); j++ {
			ids = append(ids, fmt.Sprintf("L%d", j))
		}
		batches = append(batches, ids)
	}
	ini := &store.Initiation{
		ID: id, Org: "o", CampaignID: "c", TemplateID: "t", BatchSize: 10, Batches: len(batches),
		TotalMatched: int64(n), Selected: int64(n), Initiated: int64(n), CreatedAt: b.st.Now(),
	}
	if _, err := b.st.CreateInitiation(ctx(t), ini, batches, nil); err != nil {
		t.Fatal(err)
	}
	return ini
}

func seedCampaign(t *testing.T, b testBundle, n int) {
	t.Helper()
	if err := b.st.CreateCampaign(ctx(t), &store.Campaign{ID: "c", Org: "o", Name: "C"}); err != nil {
		t.Fatal(err)
	}
	var recs []customer.Record
	for i := range n {
		recs = append(recs, mustRecord(t, map[string]any{
			"loan_id": fmt.Sprintf("L%d", i), "phone_number": fmt.Sprintf("98%08d", i),
			"payment_status": customer.PaymentStatuses[i%5], "language": []string{"English", "hindi", "Tamil"}[i%3],
		}))
	}
	if _, err := b.st.UpsertCustomers(ctx(t), "o", "c", recs); err != nil {
		t.Fatal(err)
	}
}

// keysOf lists the keys of campaign c of org o.
func keysOf(t *testing.T, rdb redis.UniversalClient) []string {
	t.Helper()
	keys, err := rdb.Keys(ctx(t), "cs:{c:o:c}:*").Result()
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

func TestDeleteCampaignCancelsThenDropsEverything(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, b testBundle) {
		c := ctx(t)
		seedCampaign(t, b, 30)
		ini := mkInitiation(t, b, "ini_del", 30)
		// Messages 0-4 sent, 5-6 in flight, the rest pending.
		if _, err := b.st.Claim(c, ini.ID, "w", time.Minute, []int{0, 1, 2, 3, 4, 5, 6}); err != nil {
			t.Fatal(err)
		}
		var outs []store.Outcome
		for n := range 5 {
			outs = append(outs, store.Outcome{N: n, Outcome: store.OutSent, Record: &store.MessageRecord{To: "+91x", Attempts: 1}})
		}
		if _, err := b.st.Finish(c, ini.ID, "w", outs); err != nil {
			t.Fatal(err)
		}

		res, err := b.st.DeleteCampaign(c, "o", "c")
		if err != nil {
			t.Fatal(err)
		}
		if res.Initiations != 1 || res.Cancelled != 23 {
			t.Fatalf("deletion = %+v, want 1 initiation and 23 cancelled", res)
		}
		if keys := keysOf(t, b.rdb); len(keys) != 0 {
			t.Fatalf("keys left: %v", keys)
		}
		if _, err := b.st.Campaign(c, "o", "c"); apperr.KindOf(err) != apperr.NotFound {
			t.Fatalf("campaign after delete: %v", err)
		}
		all, err := b.st.AllCampaigns(c, "o")
		if err != nil || len(all) != 0 {
			t.Fatalf("listing after delete = %v, %v", all, err)
		}
		cnt, err := b.st.Counters(c, ini.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !cnt.CancelledState || cnt.Sent != 5 || cnt.Cancelled != 23 || cnt.Pending() != 2 {
			t.Fatalf("counters = %+v pending %d", cnt, cnt.Pending())
		}
		// The initiation and its messages stay readable.
		for n, want := range map[int]string{0: store.MsgSent, 5: store.MsgPending, 20: store.MsgCancelled} {
			v, err := b.st.Message(c, "o", store.MessageID(ini.ID, n))
			if err != nil {
				t.Fatal(err)
			}
			if v.Status != want || v.CustomerID != fmt.Sprintf("L%d", n) {
				t.Errorf("message %d = %s of %s, want %s", n, v.Status, v.CustomerID, want)
			}
		}
		if _, err := b.st.DeleteCampaign(c, "o", "c"); apperr.KindOf(err) != apperr.NotFound {
			t.Fatalf("second delete: %v", err)
		}
	})
}

// A customer write that raced a delete leaves keys without a campaign; a new
// campaign under the same id must not inherit them.
func TestRecreatedCampaignStartsEmpty(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, b testBundle) {
		c := ctx(t)
		orphan := mustRecord(t, map[string]any{"loan_id": "L1", "payment_status": "paid", "language": "hindi"})
		if _, err := b.st.UpsertCustomers(c, "o", "c", []customer.Record{orphan}); err != nil {
			t.Fatal(err)
		}
		// AddCustomers itself notices that the campaign is missing.
		if _, _, err := b.st.AddCustomers(c, "o", "c", []customer.Record{orphan}, 0); apperr.KindOf(err) != apperr.NotFound {
			t.Fatalf("add to a missing campaign: %v", err)
		}
		if keys := keysOf(t, b.rdb); len(keys) != 0 {
			t.Fatalf("orphan keys left: %v", keys)
		}
		if _, err := b.st.UpsertCustomers(c, "o", "c", []customer.Record{orphan}); err != nil {
			t.Fatal(err)
		}
		if _, _, err := b.st.CreateCampaignWithCustomers(c, &store.Campaign{ID: "c", Org: "o", Name: "C"}, nil, 0); err != nil {
			t.Fatal(err)
		}
		camp, err := b.st.Campaign(c, "o", "c")
		if err != nil {
			t.Fatal(err)
		}
		if camp.RowsLen != 0 {
			t.Fatalf("recreated campaign has %d customers", camp.RowsLen)
		}
		for _, k := range keysOf(t, b.rdb) {
			if !strings.HasSuffix(k, ":meta") {
				t.Errorf("key left from before: %s", k)
			}
		}
	})
}

func TestUpdateCampaignAndStatus(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, b testBundle) {
		c := ctx(t)
		seedCampaign(t, b, 3)
		p1, err := b.st.PauseCampaign(c, "o", "c")
		if err != nil || p1.Status != store.StatusPaused || p1.PausedAt == nil {
			t.Fatalf("pause = %+v, %v", p1, err)
		}
		b.clock.advance(time.Second)
		p2, err := b.st.PauseCampaign(c, "o", "c")
		if err != nil || !p2.PausedAt.Equal(*p1.PausedAt) {
			t.Fatalf("second pause moved pausedAt: %+v, %v", p2, err)
		}
		if st, _ := b.st.CampaignStatus(c, "o", "c"); st != store.StatusPaused {
			t.Fatalf("status field = %q", st)
		}
		u, err := b.st.UpdateCampaign(c, "o", "c", func(camp *store.Campaign) (bool, error) {
			camp.Name = "New"
			return true, nil
		})
		if err != nil || u.Name != "New" || u.Status != store.StatusPaused || u.RowsLen != 3 {
			t.Fatalf("update = %+v, %v", u, err)
		}
		r, err := b.st.ResumeCampaign(c, "o", "c")
		if err != nil || r.Status != store.StatusActive || r.PausedAt != nil || r.Name != "New" {
			t.Fatalf("resume = %+v, %v", r, err)
		}
		if _, err := b.st.PauseCampaign(c, "o", "missing"); apperr.KindOf(err) != apperr.NotFound {
			t.Fatalf("pause missing: %v", err)
		}
	})
}
