package store_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/campaignsms/campaignsms/internal/customer"
)

func TestUpsertCustomersKeepsOrderAndMovesIndexes(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, b testBundle) {
		c := ctx(t)
		recs := []map[string]any{
			{"loan_id": "L1", "phone_number": "9876543210", "payment_status": "bounced", "language": "English", "first_name": "A"},
			{"loan_id": "L2", "phone_number": "9876543211", "payment_status": "pending", "language": "hindi"},
			{"loan_id": "L3", "payment_status": "paid"},
		}
		var norm []customer.Record
		for _, r := range recs {
			norm = append(norm, mustRecord(t, r))
		}
		res, err := b.st.UpsertCustomers(c, "o", "c", norm)
		if err != nil {
			t.Fatal(err)
		}
		if res.Created != 3 || res.Updated != 0 {
			t.Fatalf("result = %+v, want 3 created", res)
		}
		// L1 changes status and language and loses first_name; it keeps its place.
		upd := mustRecord(t, map[string]any{"loan_id": "L1", "phone_number": "9876543210", "payment_status": "paid", "language": "hindi"})
		res, err = b.st.UpsertCustomers(c, "o", "c", []customer.Record{upd})
		if err != nil {
			t.Fatal(err)
		}
		if res.Updated != 1 || res.Created != 0 {
			t.Fatalf("result = %+v, want 1 updated", res)
		}
		ids, err := b.st.CustomerIDs(c, "o", "c", 0, -1)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(ids, []string{"L1", "L2", "L3"}) {
			t.Fatalf("order = %v", ids)
		}
		for _, tc := range []struct {
			kind, value string
			want        []string
		}{
			{"ps", "bounced", nil},
			{"ps", "paid", []string{"L1", "L3"}},
			{"ps", "pending", []string{"L2"}},
			{"lang", "english", nil},
			{"lang", "hindi", []string{"L1", "L2"}},
		} {
			got, err := b.st.IndexMembers(c, "o", "c", tc.kind, []string{tc.value})
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for id := range got {
				ids = append(ids, id)
			}
			slices.Sort(ids)
			if !slices.Equal(ids, tc.want) {
				t.Errorf("%s:%s = %v, want %v", tc.kind, tc.value, ids, tc.want)
			}
		}
		counts, err := b.st.FieldCounts(c, "o", "c")
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]int64{"loan_id": 3, "phone_number": 2, "payment_status": 3, "language": 2}
		for f, n := range want {
			if counts[f] != n {
				t.Errorf("count[%s] = %d, want %d (all: %v)", f, counts[f], n, counts)
			}
		}
		if _, ok := counts["first_name"]; ok {
			t.Errorf("first_name still counted after the only customer with it lost it: %v", counts)
		}
		got, err := b.st.Customers(c, "o", "c", []string{"L2", "nope", "L1"})
		if err != nil {
			t.Fatal(err)
		}
		if got[0].ID() != "L2" || got[1] != nil || got[2].PaymentStatus() != "paid" {
			t.Fatalf("Customers = %v", got)
		}
		order, err := b.st.InsertionOrder(c, "o", "c", []string{"L3", "zz", "L1"})
		if err != nil {
			t.Fatal(err)
		}
		if !(order[0] > order[2] && order[2] > 0 && order[1] == 0) {
			t.Fatalf("InsertionOrder = %v", order)
		}
	})
}

func TestUpsertManyInChunks(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, b testBundle) {
		c := ctx(t)
		var recs []customer.Record
		for i := range 4500 {
			recs = append(recs, mustRecord(t, map[string]any{"loan_id": fmt.Sprintf("L%05d", i), "payment_status": []string{"paid", "bounced"}[i%2]}))
		}
		if _, err := b.st.UpsertCustomers(c, "o", "big", recs); err != nil {
			t.Fatal(err)
		}
		n, err := b.st.CustomerCount(c, "o", "big")
		if err != nil || n != 4500 {
			t.Fatalf("count = %d, %v", n, err)
		}
		bounced, err := b.st.IndexMembers(c, "o", "big", "ps", []string{"bounced"})
		if err != nil || len(bounced) != 2250 {
			t.Fatalf("bounced = %d, %v", len(bounced), err)
		}
	})
}
