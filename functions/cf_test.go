package functions

import (
	"context"
	"fmt"
	"math"
	"math/rand"
	"reflect"
	"sort"
	"testing"
)

// SEED_EXAMPLES.md section 4: users 1..3 -> 0..2, products 101..104 -> 0..3.
func seedCF(t *testing.T) *UserCF {
	t.Helper()
	users := []int{0, 0, 0, 1, 1, 2, 2, 2}
	items := []int{0, 1, 2, 0, 3, 1, 2, 3}
	vals := []float64{5, 4, 3, 4, 5, 2, 3, 4}
	m, err := NewUserCF(users, items, vals, 3, 4)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestUserCFSeed(t *testing.T) {
	m := seedCF(t)
	sims := [][3]float64{{0, 1, 0.44172610429938614}, {0, 2, 0.4464418717230567}, {1, 2, 0.5800147905657416}}
	for _, s := range sims {
		a, b := int(s[0]), int(s[1])
		if got := m.Similarities(a)[b]; math.Abs(got-s[2]) > 1e-15 {
			t.Errorf("sim(%d,%d) = %.17g, want %.17g", a+1, b+1, got, s[2])
		}
		if got := m.Similarities(b)[a]; math.Abs(got-s[2]) > 1e-15 {
			t.Errorf("sim(%d,%d) = %.17g, want %.17g", b+1, a+1, got, s[2])
		}
	}
	cases := []struct {
		user int
		want []Scored
	}{
		{0, []Scored{{3, 4.5}}},
		{1, []Scored{{1, 3}, {2, 3}}},
		{2, []Scored{{0, 4.5}}},
	}
	for _, c := range cases {
		got, err := m.Recommend(c.user, 2, 2)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("user %d: %v, want %v", c.user+1, got, c.want)
		}
	}
}

func TestUserCFBadInput(t *testing.T) {
	m := seedCF(t)
	for _, c := range []struct {
		u, n, k int
		arg     string
	}{{3, 1, 1, "user"}, {-1, 1, 1, "user"}, {0, 0, 1, "n"}, {0, 1, 0, "neighbors"}} {
		_, err := m.Recommend(c.u, c.n, c.k)
		if ie, ok := AsInputError(err); !ok || ie.Arg != c.arg {
			t.Errorf("Recommend(%d,%d,%d): err = %v, want InputError on %s", c.u, c.n, c.k, err, c.arg)
		}
	}
	if _, err := NewUserCF(nil, nil, nil, 0, 0); err == nil {
		t.Error("no ratings: want an error")
	}
	_, err := NewUserCF([]int{0, 0}, []int{1, 1}, []float64{1, 2}, 1, 2)
	if ie, ok := AsInputError(err); !ok || ie.Row != 1 {
		t.Errorf("duplicate pair: err = %v, want InputError at row 2", err)
	}
	_, err = NewUserCF([]int{0}, []int{0}, []float64{math.Inf(1)}, 1, 1)
	if ie, ok := AsInputError(err); !ok || ie.Row != 0 {
		t.Errorf("infinite rating: err = %v, want InputError at row 1", err)
	}
	// A single user has nobody to learn from: empty, no error.
	one, _ := NewUserCF([]int{0}, []int{0}, []float64{5}, 1, 2)
	if got, err := one.Recommend(0, 3, 2); err != nil || len(got) != 0 {
		t.Errorf("single user: %v, %v; want empty", got, err)
	}
}

