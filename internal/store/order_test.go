package store_test

import (
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/campaignsms/campaignsms/internal/store"
)

// Lists are newest first even when items are created within one
// millisecond: the clock is frozen, so every creation time is equal.
func TestListsAreNewestFirstWithinOneMillisecond(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, b testBundle) {
		frozen := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
		st := store.New(store.Params{Redis: b.rdb.(*redis.Client), Now: func() time.Time { return frozen }})
		c := ctx(t)
		ids := []string{"b", "a", "d", "c"}
		for _, id := range ids {
			if err := st.PutTemplate(c, &store.Template{ID: id, Org: "o", Name: id, Body: "x"}, true); err != nil {
				t.Fatal(err)
			}
			if err := st.CreateCampaign(c, &store.Campaign{ID: id, Org: "o", Name: id}); err != nil {
				t.Fatal(err)
			}
			ini := &store.Initiation{ID: "ini_" + id, Org: "o", CampaignID: "k", CreatedAt: st.Now()}
			if _, err := st.CreateInitiation(c, ini, nil, nil); err != nil {
				t.Fatal(err)
			}
		}
		want := slices.Clone(ids)
		slices.Reverse(want)
		tpls, _, err := st.TemplatesPage(c, "o", 0, 10)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, tp := range tpls {
			got = append(got, tp.ID)
		}
		if !slices.Equal(got, want) {
			t.Errorf("templates %v, want %v", got, want)
		}
		camps, err := st.AllCampaigns(c, "o")
		if err != nil {
			t.Fatal(err)
		}
		got = got[:0]
		for _, cp := range camps {
			got = append(got, cp.ID)
		}
		if !slices.Equal(got, want) {
			t.Errorf("campaigns %v, want %v", got, want)
		}
		inis, _, err := st.ListInitiations(c, "o", "k", 0, 10)
		if err != nil {
			t.Fatal(err)
		}
		for i := range want {
			want[i] = "ini_" + want[i]
		}
		if !slices.Equal(inis, want) {
			t.Errorf("initiations %v, want %v", inis, want)
		}
	})
}
