package catalog

import (
	"context"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/flywheeldb/flywheel/functions"
)

// BenchmarkLearnRecommend: learnRecommend of 1,000 ratings of new users
// into a user_cf model of the demo's scale 50, in memory (the end-to-end
// benchmark is internal/e2e's BenchmarkLearnUserCF).
func BenchmarkLearnRecommend(b *testing.B) {
	cols := []InputColumn{{Name: "u", Type: 23}, {Name: "i", Type: 23}, {Name: "v", Type: 23}}
	rng := rand.New(rand.NewPCG(1, 2))
	var rows [][]string
	for u := 1; u <= 50000; u++ {
		for i := 1; i <= 200; i++ {
			if rng.IntN(1000) < 86 {
				rows = append(rows, []string{strconv.Itoa(u), strconv.Itoa(i), strconv.Itoa(1 + rng.IntN(5))})
			}
		}
	}
	t, err := mfReadTriples("train", "ratings", textRelation(cols, rows...))
	if err != nil {
		b.Fatal(err)
	}
	cf, err := functions.NewUserCF(t.r, t.c, t.v, t.rows.Len(), t.cols.Len())
	if err != nil {
		b.Fatal(err)
	}
	state, err := encodeUserCF(t.rows.Keys, t.cols.Keys, cf)
	if err != nil {
		b.Fatal(err)
	}
	m := &Model{Name: "cf", Kind: "recommend", Version: 1, Inputs: cols}
	if err := decodeRecommend(m, state); err != nil {
		b.Fatal(err)
	}
	var fresh [][]string
	for k := 0; k < 1000; k++ {
		fresh = append(fresh, []string{strconv.Itoa(100000 + k), strconv.Itoa(1 + (k*7)%200), "3"})
	}
	rel := textRelation(cols, fresh...)
	b.ResetTimer()
	for range b.N {
		if _, err := learnRecommend(context.Background(), m, rel); err != nil {
			b.Fatal(err)
		}
	}
}