// denseCF is the seed's definition on the dense matrix, written the
// obvious way, to check the sparse implementation including its ties.
func denseCF(r [][]float64, rated [][]bool, u, n, neighbors int) []Scored {
	norm := func(x []float64) float64 {
		s := 0.0
		for _, v := range x {
			s += v * v
		}
		return math.Sqrt(s)
	}
	var cand []Scored
	for v := range r {
		if v == u {
			continue
		}
		s := 0.0
		nu, nv := norm(r[u]), norm(r[v])
		if nu > 0 && nv > 0 {
			for i := range r[u] {
				s += r[u][i] / nu * (r[v][i] / nv)
			}
		}
		cand = append(cand, Scored{v, s})
	}
	sort.SliceStable(cand, func(a, b int) bool { return cand[a].Score > cand[b].Score })
	if len(cand) > neighbors {
		cand = cand[:neighbors]
	}
	var out []Scored
	for i := range r[u] {
		if rated[u][i] {
			continue
		}
		s := 0.0
		for _, c := range cand {
			s += r[c.Index][i]
		}
		out = append(out, Scored{i, s / float64(len(cand))})
	}
	sort.SliceStable(out, func(a, b int) bool { return out[a].Score > out[b].Score })
	if len(out) > n {
		out = out[:n]
	}
	return out
}

func TestUserCFMatchesDense(t *testing.T) {
	rng := NewRandomState(7)
	const nu, ni = 40, 30
	r := make([][]float64, nu)
	rated := make([][]bool, nu)
	var users, items []int
	var vals []float64
	for u := range r {
		r[u] = make([]float64, ni)
		rated[u] = make([]bool, ni)
		for i := range r[u] {
			if rng.Float64() < 0.15 {
				v := float64(1 + int(rng.Float64()*5)) // integer ratings make ties
				r[u][i], rated[u][i] = v, true
				users, items, vals = append(users, u), append(items, i), append(vals, v)
			}
		}
	}
	m, err := NewUserCF(users, items, vals, nu, ni)
	if err != nil {
		t.Fatal(err)
	}
	for u := 0; u < nu; u++ {
		for _, k := range []int{1, 3, 10, 100} {
			got, _ := m.Recommend(u, 8, k)
			want := denseCF(r, rated, u, 8, k)
			if len(got) != len(want) {
				t.Fatalf("user %d k %d: %v, want %v", u, k, got, want)
			}
			for j := range got {
				if got[j].Index != want[j].Index || math.Abs(got[j].Score-want[j].Score) > 1e-12 {
					t.Fatalf("user %d k %d: %v, want %v", u, k, got, want)
				}
			}
		}
	}
}

