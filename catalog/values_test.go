package catalog

import (
	"testing"

	"github.com/jackc/pgx/v5/pgtype"
)

// A boolean key column holds PostgreSQL's t and f, so user => true must
// find t (the planner and the catalog once spelled it true and t).
func TestBooleanKey(t *testing.T) {
	ratings := textRelation([]InputColumn{{"member", pgtype.BoolOID}, {"item", pgtype.Int4OID}, {"rating", pgtype.Int4OID}},
		[]string{"t", "101", "5"}, []string{"t", "102", "4"}, []string{"f", "101", "4"}, []string{"f", "104", "5"})
	for user, want := range map[bool]string{true: "104", false: "102"} {
		res, err := runCall(t, Recommend(), map[string]any{"user": user, "ratings": ratings, "neighbors": int64(1)})
		if err != nil {
			t.Fatal(err)
		}
		if res.Columns[0].Len() != 1 || passedText(&res.Columns[0], 0) != want {
			t.Errorf("recommend(user => %v): %+v, want item %s", user, res.Columns[0].Rows, want)
		}
	}
	if KeyText(true) != "t" || KeyText(false) != "f" {
		t.Errorf("KeyText: %q %q", KeyText(true), KeyText(false))
	}
}
