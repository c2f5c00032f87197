package store_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/campaignsms/campaignsms/internal/apperr"
	"github.com/campaignsms/campaignsms/internal/store"
)

// finishAs claims messages ns of ini for owner "w" and records outcome out.
func finishAs(t *testing.T, b testBundle, ini *store.Initiation, out string, ns ...int) {
	t.Helper()
	if _, err := b.st.Claim(ctx(t), ini.ID, "w", time.Minute, ns); err != nil {
		t.Fatal(err)
	}
	var outs []store.Outcome
	for _, n := range ns {
		now := b.st.Now()
		rec := &store.MessageRecord{To: fmt.Sprintf("+9198%08d", n), Body: "hi", Attempts: 1, UpdatedAt: now}
		if out == store.OutSent {
			rec.SentAt, rec.ProviderMessageID = &now, fmt.Sprintf("pm-%d", n)
		}
		outs = append(outs, store.Outcome{N: n, Outcome: out, Record: rec})
	}
	if _, err := b.st.Finish(ctx(t), ini.ID, "w", outs); err != nil {
		t.Fatal(err)
	}
}

// balanced asserts SPEC §5's invariant and returns the counters.
func balanced(t *testing.T, b testBundle, id string) store.Counters {
	t.Helper()
	c, err := b.st.Counters(ctx(t), id)
	if err != nil {
		t.Fatal(err)
	}
	if c.Sent+c.Failed+c.Skipped+c.Cancelled+c.Pending() != c.Selected || c.Pending() < 0 || c.Delivered > c.Sent {
		t.Fatalf("counters do not add up: %+v pending %d", c, c.Pending())
	}
	return c
}

func report(t *testing.T, b testBundle, ini *store.Initiation, n int, delivered bool, why string) string {
	t.Helper()
	res, err := b.st.ReportDelivery(ctx(t), store.MessageID(ini.ID, n), delivered, why)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestDeliveryReportsInAnyOrder(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, b testBundle) {
		seedCampaign(t, b, 20)
		ini := mkInitiation(t, b, "ini_dlr", 20)
		finishAs(t, b, ini, store.OutSent, 0, 1)

		// Sent, then delivered: the first final report wins, repeats are no-ops.
		steps := []struct {
			n         int
			delivered bool
			want      string
		}{
			{0, true, store.DLRApplied}, {0, true, store.DLRIgnored}, {0, false, store.DLRIgnored},
			{1, false, store.DLRApplied}, {1, true, store.DLRIgnored}, {1, false, store.DLRIgnored},
		}
		for _, s := range steps {
			if got := report(t, b, ini, s.n, s.delivered, "DND number"); got != s.want {
				t.Fatalf("report %d delivered=%v: %s, want %s", s.n, s.delivered, got, s.want)
			}
		}
		c := balanced(t, b, ini.ID)
		if c.Sent != 1 || c.Delivered != 1 || c.Failed != 1 {
			t.Fatalf("counters = %+v", c)
		}
		errs, err := b.st.Errors(ctx(t), ini.ID)
		if err != nil || len(errs) != 1 || errs[0] != (store.MessageError{ID: "L1", Code: store.CodeDeliveryFailed, Message: "DND number"}) {
			t.Fatalf("errors = %+v, %v", errs, err)
		}

		// Reports that come before the send is recorded: while it is being
		// sent (2) and before it was even claimed (3). The first one is kept.
		if _, err := b.st.Claim(ctx(t), ini.ID, "w", time.Minute, []int{2}); err != nil {
			t.Fatal(err)
		}
		for _, s := range []struct {
			n         int
			delivered bool
			want      string
		}{{2, true, store.DLRStored}, {2, false, store.DLRDuplicate}, {3, false, store.DLRStored}, {3, true, store.DLRDuplicate}} {
			if got := report(t, b, ini, s.n, s.delivered, "absent subscriber"); got != s.want {
				t.Fatalf("early report %d: %s, want %s", s.n, got, s.want)
			}
		}
		if c := balanced(t, b, ini.ID); c.Delivered != 1 || c.Sent != 1 {
			t.Fatalf("an early report moved counters: %+v", c)
		}
		finishAs(t, b, ini, store.OutSent, 2, 3)
		c = balanced(t, b, ini.ID)
		if c.Sent != 2 || c.Delivered != 2 || c.Failed != 2 {
			t.Fatalf("after the sends: %+v", c)
		}
		// The early failure is listed like a late one.
		errs, err = b.st.Errors(ctx(t), ini.ID)
		if err != nil || len(errs) != 2 || errs[1] != (store.MessageError{ID: "L3", Code: store.CodeDeliveryFailed, Message: "absent subscriber"}) {
			t.Fatalf("errors after an early failed report = %+v, %v", errs, err)
		}
		for n, want := range map[int]string{0: store.MsgDelivered, 1: store.MsgFailed, 2: store.MsgDelivered, 3: store.MsgFailed, 4: store.MsgPending} {
			v, err := b.st.Message(ctx(t), "o", store.MessageID(ini.ID, n))
			if err != nil {
				t.Fatal(err)
			}
			if v.Status != want {
				t.Errorf("message %d: %s, want %s", n, v.Status, want)
			}
			if want == store.MsgDelivered && (v.Report == nil || !v.Report.Delivered || v.Report.At.IsZero()) {
				t.Errorf("message %d: report %+v", n, v.Report)
			}
			if n == 3 && (v.Report == nil || v.Report.Error != "absent subscriber") {
				t.Errorf("message 3: report %+v", v.Report)
			}
		}
		if got := report(t, b, ini, 3, true, ""); got != store.DLRIgnored {
			t.Fatalf("report after an early failure applied: %s", got)
		}

		for _, id := range []string{store.MessageID(ini.ID, 20), store.MessageID("ini_none", 0), "nonsense", "msg_ini_dlr_01"} {
			if _, err := b.st.ReportDelivery(ctx(t), id, true, ""); apperr.KindOf(err) != apperr.NotFound {
				t.Errorf("report for %q: %v, want NotFound", id, err)
			}
		}
		if _, err := b.st.Message(ctx(t), "other", store.MessageID(ini.ID, 0)); apperr.KindOf(err) != apperr.NotFound {
			t.Errorf("another org's message: %v", err)
		}
	})
}

