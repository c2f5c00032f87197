package store_test

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/campaignsms/campaignsms/internal/store"
)

// newInitiation stores an initiation of n messages in batches of 10, with
// failedAtQueue customers failed before queueing.
func newInitiation(t *testing.T, b testBundle, n, failedAtQueue int) *store.Initiation {
	t.Helper()
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("C%03d", i)
	}
	var batches [][]string
	for i := 0; i < n; i += 10 {
		batches = append(batches, ids[i:min(i+10, n)])
	}
	ini := &store.Initiation{
		ID: "ini_" + strings.ReplaceAll(t.Name(), "/", "_"), Org: "o", CampaignID: "c", TemplateID: "t",
		BatchSize: 10, Batches: len(batches), Selected: int64(n + failedAtQueue), Initiated: int64(n),
		FailedAtQueue: int64(failedAtQueue), CreatedAt: b.st.Now(),
	}
	if _, err := b.st.CreateInitiation(ctx(t), ini, batches, nil); err != nil {
		t.Fatal(err)
	}
	return ini
}

func nums(from, to int) []int {
	var out []int
	for i := from; i < to; i++ {
		out = append(out, i)
	}
	return out
}

// checkCounters asserts the invariant of SPEC §5 and that the counters equal
// the recorded message states.
func checkCounters(t *testing.T, b testBundle, ini *store.Initiation) store.Counters {
	t.Helper()
	c, err := b.st.Counters(ctx(t), ini.ID)
	if err != nil {
		t.Fatal(err)
	}
	if c.Sent+c.Failed+c.Skipped+c.Cancelled+c.Pending() != c.Selected || c.Pending() < 0 {
		t.Fatalf("parts do not add up: %+v pending %d", c, c.Pending())
	}
	states, err := b.st.AllStates(ctx(t), ini.ID)
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int64{}
	for _, s := range states {
		if strings.HasPrefix(s, "s|") {
			s = "s"
		}
		count[s]++
	}
	if got := count["S"] + count["D"]; got != c.Sent {
		t.Errorf("sent = %d, states say %d (%v)", c.Sent, got, count)
	}
	if count["D"] != c.Delivered {
		t.Errorf("delivered = %d, states say %d", c.Delivered, count["D"])
	}
	if got := count["F"] + ini.FailedAtQueue; got != c.Failed {
		t.Errorf("failed = %d, states say %d", c.Failed, got)
	}
	if count["K"] != c.Skipped {
		t.Errorf("skipped = %d, states say %d", c.Skipped, count["K"])
	}
	if count["s"] != c.Inflight {
		t.Errorf("inflight = %d, states say %d", c.Inflight, count["s"])
	}
	return c
}

func sent(ns ...int) []store.Outcome {
	out := make([]store.Outcome, len(ns))
	for i, n := range ns {
		out[i] = store.Outcome{N: n, Outcome: store.OutSent, Record: &store.MessageRecord{Attempts: 1}}
	}
	return out
}

func TestClaimFinishHappyPath(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, b testBundle) {
		c := ctx(t)
		ini := newInitiation(t, b, 10, 2)
		res, err := claimStrings(b.st.Claim(c, ini.ID, "A", time.Minute, nums(0, 10)))
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(res, slices.Repeat([]string{"1"}, 10)) {
			t.Fatalf("claim = %v", res)
		}
		checkCounters(t, b, ini)
		outs := sent(0, 1, 2, 3, 4, 5, 6)
		outs = append(outs,
			store.Outcome{N: 7, Outcome: store.OutFailed, Err: &store.MessageError{ID: "C007", Code: "x", Message: "m"}},
			store.Outcome{N: 8, Outcome: store.OutSkipped},
			store.Outcome{N: 9, Outcome: store.OutRelease})
		if n, err := b.st.Finish(c, ini.ID, "A", outs); err != nil || n != 9 {
			t.Fatalf("finish = %d, %v", n, err)
		}
		got := checkCounters(t, b, ini)
		if got.Sent != 7 || got.Failed != 3 || got.Skipped != 1 || got.Pending() != 1 || got.CompletedAt != nil {
			t.Fatalf("counters = %+v", got)
		}
		errs, err := b.st.Errors(c, ini.ID)
		if err != nil || len(errs) != 1 || errs[0].ID != "C007" {
			t.Fatalf("errors = %v, %v", errs, err)
		}
		// The released message is claimable again; then everything is final.
		res, err = claimStrings(b.st.Claim(c, ini.ID, "B", time.Minute, nums(0, 10)))
		if err != nil {
			t.Fatal(err)
		}
		want := slices.Repeat([]string{"final"}, 10)
		want[9] = "1"
		if !slices.Equal(res, want) {
			t.Fatalf("second claim = %v", res)
		}
		if _, err := b.st.Finish(c, ini.ID, "B", sent(9)); err != nil {
			t.Fatal(err)
		}
		got = checkCounters(t, b, ini)
		if got.Pending() != 0 || got.CompletedAt == nil || got.Sent != 8 {
			t.Fatalf("counters = %+v", got)
		}
	})
}