// SEED_EXAMPLES.md section 7: recommending from the NMF model excludes
// what user 0 rated, which leaves item 2.
func TestNMFRecommendSeed(t *testing.T) {
	rows, cols, vals := seedNMF()
	m, err := NMF(context.Background(), rows, cols, vals, 5, 4, NMFOptions{K: 2, Init: "random"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := m.Recommend(0, []int{0, 1, 3}, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Index != 2 || math.Abs(got[0].Score) > 1e-9 {
		t.Errorf("user 0: %v, want [{2 0}]", got)
	}
	got, _ = m.Recommend(4, []int{1, 2, 3}, 10)
	if len(got) != 1 || got[0].Index != 0 {
		t.Errorf("user 4: %v, want item 0 only", got)
	}
}

// User CF must give exactly the dense numpy/scikit-learn computation's
// recommendations (testdata/reference/cf.json) for every user and several
// neighbourhood sizes, ties included.
func TestUserCFReference(t *testing.T) {
	var ref struct {
		Users, Items []int
		Vals         []float64
		NUsers       int `json:"n_users"`
		NItems       int `json:"n_items"`
		N            int
		Recs         map[string][][][2]float64
	}
	loadJSON(t, "cf.json", &ref)
	m, err := NewUserCF(ref.Users, ref.Items, ref.Vals, ref.NUsers, ref.NItems)
	if err != nil {
		t.Fatal(err)
	}
	for nbs, perUser := range ref.Recs {
		var nb int
		fmt.Sscan(nbs, &nb)
		for u, want := range perUser {
			got, err := m.Recommend(u, ref.N, nb)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(want) {
				t.Fatalf("neighbors %d user %d: %v, want %v", nb, u, got, want)
			}
			for r := range want {
				if got[r].Index != int(want[r][0]) || math.Abs(got[r].Score-want[r][1]) > 1e-12 {
					t.Errorf("neighbors %d user %d rank %d: %v, want %v", nb, u, r+1, got[r], want[r])
				}
			}
		}
	}
}

// ratingsData is gen_nmf_tfidf_cf.py's ratings(): distinct (user, item,
// rating) triples from numpy's RandomState(seed), bit for bit.
func ratingsData(nUsers, nItems, nRatings int, seed uint32) (users, items []int, vals []float64) {
	rng := NewRandomState(seed)
	seen := make(map[[2]int]bool, nRatings)
	for len(users) < nRatings {
		u := int(float64(nUsers) * rng.Float64())
		a := rng.Float64()
		b := rng.Float64()
		i := int(float64(nItems) * (a * b))
		r := 1 + int(5*rng.Float64())
		if seen[[2]int{u, i}] {
			continue
		}
		seen[[2]int{u, i}] = true
		users, items, vals = append(users, u), append(items, i), append(vals, float64(r))
	}
	return
}

// The generator must match the Python one (cf.json holds its output).
func TestRatingsDataMatchesPython(t *testing.T) {
	var ref struct {
		Users, Items []int
		Vals         []float64
	}
	loadJSON(t, "cf.json", &ref)
	users, items, vals := ratingsData(60, 50, 400, 21)
	if !reflect.DeepEqual(users, ref.Users) || !reflect.DeepEqual(items, ref.Items) || !reflect.DeepEqual(vals, ref.Vals) {
		t.Fatal("ratingsData differs from gen_nmf_tfidf_cf.py's ratings()")
	}
}

// BenchmarkUserCFRecommend is one user's top 10 with 20 neighbours over an
// index of 943 users × 1682 items, 100,000 ratings (MovieLens-100k's
// shape; bench_nmf_tfidf_cf.py times the same data).
func BenchmarkUserCFRecommend(b *testing.B) {
	users, items, vals := ratingsData(943, 1682, 100000, 42)
	m, err := NewUserCF(users, items, vals, 943, 1682)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, err := m.Recommend(i%943, 10, 20); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkUserCFIndex is building that index, which recommend(ratings =>
// ...) does once per call.
func BenchmarkUserCFIndex(b *testing.B) {
	users, items, vals := ratingsData(943, 1682, 100000, 42)
	for b.Loop() {
		if _, err := NewUserCF(users, items, vals, 943, 1682); err != nil {
			b.Fatal(err)
		}
	}
}

// TestNeighborsEqualDenseRanking: Neighbors, which ranks only the users
// sharing an item and fills with the rest, equals ranking the dense
// similarity vector, negative similarities and short lists included.
func TestNeighborsEqualDenseRanking(t *testing.T) {
	r := rand.New(rand.NewSource(9))
	for trial := 0; trial < 20; trial++ {
		users, items := 2+r.Intn(40), 1+r.Intn(15)
		var us, is []int
		var vs []float64
		for u := 0; u < users; u++ {
			for i := 0; i < items; i++ {
				if r.Float64() < 0.2 {
					us, is = append(us, u), append(is, i)
					vs = append(vs, float64(r.Intn(7)-2)) // zeros and negatives too
				}
			}
		}
		if len(us) == 0 {
			continue
		}
		m, err := NewUserCF(us, is, vs, users, items)
		if err != nil {
			t.Fatal(err)
		}
		for u := 0; u < users; u++ {
			for _, k := range []int{1, 3, users - 1, users + 5} {
				want := topNDense(m.Similarities(u), k, func(v int) bool { return v == u })
				got := m.Neighbors(u, k)
				if len(got) != len(want) {
					t.Fatalf("trial %d user %d k %d: %d neighbours, want %d", trial, u, k, len(got), len(want))
				}
				for j := range want {
					if got[j] != want[j] {
						t.Fatalf("trial %d user %d k %d: neighbour %d is %v, want %v", trial, u, k, j, got[j], want[j])
					}
				}
			}
		}
	}
}
