package store_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/campaignsms/campaignsms/internal/apperr"
	"github.com/campaignsms/campaignsms/internal/config"
	"github.com/campaignsms/campaignsms/internal/customer"
	"github.com/campaignsms/campaignsms/internal/redistest"
	"github.com/campaignsms/campaignsms/internal/store"
)

// TestStoreOnRedisCluster runs every kind of multi-key operation of the store
// — the upsert and message-state scripts, the WATCH/MULTI updates, the MULTI
// of CreateInitiation and Counters, pipelines of EVALSHA across slots and the
// campaign delete — on a 3-master Redis Cluster, through the client that
// REDIS_URL=redis-cluster://… gives the programs. A cross-slot command fails
// the step that sent it, and slotErrors logs its name and keys.
func TestStoreOnRedisCluster(t *testing.T) {
	t.Parallel()
	rc := redistest.NewCluster(t, 3)
	opts, err := config.ParseRedisURL(rc.URL)
	if err != nil {
		t.Fatal(err)
	}
	uc := redis.NewUniversalClient(opts)
	t.Cleanup(func() { _ = uc.Close() })
	cc, ok := uc.(*redis.ClusterClient)
	if !ok {
		t.Fatalf("%s gave a %T, want *redis.ClusterClient", rc.URL, uc)
	}
	cc.AddHook(&slotErrors{t: t})
	b := newBundle(cc)
	const org, camp = "clu", "camp1"

	// Each step needs the ones before it.
	step := func(name string, fn func(t *testing.T, c context.Context)) {
		t.Helper()
		if !t.Run(name, func(t *testing.T) { fn(t, ctx(t)) }) {
			t.FailNow()
		}
	}
	var recs []customer.Record
	statuses := []string{"bounced", "pending", "partial", "paid", "received"}
	for i := range 450 {
		recs = append(recs, mustRecord(t, map[string]any{
			"loan_id": fmt.Sprintf("CL%04d", i), "phone_number": fmt.Sprintf("98765%05d", i),
			"payment_status": statuses[i%len(statuses)], "language": []string{"English", "hindi"}[i%2],
			"first_name": "N", "amount": 1000 + i,
		}))
	}
	step("CreateCampaign+UpsertCustomers", func(t *testing.T, c context.Context) {
		if err := b.st.PutTemplate(c, &store.Template{ID: "tpl1", Org: org, Name: "T", Body: "Hi {{first_name}}"}, true); err != nil {
			t.Fatal(err)
		}
		res, _, err := b.st.CreateCampaignWithCustomers(c, &store.Campaign{ID: camp, Org: org, Name: "C"}, recs, 200)
		if err != nil {
			t.Fatal(err)
		}
		if res.Created != 450 {
			t.Fatalf("created %+v, want 450", res)
		}
		// Again in one call: three script calls (200 records each at most) in
		// one pipeline, now all updates that move every status index.
		moved := make([]customer.Record, len(recs))
		for i := range recs {
			moved[i] = mustRecord(t, map[string]any{
				"loan_id": fmt.Sprintf("CL%04d", i), "phone_number": fmt.Sprintf("98765%05d", i),
				"payment_status": statuses[(i+1)%len(statuses)], "language": "hindi", "first_name": "N",
			})
		}
		if res, err = b.st.UpsertCustomers(c, org, camp, moved); err != nil || res.Updated != 450 {
			t.Fatalf("upsert again: %+v %v", res, err)
		}
		ps, err := b.st.IndexMembers(c, org, camp, "ps", []string{"bounced"})
		if err != nil || len(ps) != 90 {
			t.Fatalf("bounced index: %d members, %v", len(ps), err)
		}
		if en, _ := b.st.IndexMembers(c, org, camp, "lang", []string{"english"}); len(en) != 0 {
			t.Fatalf("english index kept %d members", len(en))
		}
		if f, err := b.st.FieldCounts(c, org, camp); err != nil || f["first_name"] != 450 || f["amount"] != 0 {
			t.Fatalf("field counts %v %v", f, err)
		}
		if page, total, err := b.st.CustomersPage(c, org, camp, 440, 20); err != nil || total != 450 || len(page) != 10 {
			t.Fatalf("page: %d of %d, %v", len(page), total, err)
		}
	})
	step("UpdateCustomer (WATCH+MULTI+EVAL)", func(t *testing.T, c context.Context) {
		_, err := b.st.UpdateCustomer(c, org, camp, "CL0000", func(old customer.Record) (customer.Record, error) {
			return mustRecord(t, map[string]any{"loan_id": "CL0000", "phone_number": old.Phone(), "payment_status": "paid", "language": "english"}), nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if en, err := b.st.IndexMembers(c, org, camp, "lang", []string{"english"}); err != nil || len(en) != 1 {
			t.Fatalf("english index: %v %v", en, err)
		}
	})
	step("PauseCampaign+ResumeCampaign (WATCH+MULTI)", func(t *testing.T, c context.Context) {
		if _, err := b.st.PauseCampaign(c, org, camp); err != nil {
			t.Fatal(err)
		}
		if st, err := b.st.CampaignStatus(c, org, camp); err != nil || st != store.StatusPaused {
			t.Fatalf("status %q %v", st, err)
		}
		if _, err := b.st.ResumeCampaign(c, org, camp); err != nil {
			t.Fatal(err)
		}
	})

	ids, err := b.st.CustomerIDs(ctx(t), org, camp, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	var batches [][]string
	for i := 0; i < len(ids); i += 25 {
		batches = append(batches, ids[i:min(i+25, len(ids))])
	}
	ini := &store.Initiation{
		ID: "ini_cluster1", Org: org, CampaignID: camp, TemplateID: "tpl1", BatchSize: 25,
		Batches: len(batches), Selected: int64(len(ids)) + 2, Initiated: int64(len(ids)), FailedAtQueue: 2,
		CreatedAt: b.st.Now(),
	}
	step("CreateInitiation+Counters (MULTI)", func(t *testing.T, c context.Context) {
		errs := []store.MessageError{{ID: "X1", Code: "invalid_phone", Message: "bad"}, {ID: "X2", Code: "missing_phone", Message: "none"}}
		if _, err := b.st.CreateInitiation(c, ini, batches, errs); err != nil {
			t.Fatal(err)
		}
		cn := checkCounters(t, b, ini)
		if cn.Selected != 452 || cn.Failed != 2 || cn.Pending() != 450 {
			t.Fatalf("counters %+v", cn)
		}
		if got, err := b.st.Batch(c, ini.ID, 17); err != nil || len(got) != 25 {
			t.Fatalf("batch 17: %d ids, %v", len(got), err)
		}
		if list, total, err := b.st.ListInitiations(c, org, camp, 0, 10); err != nil || total != 1 || list[0] != ini.ID {
			t.Fatalf("list: %v %d %v", list, total, err)
		}
		if act, err := b.st.ActiveInitiations(c, 0, 10); err != nil || len(act) != 1 {
			t.Fatalf("active: %v %v", act, err)
		}
	})
	step("Claim+Extend+Finish+ReportDelivery+Abandon", func(t *testing.T, c context.Context) {
		// A delivery report before the send is kept, then applied by Finish.
		if res, err := b.st.ReportDelivery(c, store.MessageID(ini.ID, 0), true, ""); err != nil || res != store.DLRStored {
			t.Fatalf("early report: %q %v", res, err)
		}
		res, err := b.st.Claim(c, ini.ID, "w1", time.Minute, nums(0, 25))
		if err != nil || len(res) != 25 || res[0] != (store.Claim{Kind: store.ClaimTaken, Attempt: 1}) {
			t.Fatalf("claim: %v %v", res, err)
		}
		if a, err := b.st.Extend(c, ini.ID, "w1", time.Minute, 3); err != nil || a != (store.Extension{Kind: store.ExtendRenewed, Attempt: 2}) {
			t.Fatalf("extend: %+v %v", a, err)
		}
		outs := sent(nums(0, 20)...)
		outs = append(outs,
			store.Outcome{N: 20, Outcome: store.OutFailed, Record: &store.MessageRecord{Attempts: 1}, Err: &store.MessageError{ID: batches[0][20], Code: "provider_rejected", Message: "no"}},
			store.Outcome{N: 21, Outcome: store.OutSkipped},
			store.Outcome{N: 22, Outcome: store.OutRelease})
		if n, err := b.st.Finish(c, ini.ID, "w1", outs); err != nil || n != 22 {
			t.Fatalf("finish: %d %v", n, err)
		}
		if res, err := b.st.ReportDelivery(c, store.MessageID(ini.ID, 1), false, "expired"); err != nil || res != store.DLRApplied {
			t.Fatalf("late report: %q %v", res, err)
		}
		// 22 is pending again, 23 and 24 leased by w1 until their lease ends.
		b.clock.advance(2 * time.Minute)
		why := store.MessageError{Code: "abandoned", Message: "no task"}
		if n, err := b.st.Abandon(c, ini.ID, []int{22, 23, 24}, []store.MessageError{why, why, why}); err != nil || n != 0 {
			t.Fatalf("abandon: %d %v", n, err)
		}
		if err := b.st.MarkBatchDone(c, ini.ID, 0); err != nil {
			t.Fatal(err)
		}
		cn := checkCounters(t, b, ini)
		if cn.Sent != 19 || cn.Delivered != 1 || cn.Failed != 2+1+1+3 || cn.Skipped != 1 || cn.BatchesDone != 1 {
			t.Fatalf("counters %+v", cn)
		}
		if m, err := b.st.Message(c, org, store.MessageID(ini.ID, 0)); err != nil || m.CustomerID != batches[0][0] {
			t.Fatalf("message 0: %+v %v", m, err)
		}
		if views, total, err := b.st.Logs(c, store.LogQuery{Org: org, InitiationID: ini.ID, Limit: 30}); err != nil || total != 452-2 || len(views) != 30 {
			t.Fatalf("logs: %d of %d, %v", len(views), total, err)
		}
	})
	step("Cancel", func(t *testing.T, c context.Context) {
		n, err := b.st.Cancel(c, ini.ID)
		if err != nil || n != 450-25 {
			t.Fatalf("cancel: %d %v", n, err)
		}
		if cn := checkCounters(t, b, ini); cn.Pending() != 0 || cn.CompletedAt == nil {
			t.Fatalf("counters %+v", cn)
		}
	})
	step("Idempotency+Lock", func(t *testing.T, c context.Context) {
		if _, id, taken, err := b.st.TakeIdempotencyKey(c, org, "k1", "fp", "ini_k1"); err != nil || !taken || id != "ini_k1" {
			t.Fatalf("take: %v %q %v", taken, id, err)
		}
		if err := b.st.StoreIdempotentAnswer(c, org, "k1", "fp", "ini_k1", 200, []byte(`{}`)); err != nil {
			t.Fatal(err)
		}
		if _, _, taken, err := b.st.TakeIdempotencyKey(c, org, "k2", "fp", "ini_k2"); err != nil || !taken {
			t.Fatalf("take: %v %v", taken, err)
		}
		if err := b.st.ReleaseIdempotencyKey(c, org, "k2", "fp", "ini_k2"); err != nil {
			t.Fatal(err)
		}
		lock, err := b.st.LockAcquire(c, "reconcile", time.Minute)
		if err != nil || lock == nil {
			t.Fatalf("lock: %v %v", lock, err)
		}
		if err := lock.Renew(c); err != nil {
			t.Fatalf("renew: %v", err)
		}
		lock.Release()
	})
	step("DeleteCampaign (EVALSHA pipeline across slots, keys named in Lua)", func(t *testing.T, c context.Context) {
		// A second initiation in another slot, so that the cancel pipeline
		// spans nodes.
		ini2 := *ini
		ini2.ID = "ini_cluster2"
		if _, err := b.st.CreateInitiation(c, &ini2, batches, nil); err != nil {
			t.Fatal(err)
		}
		del, err := b.st.DeleteCampaign(c, org, camp)
		if err != nil {
			t.Fatal(err)
		}
		if del.Initiations != 2 || del.Cancelled != 450 {
			t.Fatalf("delete: %+v", del)
		}
		if _, err := b.st.Campaign(c, org, camp); apperr.KindOf(err) != apperr.NotFound {
			t.Fatalf("campaign after delete: %v", err)
		}
		var mu sync.Mutex
		var left []string
		err = cc.ForEachMaster(c, func(c context.Context, n *redis.Client) error {
			keys, err := n.Keys(c, "cs:{c:"+org+":"+camp+"}:*").Result()
			mu.Lock()
			left = append(left, keys...)
			mu.Unlock()
			return err
		})
		if err != nil || len(left) != 0 {
			t.Fatalf("campaign keys left: %v %v", left, err)
		}
	})

	// The keys really are spread: every master holds some.
	var mu sync.Mutex
	sizes := map[string]int64{}
	if err := cc.ForEachMaster(ctx(t), func(c context.Context, n *redis.Client) error {
		s, err := n.DBSize(c).Result()
		mu.Lock()
		sizes[n.Options().Addr] = s
		mu.Unlock()
		return err
	}); err != nil {
		t.Fatal(err)
	}
	for addr, s := range sizes {
		if s == 0 {
			t.Errorf("master %s holds no key: %v", addr, sizes)
		}
	}
	t.Logf("keys per master: %v", sizes)
}

// slotErrors logs, for each command that Redis Cluster refuses for its keys'
// slots (CROSSSLOT, a non-local key in a script, go-redis' own cross-slot
// MULTI check), the command and the keys it named.
type slotErrors struct{ t *testing.T }

func (h *slotErrors) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *slotErrors) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		h.check(cmd)
		return err
	}
}

func (h *slotErrors) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		for _, cmd := range cmds {
			h.check(cmd)
		}
		return err
	}
}

func (h *slotErrors) check(cmd redis.Cmder) {
	err := cmd.Err()
	if err == nil {
		return
	}
	msg := err.Error()
	if !errors.Is(err, redis.ErrCrossSlot) && !strings.Contains(msg, "CROSSSLOT") &&
		!strings.Contains(msg, "non local key") && !strings.Contains(msg, "same slot") {
		return
	}
	h.t.Errorf("cluster refused %s on keys %v: %v", cmd.Name(), cmdKeys(cmd), err)
}

// cmdKeys names the keys of the commands the store sends: the numkeys keys of
// EVAL/EVALSHA, the first argument of the others.
func cmdKeys(cmd redis.Cmder) []any {
	args := cmd.Args()
	switch strings.ToLower(cmd.Name()) {
	case "eval", "evalsha", "eval_ro", "evalsha_ro":
		if len(args) < 3 {
			return nil
		}
		var n int
		_, _ = fmt.Sscan(fmt.Sprint(args[2]), &n)
		return args[3:min(3+n, len(args))]
	}
	if len(args) < 2 {
		return nil
	}
	return args[1:2]
}