func TestFinishTwiceChangesNothing(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, b testBundle) {
		c := ctx(t)
		ini := newInitiation(t, b, 3, 0)
		if _, err := b.st.Claim(c, ini.ID, "A", time.Minute, nums(0, 3)); err != nil {
			t.Fatal(err)
		}
		for range 3 {
			if _, err := b.st.Finish(c, ini.ID, "A", sent(0, 1, 2)); err != nil {
				t.Fatal(err)
			}
		}
		// Another run's late result for the same messages changes nothing either.
		if n, err := b.st.Finish(c, ini.ID, "B", []store.Outcome{{N: 0, Outcome: store.OutFailed}}); err != nil || n != 0 {
			t.Fatalf("late finish applied %d, %v", n, err)
		}
		if got := checkCounters(t, b, ini); got.Sent != 3 || got.Failed != 0 {
			t.Fatalf("counters = %+v", got)
		}
	})
}

func TestLeaseBlocksOtherRunsUntilItExpires(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, b testBundle) {
		c := ctx(t)
		ini := newInitiation(t, b, 2, 0)
		if _, err := b.st.Claim(c, ini.ID, "A", 30*time.Second, nums(0, 2)); err != nil {
			t.Fatal(err)
		}
		res, err := claimStrings(b.st.Claim(c, ini.ID, "B", 30*time.Second, nums(0, 2)))
		if err != nil || !slices.Equal(res, []string{"busy", "busy"}) {
			t.Fatalf("claim by B = %v, %v", res, err)
		}
		// A dies; after the lease B takes over with the next attempt number.
		b.clock.advance(31 * time.Second)
		res, err = claimStrings(b.st.Claim(c, ini.ID, "B", 30*time.Second, nums(0, 2)))
		if err != nil || !slices.Equal(res, []string{"r2", "r2"}) {
			t.Fatalf("takeover = %v, %v", res, err)
		}
		// A's extension fails: it no longer owns the message.
		if code, err := extString(b.st.Extend(c, ini.ID, "A", time.Minute, 0)); err != nil || code != "lost" {
			t.Fatalf("extend by A = %q, %v", code, err)
		}
		if code, err := extString(b.st.Extend(c, ini.ID, "B", time.Minute, 0)); err != nil || code != "3" {
			t.Fatalf("extend by B = %q, %v", code, err)
		}
		if got := checkCounters(t, b, ini); got.Inflight != 2 {
			t.Fatalf("inflight after takeover = %d, want 2", got.Inflight)
		}
		if _, err := b.st.Finish(c, ini.ID, "B", sent(0, 1)); err != nil {
			t.Fatal(err)
		}
		if got := checkCounters(t, b, ini); got.Sent != 2 || got.Inflight != 0 {
			t.Fatalf("counters = %+v", got)
		}
	})
}

