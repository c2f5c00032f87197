package store_test

import (
	"testing"
	"time"

	"github.com/campaignsms/campaignsms/internal/store"
)

// The key's life on both backends: taken with its initiation id; held (the
// same body: in flight; another body: a mismatch) while the request runs;
// taken over with the same id once the hold is over and no answer came;
// replayed once answered; freed only by the request that holds it.
func TestIdempotencyKeyOwnsItsInitiation(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, b testBundle) {
		c := ctx(t)
		if _, id, taken, err := b.st.TakeIdempotencyKey(c, "o", "k", "fp", "ini_a"); err != nil || !taken || id != "ini_a" {
			t.Fatalf("take: %v %q %v", taken, id, err)
		}
		rec, _, taken, err := b.st.TakeIdempotencyKey(c, "o", "k", "fp", "ini_b")
		if err != nil || taken || rec.Done || rec.InitiationID != "ini_a" {
			t.Fatalf("while held: %+v %v %v", rec, taken, err)
		}
		if rec, _, taken, err := b.st.TakeIdempotencyKey(c, "o", "k", "other", "ini_c"); err != nil || taken || rec.Fingerprint != "fp" {
			t.Fatalf("other body: %+v %v %v", rec, taken, err)
		}
		b.clock.advance(store.IdemInFlight + time.Second)
		if _, id, taken, err := b.st.TakeIdempotencyKey(c, "o", "k", "fp", "ini_d"); err != nil || !taken || id != "ini_a" {
			t.Fatalf("take-over: %v %q %v; want the first attempt's ini_a", taken, id, err)
		}
		if err := b.st.ReleaseIdempotencyKey(c, "o", "k", "fp", "ini_other"); err != nil {
			t.Fatal(err)
		}
		if err := b.st.StoreIdempotentAnswer(c, "o", "k", "fp", "ini_a", 207, []byte(`{"x":1}`)); err != nil {
			t.Fatal(err)
		}
		b.clock.advance(time.Hour)
		rec, _, taken, err = b.st.TakeIdempotencyKey(c, "o", "k", "fp", "ini_e")
		if err != nil || taken || !rec.Done || rec.Status != 207 || string(rec.Body) != `{"x":1}` {
			t.Fatalf("replay: %+v %v %v", rec, taken, err)
		}
		if _, id, taken, err := b.st.TakeIdempotencyKey(c, "o", "k2", "fp", "ini_f"); err != nil || !taken {
			t.Fatalf("k2: %v %v", taken, err)
		} else if err := b.st.ReleaseIdempotencyKey(c, "o", "k2", "fp", id); err != nil {
			t.Fatal(err)
		}
		if _, id, taken, err := b.st.TakeIdempotencyKey(c, "o", "k2", "fp", "ini_g"); err != nil || !taken || id != "ini_g" {
			t.Fatalf("after release: %v %q %v", taken, id, err)
		}
	})
}
