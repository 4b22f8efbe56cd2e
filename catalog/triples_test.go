package catalog

import (
	"slices"
	"strings"
	"testing"
)

// TestReadTriples: keys are numbered in key order whatever the rows'
// grouping, and of several bad rows the first is reported, a NULL user
// before anything else on the same row.
func TestReadTriples(t *testing.T) {
	cols := []InputColumn{{Name: "u", Type: 23}, {Name: "i", Type: 23}, {Name: "r", Type: 701}}
	tr, err := mfReadTriples("recommend", "ratings", textRelation(cols,
		[]string{"7", "30", "1"}, []string{"7", "10", "2"}, []string{"3", "30", "3"}, []string{"7", "20", "4"}, []string{"3", "10", "5"}))
	if err != nil {
		t.Fatal(err)
	}
	if want := []int{1, 1, 0, 1, 0}; !slices.Equal(tr.r, want) {
		t.Errorf("user indices %v, want %v", tr.r, want)
	}
	if want := []int{2, 0, 2, 1, 0}; !slices.Equal(tr.c, want) {
		t.Errorf("item indices %v, want %v", tr.c, want)
	}
	if want := []string{"3", "7"}; !slices.Equal(tr.rows.Keys, want) {
		t.Errorf("users %v, want %v", tr.rows.Keys, want)
	}

	for _, tc := range []struct {
		rows [][]string
		want string
	}{
		{[][]string{{"1", "1", "1"}, {"1", "NULL", "1"}, {"NULL", "1", "1"}}, `row 2: NULL in column "i"`},
		{[][]string{{"1", "1", "1"}, {"NULL", "1", "1"}, {"1", "NULL", "1"}}, `row 2: NULL in column "u"`},
		{[][]string{{"1", "1", "1"}, {"NULL", "NULL", "NULL"}}, `row 2: NULL in column "u"`},
		{[][]string{{"1", "1", "NULL"}, {"NULL", "1", "1"}}, `row 1`},
	} {
		_, err := mfReadTriples("recommend", "ratings", textRelation(cols, tc.rows...))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: got %v, want an error containing %q", tc.rows, err, tc.want)
		}
	}
}