func TestCancelCountsOnlyWhatIsNotInFlight(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, b testBundle) {
		c := ctx(t)
		ini := newInitiation(t, b, 10, 0)
		if _, err := b.st.Claim(c, ini.ID, "A", time.Minute, nums(0, 4)); err != nil {
			t.Fatal(err)
		}
		if _, err := b.st.Finish(c, ini.ID, "A", sent(0)); err != nil {
			t.Fatal(err)
		}
		n, err := b.st.Cancel(c, ini.ID)
		if err != nil || n != 6 {
			t.Fatalf("cancel = %d, %v; want the 6 never claimed", n, err)
		}
		got := checkCounters(t, b, ini)
		if !got.CancelledState || got.Cancelled != 6 || got.Pending() != 3 {
			t.Fatalf("after cancel = %+v pending %d", got, got.Pending())
		}
		// In-flight ones finish as sent or failed; their retry is cancelled.
		if _, err := b.st.Finish(c, ini.ID, "A", sent(1)); err != nil {
			t.Fatal(err)
		}
		if code, err := extString(b.st.Extend(c, ini.ID, "A", time.Minute, 2)); err != nil || code != "C" {
			t.Fatalf("extend after cancel = %q, %v", code, err)
		}
		// A new run claims nothing and counts nothing twice.
		res, err := claimStrings(b.st.Claim(c, ini.ID, "B", time.Minute, nums(4, 10)))
		if err != nil || !slices.Equal(res, slices.Repeat([]string{"C"}, 6)) {
			t.Fatalf("claim after cancel = %v, %v", res, err)
		}
		// The last in-flight message's worker died; its lease runs out.
		b.clock.advance(2 * time.Minute)
		res, err = claimStrings(b.st.Claim(c, ini.ID, "B", time.Minute, []int{3}))
		if err != nil || !slices.Equal(res, []string{"C"}) {
			t.Fatalf("claim of expired lease = %v, %v", res, err)
		}
		got = checkCounters(t, b, ini)
		if got.Sent != 2 || got.Cancelled != 8 || got.Pending() != 0 || got.CompletedAt == nil {
			t.Fatalf("final = %+v", got)
		}
		if n, err := b.st.Cancel(c, ini.ID); err != nil || n != 0 {
			t.Fatalf("second cancel = %d, %v", n, err)
		}
	})
}

func TestAbandonFailsOnlyUnheldMessages(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, b testBundle) {
		c := ctx(t)
		ini := newInitiation(t, b, 4, 0)
		if _, err := b.st.Claim(c, ini.ID, "A", time.Minute, []int{0, 1}); err != nil {
			t.Fatal(err)
		}
		if _, err := b.st.Finish(c, ini.ID, "A", sent(0)); err != nil {
			t.Fatal(err)
		}
		whys := make([]store.MessageError, 4)
		leased, err := b.st.Abandon(c, ini.ID, nums(0, 4), whys)
		if err != nil || leased != 1 {
			t.Fatalf("abandon = %d, %v", leased, err)
		}
		if got := checkCounters(t, b, ini); got.Sent != 1 || got.Failed != 2 || got.Pending() != 1 {
			t.Fatalf("counters = %+v", got)
		}
		b.clock.advance(2 * time.Minute)
		if leased, err := b.st.Abandon(c, ini.ID, nums(0, 4), whys); err != nil || leased != 0 {
			t.Fatalf("abandon after expiry = %d, %v", leased, err)
		}
		if got := checkCounters(t, b, ini); got.Failed != 3 || got.Pending() != 0 || got.CompletedAt == nil {
			t.Fatalf("counters = %+v", got)
		}
	})
}

func TestMessageIDRoundTrip(t *testing.T) {
	t.Parallel()
	id := store.MessageID("ini_abc123", 42)
	if id != "msg_abc123_42" {
		t.Fatalf("MessageID = %q", id)
	}
	ini, n, ok := store.ParseMessageID(id)
	if !ok || ini != "ini_abc123" || n != 42 {
		t.Fatalf("ParseMessageID = %q %d %v", ini, n, ok)
	}
	for _, bad := range []string{"", "msg_", "msg_abc", "msg_abc_-1", "msg_abc_01", "msg__1", "abc_1", "msg_a{b}_1"} {
		if _, _, ok := store.ParseMessageID(bad); ok {
			t.Errorf("ParseMessageID(%q) accepted", bad)
		}
	}
}

// claimStrings renders claims as short words, so tests read as the states
// they expect: "1" (first attempt), "r2" (a take-over: second attempt,
// possibly a re-send), "busy", "final", "C".
func claimStrings(cs []store.Claim, err error) ([]string, error) {
	out := make([]string, len(cs))
	for i, c := range cs {
		switch c.Kind {
		case store.ClaimBusy:
			out[i] = "busy"
		case store.ClaimFinal:
			out[i] = "final"
		case store.ClaimCancelled:
			out[i] = "C"
		default:
			out[i] = strconv.Itoa(c.Attempt)
			if c.Resend {
				out[i] = "r" + out[i]
			}
		}
	}
	return out, err
}

// extString renders an Extension as "lost", "C" or the next attempt.
func extString(e store.Extension, err error) (string, error) {
	switch e.Kind {
	case store.ExtendLost:
		return "lost", err
	case store.ExtendCancelled:
		return "C", err
	}
	return strconv.Itoa(e.Attempt), err
}
