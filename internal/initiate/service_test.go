package initiate_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/campaignsms/campaignsms/internal/apperr"
	"github.com/campaignsms/campaignsms/internal/customer"
	"github.com/campaignsms/campaignsms/internal/filter"
	"github.com/campaignsms/campaignsms/internal/initiate"
	"github.com/campaignsms/campaignsms/internal/queue"
	"github.com/campaignsms/campaignsms/internal/redistest"
	"github.com/campaignsms/campaignsms/internal/store"
)

func TestMain(m *testing.M) { redistest.Main(m) }

type capture struct {
	mu      sync.Mutex
	batches []queue.Batch
}

func (c *capture) Enqueue(_ context.Context, b []queue.Batch) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.batches = append(c.batches, b...)
	return nil
}

type testBundle struct {
	st  *store.Store
	q   *capture
	svc *initiate.Service
}

// setup stores campaign "c" of org "o": 20 customers L00..L19; statuses cycle
// bounced, pending, paid, received; languages english/Hindi alternate;
// region is north for even, south for odd; L03 has no phone, L04 no first_name.
func setup(t *testing.T) testBundle {
	t.Helper()
	st := store.New(store.Params{Redis: redistest.Client(t)})
	q := &capture{}
	b := testBundle{st: st, q: q, svc: initiate.New(initiate.Params{Store: st, Queue: q, BatchSize: 4})}
	ctx := context.Background()
	if err := st.CreateCampaign(ctx, &store.Campaign{ID: "c", Org: "o", Name: "C"}); err != nil {
		t.Fatal(err)
	}
	for _, tpl := range []*store.Template{
		{ID: "t", Org: "o", Name: "T", Body: "Hi {{first_name}}"},
		{ID: "plain", Org: "o", Name: "P", Body: "Please pay"},
		{ID: "hi", Org: "o", Name: "H", Body: "Hi", Bodies: map[string]string{"hindi": "नमस्ते {{first_name}}"}},
	} {
		if err := st.PutTemplate(ctx, tpl, true); err != nil {
			t.Fatal(err)
		}
	}
	var recs []customer.Record
	for i := range 20 {
		raw := map[string]any{
			"loan_id":        fmt.Sprintf("L%02d", i),
			"phone_number":   fmt.Sprintf("98765%05d", i),
			"first_name":     fmt.Sprintf("N%d", i),
			"payment_status": []string{"bounced", "pending", "paid", "received"}[i%4],
			"language":       []string{"english", "Hindi"}[i%2],
			"region":         []string{"north", "south"}[i%2],
			"loan_amount":    5000 + 1000*(i%3),
		}
		if i == 3 {
			delete(raw, "phone_number")
		}
		if i == 4 {
			delete(raw, "first_name")
		}
		r, errs := customer.Normalize(raw)
		if len(errs) > 0 {
			t.Fatal(errs)
		}
		recs = append(recs, r)
	}
	if _, err := st.UpsertCustomers(ctx, "o", "c", recs); err != nil {
		t.Fatal(err)
	}
	return b
}

func TestInitiateResolution(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for _, tc := range []struct {
		name      string
		req       initiate.Request
		matched   int64
		selected  int64
		initiated int64
		errIDs    []string
	}{
		{"all", initiate.Request{TemplateID: "t"}, 20, 20, 18, []string{"L03", "L04"}},
		{"template without placeholders", initiate.Request{TemplateID: "plain"}, 20, 20, 19, []string{"L03"}},
		{"limit in insertion order", initiate.Request{TemplateID: "t", Limit: 5}, 20, 5, 3, []string{"L03", "L04"}},
		{"ids dedupe and missing", initiate.Request{TemplateID: "t", Filters: filter.Filters{IDs: []string{"L07", "L01", "nope"}}}, 2, 2, 2, nil},
		{"exclude wins", initiate.Request{TemplateID: "t", Filters: filter.Filters{IDs: []string{"L01", "L02"}, ExcludeIDs: []string{"L02"}}}, 1, 1, 1, nil},
		{"status OR", initiate.Request{TemplateID: "t", Filters: filter.Filters{PaymentStatus: []string{"bounced", "paid"}}}, 10, 10, 9, []string{"L04"}},
		{"status AND language", initiate.Request{TemplateID: "t", Filters: filter.Filters{PaymentStatus: []string{"pending"}, Language: []string{"HINDI"}}}, 5, 5, 5, nil},
		{"custom number", initiate.Request{TemplateID: "t", Filters: filter.Filters{Custom: map[string][]string{"loan_amount": {"5000"}}}}, 7, 7, 6, []string{"L03"}},
		{"custom AND status", initiate.Request{TemplateID: "t", Filters: filter.Filters{Custom: map[string][]string{"region": {"north"}}, PaymentStatus: []string{"bounced"}}}, 5, 5, 4, []string{"L04"}},
		{"per-language body", initiate.Request{TemplateID: "hi", Filters: filter.Filters{IDs: []string{"L03", "L04", "L05"}}}, 3, 3, 2, []string{"L03"}},
		{"dry run", initiate.Request{TemplateID: "t", DryRun: true, Limit: 2}, 20, 2, 2, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := b.svc.Initiate(context.Background(), "o", "c", tc.req)
			if err != nil {
				t.Fatal(err)
			}
			var errIDs []string
			for _, e := range res.Errors {
				errIDs = append(errIDs, e.ID)
			}
			if res.TotalMatched != tc.matched || res.Selected != tc.selected || res.Initiated != tc.initiated ||
				res.Failed != tc.selected-tc.initiated || !slices.Equal(errIDs, tc.errIDs) {
				t.Fatalf("got %+v, errors %v", res, errIDs)
			}
			if want := int((tc.initiated + 3) / 4); res.Batches != want {
				t.Fatalf("batches = %d, want %d", res.Batches, want)
			}
			if tc.req.DryRun != (res.InitiationID == "") {
				t.Fatalf("dry run %v but initiation id %q", tc.req.DryRun, res.InitiationID)
			}
		})
	}
}

