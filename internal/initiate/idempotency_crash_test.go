package initiate_test

import (
	"context"
	"testing"
	"time"

	"github.com/campaignsms/campaignsms/internal/initiate"
	"github.com/campaignsms/campaignsms/internal/store"
	"github.com/campaignsms/campaignsms/internal/testkit"
)

// An initiate with an Idempotency-Key runs three steps: take the key (it
// owns the initiation id from then on), create and queue the initiation,
// store the answer. Whichever step the API process dies after, a retry with
// the same key once the hold has run out answers with that one initiation,
// its batches queued, and never creates a second.
func TestIdempotentInitiateSurvivesACrashAfterAnyStep(t *testing.T) {
	t.Parallel()
	for _, crashAfter := range []string{"take", "create", "answer"} {
		t.Run(crashAfter, func(t *testing.T) {
			t.Parallel()
			b := testkit.Setup(t, testkit.Options{Customers: 25})
			ctx := context.Background()
			req := initiate.Request{TemplateID: "t"}
			attempt := func() (string, *initiate.Result, *store.IdemRecord) {
				rec, id, taken, err := b.Store.TakeIdempotencyKey(ctx, "o", "key-1", "fp-1", initiate.NewInitiationID())
				if err != nil {
					t.Fatal(err)
				}
				if !taken {
					return "", nil, rec
				}
				if crashAfter == "take" {
					crashAfter = "" // the retry runs to the end
					return id, nil, nil
				}
				res, err := b.Svc.InitiateAs(ctx, id, "o", "c", req)
				if err != nil {
					t.Fatal(err)
				}
				if crashAfter == "create" {
					crashAfter = ""
					return id, res, nil
				}
				if err := b.Store.StoreIdempotentAnswer(ctx, "o", "key-1", "fp-1", id, 200, []byte(`{"initiationId":"`+id+`"}`)); err != nil {
					t.Fatal(err)
				}
				return id, res, nil
			}
			answered := crashAfter == "answer"
			firstID, _, _ := attempt()
			queuedFirst := len(b.Queue.Take())

			// A retry while the first attempt may still be running is a 409;
			// once it has answered, a replay.
			if _, _, rec := attempt(); rec == nil || rec.Done != answered {
				t.Fatalf("retry within the hold: %+v, want done=%v", rec, answered)
			}
			b.Clock.Advance(store.IdemInFlight + time.Second)
			id, res, rec := attempt()
			if rec != nil { // the answer was stored: a replay
				if !rec.Done || rec.InitiationID != firstID {
					t.Fatalf("replay = %+v, want the answer for %s", rec, firstID)
				}
				id, res = rec.InitiationID, nil
			}
			if id != firstID {
				t.Fatalf("retry ran as %s, the first attempt owned %s", id, firstID)
			}
			if res != nil && (res.InitiationID != firstID || res.Initiated != 25 || res.Batches != 3) {
				t.Fatalf("retry result = %+v", res)
			}
			if _, total, err := b.Store.ListInitiations(ctx, "o", "", 0, 10); err != nil || total != 1 {
				t.Fatalf("initiations: %d, %v; want exactly one", total, err)
			}
			if got := queuedFirst + len(b.Queue.Take()); got < 3 {
				t.Fatalf("batches queued over both attempts: %d, want all 3", got)
			}
		})
	}
}
