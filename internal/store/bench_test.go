package store_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/campaignsms/campaignsms/internal/redistest"
	"github.com/campaignsms/campaignsms/internal/store"
)

// BenchmarkClaimFinish measures the message state scripts: one op claims
// 100 messages and records them sent, on real Redis.
func BenchmarkClaimFinish(b *testing.B) {
	st := store.New(store.Params{Redis: redistest.Client(b)})
	ctx := context.Background()
	const per = 100
	run := 0
	rec := &store.MessageRecord{To: "+919800000000", Body: "Dear Priya, your EMI of Rs 4500 is due on 2026-12-05.", Attempts: 1}
	b.ReportAllocs()
	for b.Loop() {
		run++
		id := "ini_bench" + strconv.Itoa(run)
		ini := &store.Initiation{ID: id, Org: "o", CampaignID: "c", BatchSize: per, Batches: 1, Selected: per, Initiated: per, CreatedAt: time.Now()}
		ids := make([]string, per)
		ns := make([]int, per)
		outs := make([]store.Outcome, per)
		for i := range ns {
			ids[i], ns[i] = "C"+strconv.Itoa(i), i
			outs[i] = store.Outcome{N: i, Outcome: store.OutSent, Record: rec}
		}
		if _, err := st.CreateInitiation(ctx, ini, [][]string{ids}, nil); err != nil {
			b.Fatal(err)
		}
		if _, err := st.Claim(ctx, id, "w", time.Minute, ns); err != nil {
			b.Fatal(err)
		}
		if n, err := st.Finish(ctx, id, "w", outs); err != nil || n != per {
			b.Fatalf("finish: %d %v", n, err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*per), "ns/message")
}