func TestInitiateErrorsInSpecOrder(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	if _, err := b.st.PauseCampaign(ctx, "o", "c"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, org, campaign, template string
		f                             filter.Filters
		want                          apperr.Kind
	}{
		{"missing campaign wins over missing template", "o", "nope", "nope", filter.Filters{}, apperr.NotFound},
		{"other org's campaign", "x", "c", "t", filter.Filters{}, apperr.NotFound},
		{"missing template before pause", "o", "c", "nope", filter.Filters{}, apperr.NotFound},
		{"paused", "o", "c", "t", filter.Filters{IDs: []string{"none"}}, apperr.Conflict},
	} {
		_, err := b.svc.Initiate(ctx, tc.org, tc.campaign, initiate.Request{TemplateID: tc.template, Filters: tc.f})
		if apperr.KindOf(err) != tc.want {
			t.Errorf("%s: got %v, want %s", tc.name, err, tc.want)
		}
	}
	if _, err := b.st.ResumeCampaign(ctx, "o", "c"); err != nil {
		t.Fatal(err)
	}
	_, err := b.svc.Initiate(ctx, "o", "c", initiate.Request{TemplateID: "t", Filters: filter.Filters{IDs: []string{"none"}}})
	if apperr.KindOf(err) != apperr.NotFound {
		t.Fatalf("no match: %v", err)
	}
}

func TestInitiateStoresBatchesBeforeQueueing(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	res, err := b.svc.Initiate(ctx, "o", "c", initiate.Request{TemplateID: "t"})
	if err != nil {
		t.Fatal(err)
	}
	if len(b.q.batches) != 5 {
		t.Fatalf("queued %d batches, want 5", len(b.q.batches))
	}
	var all []string
	for i, bt := range b.q.batches {
		stored, err := b.st.Batch(ctx, res.InitiationID, i)
		if err != nil {
			t.Fatal(err)
		}
		if bt.Batch != i || bt.First != 4*i || !slices.Equal(stored, bt.IDs) || bt.Org != "o" || bt.CampaignID != "c" {
			t.Fatalf("batch %d = %+v, stored %v", i, bt, stored)
		}
		all = append(all, bt.IDs...)
	}
	if len(all) != 18 || slices.Contains(all, "L03") || slices.Contains(all, "L04") {
		t.Fatalf("queued ids = %v", all)
	}
	st, err := b.svc.Status(ctx, "o", res.InitiationID)
	if err != nil {
		t.Fatal(err)
	}
	if st.State != initiate.StateQueued || st.Counters.Failed != 2 || st.Pending() != 18 || len(st.Errors) != 2 {
		t.Fatalf("status = %+v", st)
	}
	if _, err := b.svc.Status(ctx, "other", res.InitiationID); apperr.KindOf(err) != apperr.NotFound {
		t.Fatalf("other org read the initiation: %v", err)
	}
}

func TestTaskIDsQueueABatchOnce(t *testing.T) {
	t.Parallel()
	rdb := redistest.Client(t)
	q := queue.NewClient(rdb)
	t.Cleanup(func() { _ = q.Close() })
	ctx := context.Background()
	batch := []queue.Batch{{InitiationID: "ini_x", Batch: 0, IDs: []string{"a"}}, {InitiationID: "ini_x", Batch: 1, IDs: []string{"b"}}}
	for range 3 {
		if err := q.Enqueue(ctx, batch); err != nil {
			t.Fatal(err)
		}
	}
	info, err := q.Inspector().GetQueueInfo(queue.Name)
	if err != nil {
		t.Fatal(err)
	}
	if info.Pending != 2 {
		t.Fatalf("pending tasks = %d, want 2", info.Pending)
	}
	for b := range 2 {
		state, err := q.TaskStateOf("ini_x", b)
		if err != nil || state != queue.TaskLive {
			t.Fatalf("batch %d state = %v, %v", b, state, err)
		}
	}
	if state, err := q.TaskStateOf("ini_x", 7); err != nil || state != queue.TaskMissing {
		t.Fatalf("unknown batch state = %v, %v", state, err)
	}
}