func logIDs(views []store.MessageView) []string {
	out := make([]string, len(views))
	for i, v := range views {
		out[i] = fmt.Sprintf("%s/%d", v.InitiationID[4:], v.N)
	}
	return out
}

func TestLogsFiltersCountsAndPages(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, b testBundle) {
		seedCampaign(t, b, 20)
		a := mkInitiation(t, b, "ini_a", 20)
		b.clock.advance(time.Second)
		bb := mkInitiation(t, b, "ini_b", 15)
		finishAs(t, b, a, store.OutSent, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9)
		report(t, b, a, 0, true, "")
		if _, err := b.st.Cancel(ctx(t), a.ID); err != nil {
			t.Fatal(err)
		}
		finishAs(t, b, bb, store.OutSent, 0, 1, 2)
		finishAs(t, b, bb, store.OutFailed, 3)
		finishAs(t, b, bb, store.OutSkipped, 4)

		cases := []struct {
			name  string
			q     store.LogQuery
			total int64
			want  []string
		}{
			{"first page, newest first", store.LogQuery{Limit: 3}, 35, []string{"b/0", "b/1", "b/2"}},
			{"page across initiations", store.LogQuery{Offset: 13, Limit: 4}, 35, []string{"b/13", "b/14", "a/0", "a/1"}},
			{"past the end", store.LogQuery{Offset: 40, Limit: 4}, 35, nil},
			{"sent", store.LogQuery{Statuses: []string{store.MsgSent}, Offset: 2, Limit: 3}, 12, []string{"b/2", "a/1", "a/2"}},
			{"delivered", store.LogQuery{Statuses: []string{store.MsgDelivered}, Limit: 5}, 1, []string{"a/0"}},
			{"cancelled", store.LogQuery{Statuses: []string{store.MsgCancelled}, Offset: 8, Limit: 5}, 10, []string{"a/18", "a/19"}},
			{"pending", store.LogQuery{Statuses: []string{store.MsgPending}, Limit: 2}, 10, []string{"b/5", "b/6"}},
			{"failed or skipped", store.LogQuery{Statuses: []string{store.MsgFailed, store.MsgSkipped}, Limit: 5}, 2, []string{"b/3", "b/4"}},
			{"one initiation", store.LogQuery{InitiationID: "ini_a", Offset: 19, Limit: 5}, 20, []string{"a/19"}},
			{"campaign", store.LogQuery{CampaignID: "c", Limit: 1}, 35, []string{"b/0"}},
			{"other campaign", store.LogQuery{CampaignID: "x", Limit: 1}, 0, nil},
			{"phone, sent to", store.LogQuery{Phone: "+919800000003", Limit: 5}, 2, []string{"b/3", "a/3"}},
			{"phone and status", store.LogQuery{Phone: "+919800000012", Statuses: []string{store.MsgPending}, Limit: 5}, 1, []string{"b/12"}},
		}
		for _, tc := range cases {
			q := tc.q
			q.Org = "o"
			views, total, err := b.st.Logs(ctx(t), q)
			if err != nil {
				t.Fatal(err)
			}
			if got := logIDs(views); total != tc.total || !slices.Equal(got, tc.want) {
				t.Errorf("%s: total %d %v, want %d %v", tc.name, total, got, tc.total, tc.want)
			}
		}
		// Another org sees nothing, not even through the initiation id.
		for _, q := range []store.LogQuery{{Org: "x", Limit: 5}, {Org: "x", InitiationID: "ini_a", Limit: 5}} {
			if views, total, err := b.st.Logs(ctx(t), q); err != nil || total != 0 || len(views) != 0 {
				t.Errorf("org x: %d %v %v", total, logIDs(views), err)
			}
		}
	})
}
