package catalog

import (
	"context"
	"errors"
	"math"
	"strconv"
	"strings"
	"testing"
)

var ratingCols = []InputColumn{{Name: "user_id", Type: 23}, {Name: "product_id", Type: 20}, {Name: "rating", Type: 23}}

// SEED_EXAMPLES.md section 4's ratings.
func seedRatings() *Relation {
	return textRelation(ratingCols,
		[]string{"1", "101", "5"}, []string{"1", "102", "4"}, []string{"1", "103", "3"},
		[]string{"2", "101", "4"}, []string{"2", "104", "5"},
		[]string{"3", "102", "2"}, []string{"3", "103", "3"}, []string{"3", "104", "4"})
}

func recRows(res *Result) string {
	var b strings.Builder
	for i := 0; i < res.Columns[1].Len(); i++ {
		if i > 0 {
			b.WriteString(" ")
		}
		b.WriteString(passedText(&res.Columns[0], i))
	}
	return b.String()
}

func TestRecommendSeedUserCF(t *testing.T) {
	// recommend(1, 2, method => 'user_cf', neighbors => 2, ratings => (...))
	cases := []struct {
		user   any
		items  string
		scores []float64
	}{
		{int64(1), "104", []float64{4.5}},
		{int64(2), "102 103", []float64{3, 3}},
		{int64(3), "101", []float64{4.5}},
		{"3", "101", []float64{4.5}},
	}
	for _, c := range cases {
		res, err := runCall(t, Recommend(), map[string]any{"user": c.user, "n": int64(2), "method": "user_cf", "neighbors": int64(2), "ratings": seedRatings()})
		if err != nil {
			t.Fatal(err)
		}
		if got := recRows(res); got != c.items {
			t.Errorf("user %v: items %s, want %s", c.user, got, c.items)
		}
		for i, s := range c.scores {
			if i >= res.Columns[1].Len() || res.Columns[1].Floats[i] != s || res.Columns[2].Ints[i] != int64(i+1) {
				t.Errorf("user %v: scores %v ranks %v, want %v", c.user, res.Columns[1].Floats, res.Columns[2].Ints, c.scores)
				break
			}
		}
		if col := res.Columns[0]; col.Name != "item" || col.Type != 20 {
			t.Errorf("item column %+v, want item bigint", col.OutputColumn)
		}
	}
}

func TestRecommendNoRatingsIsEmpty(t *testing.T) {
	for _, user := range []any{int64(42), nil, "nobody"} {
		res, err := runCall(t, Recommend(), map[string]any{"user": user, "ratings": seedRatings()})
		if err != nil || res.Columns[0].Len() != 0 {
			t.Errorf("user %v: %v rows, err %v; want none", user, res.Columns[0].Len(), err)
		}
	}
	res, err := runCall(t, Recommend(), map[string]any{"user": int64(1), "ratings": textRelation(ratingCols)})
	if err != nil || res.Columns[0].Len() != 0 {
		t.Errorf("empty ratings: err %v", err)
	}
}

// SEED_EXAMPLES.md section 7 through recommend(method => 'nmf'): user 0
// has rated everything but item 2, predicted ~0.
func TestRecommendNMF(t *testing.T) {
	r := [][]float64{{5, 3, 0, 1}, {4, 0, 0, 1}, {1, 1, 0, 5}, {1, 0, 0, 4}, {0, 1, 5, 4}}
	var rows [][]string
	for i, row := range r {
		for j, v := range row {
			if v != 0 {
				rows = append(rows, []string{string(rune('0' + i)), string(rune('0' + j)), string(rune('0' + int(v)))})
			}
		}
	}
	ratings := textRelation(ratingCols, rows...)
	res, err := runCall(t, Recommend(), map[string]any{"user": int64(0), "method": "nmf", "k": int64(2), "ratings": ratings})
	if err != nil {
		t.Fatal(err)
	}
	if recRows(res) != "2" || math.Abs(res.Columns[1].Floats[0]) > 1e-3 {
		t.Errorf("user 0: %s %v, want item 2 with score ~0", recRows(res), res.Columns[1].Floats)
	}
	res, err = runCall(t, Recommend(), map[string]any{"user": int64(1), "method": "nmf", "k": int64(2), "ratings": ratings})
	if err != nil {
		t.Fatal(err)
	}
	// User 1 rated items 0 and 3; W·H predicts 1.33 for item 1, 0 for 2.
	if recRows(res) != "1 2" || math.Abs(res.Columns[1].Floats[0]-1.3289) > 1e-3 {
		t.Errorf("user 1: %s %v, want 1 (~1.3289) then 2", recRows(res), res.Columns[1].Floats)
	}
}

