package functions

import (
	"math"
	"math/rand/v2"
	"reflect"
	"testing"
)

// TestUserCFLearn: Learn equals NewUserCF on the union, field by field,
// with new users and items numbered among the old ones and new ratings
// of rated pairs replacing theirs.
func TestUserCFLearn(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for trial := 0; trial < 50; trial++ {
		nu, ni := 1+rng.IntN(30), 1+rng.IntN(12)
		addU, addI := rng.IntN(5), rng.IntN(3)
		if trial%3 == 0 {
			addI = 0 // the copying path: no item renumbered
		}
		NU, NI := nu+addU, ni+addI
		userAt, itemAt := increasing(rng, nu, NU), increasing(rng, ni, NI)
		rated := map[[2]int]float64{} // the union, in the new numbering
		var ou, oi []int
		var ov []float64
		for u := 0; u < nu; u++ {
			for i := 0; i < ni; i++ {
				if rng.IntN(3) == 0 {
					v := float64(rng.IntN(6)) // 0 included: zero rows
					ou, oi, ov = append(ou, u), append(oi, i), append(ov, v)
					rated[[2]int{userAt[u], itemAt[i]}] = v
				}
			}
		}
		if len(ov) == 0 {
			ou, oi, ov = []int{0}, []int{0}, []float64{1}
			rated[[2]int{userAt[0], itemAt[0]}] = 1
		}
		m, err := NewUserCF(ou, oi, ov, nu, ni)
		if err != nil {
			t.Fatal(err)
		}
		var lu, li []int
		var lv []float64
		seen := map[[2]int]bool{}
		for k := rng.IntN(20); k > 0; k-- {
			p := [2]int{rng.IntN(NU), rng.IntN(NI)}
			if seen[p] {
				continue
			}
			seen[p] = true
			v := float64(1 + rng.IntN(5))
			lu, li, lv = append(lu, p[0]), append(li, p[1]), append(lv, v)
			rated[p] = v
		}
		got, err := m.Learn(userAt, itemAt, lu, li, lv, NU, NI)
		if err != nil {
			t.Fatal(err)
		}
		var uu, ui []int
		var uv []float64
		for p, v := range rated {
			uu, ui, uv = append(uu, p[0]), append(ui, p[1]), append(uv, v)
		}
		want, err := NewUserCF(uu, ui, uv, NU, NI)
		if err != nil {
			t.Fatal(err)
		}
		got.scratch, want.scratch = nil, nil
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("trial %d: Learn differs from NewUserCF on the union:\n%+v\n%+v", trial, got, want)
		}
	}
}

// increasing picks n increasing indices in [0, total).
func increasing(rng *rand.Rand, n, total int) []int {
	perm := rng.Perm(total)[:n]
	keep := make([]bool, total)
	for _, p := range perm {
		keep[p] = true
	}
	var out []int
	for i, k := range keep {
		if k {
			out = append(out, i)
		}
	}
	return out
}

func TestUserCFLearnBadInput(t *testing.T) {
	m := seedCF(t)
	id := func(n int) []int {
		out := make([]int, n)
		for i := range out {
			out[i] = i
		}
		return out
	}
	for _, c := range []struct {
		name  string
		u, i  []int
		v     []float64
		wantR int
	}{
		{"duplicate", []int{1, 0, 1}, []int{2, 0, 2}, []float64{1, 2, 3}, 2},
		{"range", []int{0, 3}, []int{0, 0}, []float64{1, 1}, 1},
		{"nan", []int{0}, []int{0}, []float64{math.NaN()}, 0},
	} {
		_, err := m.Learn(id(3), id(4), c.u, c.i, c.v, 3, 4)
		ie, ok := err.(*InputError)
		if !ok || ie.Row != c.wantR {
			t.Errorf("%s: got %v, want an InputError at row %d", c.name, err, c.wantR)
		}
	}
	if _, err := m.Learn([]int{0, 0, 1}, id(4), nil, nil, nil, 3, 4); err == nil {
		t.Error("a renumbering that does not increase was accepted")
	}
}

// BenchmarkUserCFLearn: 1,000 ratings of new users into a model of the
// demo's scale 50 (50,000 users, 200 items, about 860,000 ratings).
func BenchmarkUserCFLearn(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	var u, i []int
	var v []float64
	for user := 0; user < 50000; user++ {
		for item := 0; item < 200; item++ {
			if rng.IntN(1000) < 86 {
				u, i, v = append(u, user), append(i, item), append(v, float64(1+rng.IntN(5)))
			}
		}
	}
	m, err := NewUserCF(u, i, v, 50000, 200)
	if err != nil {
		b.Fatal(err)
	}
	userAt, itemAt := make([]int, 50000), make([]int, 200)
	for k := range userAt {
		userAt[k] = k
	}
	for k := range itemAt {
		itemAt[k] = k
	}
	var lu, li []int
	var lv []float64
	for k := 0; k < 1000; k++ {
		lu, li, lv = append(lu, 50000+k), append(li, (k*7)%200), append(lv, 3)
	}
	b.ResetTimer()
	for range b.N {
		if _, err := m.Learn(userAt, itemAt, lu, li, lv, 51000, 200); err != nil {
			b.Fatal(err)
		}
	}
}

func TestKeyIndexExtend(t *testing.T) {
	x := NewKeyIndex[string]()
	x.Add("a", 0)
	x.Add("b", 1)
	y := x.Extend([]string{"c", "d"})
	if i, ok := y.Lookup("d"); !ok || i != 3 || !reflect.DeepEqual(y.Keys, []string{"a", "b", "c", "d"}) || !reflect.DeepEqual(y.First, []int{0, 1, 2, 3}) {
		t.Fatalf("extended: %+v", y)
	}
	if _, ok := x.Lookup("c"); ok || len(x.Keys) != 2 || len(x.First) != 2 {
		t.Fatalf("the original changed: %+v", x)
	}
}