func TestRecommendErrors(t *testing.T) {
	neg := textRelation(ratingCols, []string{"1", "1", "5"}, []string{"2", "1", "-2"})
	dup := textRelation(ratingCols, []string{"1", "1", "5"}, []string{"1", "1", "4"})
	for _, c := range []struct {
		name string
		vals map[string]any
		arg  string
		msg  string
	}{
		{"model", map[string]any{"user": int64(1), "model": "m", "ratings": seedRatings()}, "model", "only a call through"},
		{"no ratings", map[string]any{"user": int64(1)}, "ratings", "required"},
		{"method", map[string]any{"user": int64(1), "method": "item_cf", "ratings": seedRatings()}, "method", "user_cf"},
		{"n", map[string]any{"user": int64(1), "n": int64(0), "ratings": seedRatings()}, "n", "at least 1"},
		{"neighbors", map[string]any{"user": int64(1), "neighbors": int64(-1), "ratings": seedRatings()}, "neighbors", "at least 1"},
		{"k", map[string]any{"user": int64(1), "method": "nmf", "k": int64(9), "ratings": seedRatings()}, "k", "min(rows, cols)"},
		{"negative for nmf", map[string]any{"user": int64(1), "method": "nmf", "k": int64(1), "ratings": neg}, "ratings", "row 2: negative"},
		{"duplicate", map[string]any{"user": int64(1), "ratings": dup}, "ratings", "row 2: the same (user, item) pair"},
	} {
		_, err := runCall(t, Recommend(), c.vals)
		checkCallError(t, c.name, err, c.arg, c.msg)
	}
	// Negative ratings are fine for user_cf (cosine handles them).
	neg2 := textRelation(ratingCols, []string{"1", "1", "5"}, []string{"2", "1", "-2"}, []string{"2", "2", "3"})
	if res, err := runCall(t, Recommend(), map[string]any{"user": int64(1), "ratings": neg2}); err != nil || recRows(res) != "2" {
		t.Errorf("negative ratings with user_cf: %v", err)
	}
	var te *TypeError
	if _, err := Recommend().Columns([][]InputColumn{{{Name: "u", Type: 23}, {Name: "i", Type: 23}, {Name: "r", Type: 25}}}); !errors.As(err, &te) || te.Column != "r" {
		t.Errorf("text rating column: err = %v, want TypeError on r", err)
	}
}

// BenchmarkRecommendAdapter is one recommend() call as the planner makes
// it: 100,000 text-format ratings (943 users × 1682 items) read, indexed,
// and one user's top 10 by user CF.
func BenchmarkRecommendAdapter(b *testing.B) {
	var rows [][]string
	seen := map[[2]int]bool{}
	x := uint64(42)
	next := func(n int) int { // splitmix-style; any fixed data will do
		x += 0x9e3779b97f4a7c15
		z := x
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
		z = (z ^ (z >> 27)) * 0x94d049bb133111eb
		return int((z ^ (z >> 31)) % uint64(n))
	}
	for len(rows) < 100000 {
		u, i := next(943), next(1682)*next(1682)/1682
		if seen[[2]int{u, i}] {
			continue
		}
		seen[[2]int{u, i}] = true
		rows = append(rows, []string{strconv.Itoa(u + 1), strconv.Itoa(i + 1), strconv.Itoa(1 + next(5))})
	}
	rel := textRelation(ratingCols, rows...)
	f := Recommend()
	call := &Call{Func: f, Values: map[string]any{"user": int64(1), "n": int64(10), "ratings": rel, "method": "user_cf", "neighbors": int64(20), "k": int64(10), "model": nil}}
	for b.Loop() {
		if _, err := f.Run(context.Background(), call); err != nil {
			b.Fatal(err)
		}
	}
}
