package catalog

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// A result must be a function of the input's contents, not of the order
// its rows arrive in (PostgreSQL returns a table's rows in another order
// after an UPDATE, a VACUUM or with a parallel scan). These tests run each
// function on the same rows in several orders and require the same
// relation, to the last bit of every float.

// permuted returns rel's rows in the order perm (perm[p] is the source
// row of row p).
func permuted(rel *Relation, perm []int) *Relation {
	out := &Relation{}
	for _, c := range rel.Columns {
		nc := NewColumn(c.InputColumn)
		for _, i := range perm {
			if c.Null(i) {
				nc.Append(nil)
			} else {
				nc.Append(c.Bytes(i))
			}
		}
		out.Columns = append(out.Columns, nc)
	}
	return out
}

// orders are the row orders tried for an n-row input: as given, reversed,
// and a few shuffles (fixed seeds, so a failure reproduces).
func orders(n int) [][]int {
	id := make([]int, n)
	for i := range id {
		id[i] = i
	}
	rev := slices.Clone(id)
	slices.Reverse(rev)
	out := [][]int{id, rev}
	for s := uint64(1); s <= 4; s++ {
		out = append(out, rand.New(rand.NewPCG(s, 42)).Perm(n))
	}
	return out
}

// canonical renders a result as the sorted text of its rows: what a SQL
// relation is, whatever order the rows come in. Floats are written with
// every bit ('g', -1), so equal texts mean equal values.
func canonical(res *Result) []string {
	n := res.Columns[0].Len()
	rows := make([]string, n)
	for i := 0; i < n; i++ {
		var b strings.Builder
		for j, c := range res.Columns {
			if j > 0 {
				b.WriteString(" | ")
			}
			switch {
			case c.Nulls != nil && c.Nulls[i]:
				b.WriteString("NULL")
			case c.From != nil && c.From.Null(c.Rows[i]):
				b.WriteString("NULL")
			case c.From != nil:
				b.WriteString(c.From.Text(c.Rows[i]))
			case c.Floats != nil:
				b.WriteString(strconv.FormatFloat(c.Floats[i], 'g', -1, 64))
			case c.Ints != nil:
				b.WriteString(strconv.FormatInt(c.Ints[i], 10))
			default:
				b.WriteString(c.Texts[i])
			}
		}
		rows[i] = b.String()
	}
	slices.Sort(rows)
	return rows
}

// checkOrderFree runs f with vals, the relation argument arg taking each
// order of rel's rows in turn, and requires the same relation every time.
func checkOrderFree(t *testing.T, name string, f *Func, vals map[string]any, arg string, rel *Relation) {
	t.Helper()
	var want []string
	for k, perm := range orders(rel.Rows()) {
		v := map[string]any{}
		for a, x := range vals {
			v[a] = x
		}
		v[arg] = permuted(rel, perm)
		res, err := runCall(t, f, v)
		if err != nil {
			t.Fatalf("%s, order %d: %v", name, k, err)
		}
		got := canonical(res)
		if k == 0 {
			want = got
			if len(want) == 0 {
				t.Fatalf("%s: empty result proves nothing", name)
			}
			continue
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: order %d gives another result:\n%s\nwant\n%s", name, k, strings.Join(got, "\n"), strings.Join(want, "\n"))
			return
		}
	}
}

// kmOrderData has ties on purpose: features on a small grid (equal
// distances), repeated points, a repeated key with other features, and
// keys whose text order differs from their numeric order.
func kmOrderData(keyType uint32, key func(i int) string) *Relation {
	var rows [][]string
	for i := 0; i < 60; i++ {
		rows = append(rows, []string{key(i), strconv.Itoa(i * 7 % 10), strconv.Itoa(i * 3 % 5), strconv.FormatFloat(float64(i%4)/2, 'g', -1, 64)})
	}
	rows = append(rows, rows[5], rows[5], []string{key(7), "9", "0", "1.5"})
	return textRelation([]InputColumn{{Name: "id", Type: keyType}, {Name: "a", Type: 23}, {Name: "b", Type: 20}, {Name: "c", Type: 1700}}, rows...)
}

func TestKMeansOrderFree(t *testing.T) {
	for _, data := range []struct {
		name string
		rel  *Relation
	}{
		{"integer keys", kmOrderData(23, func(i int) string { return strconv.Itoa(i * 37 % 101) })},
		{"text keys", kmOrderData(25, func(i int) string { return fmt.Sprintf("u%d", i*37%101) })},
		{"date keys", kmOrderData(1082, func(i int) string { return fmt.Sprintf("20%02d-0%d-1%d", i%30, i%9+1, i%10) })},
	} {
		for _, opts := range []map[string]any{
			{"k": int64(4)},
			{"k": int64(6), "scale": "standard", "n_init": int64(3)},
			{"k": int64(12), "scale": "minmax", "seed": int64(7)}, // Elkan from k = 10
		} {
			name := fmt.Sprintf("%s %v", data.name, opts)
			checkOrderFree(t, "kmeans "+name, KMeans(), opts, "input", data.rel)
			checkOrderFree(t, "kmeans_centers "+name, KMeansCenters(), opts, "input", data.rel)
		}
	}
}

// Clusters are numbered by key order: the cluster of the smallest key is
// 0, and so on, however the rows arrive.
func TestKMeansNumberedByKeyOrder(t *testing.T) {
	// Users 3, 2, 1 come first; by first appearance they would be
	// clusters 0, 1, 2.
	rel := permuted(seedUserData(), []int{2, 1, 0, 3, 4})
	res, err := runCall(t, KMeans(), map[string]any{"input": rel, "k": int64(3)})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	for p := range res.Columns[1].Ints {
		got[passedText(&res.Columns[0], p)] = res.Columns[1].Ints[p]
	}
	want := map[string]int64{"1": 0, "5": 0, "2": 1, "4": 1, "3": 2}
	for u, c := range want {
		if got[u] != c {
			t.Errorf("user %s: cluster %d, want %d (all: %v)", u, got[u], c, got)
		}
	}
	// Keys 9 and 10 as numbers: 9 comes first, so its cluster is 0.
	nums := textRelation([]InputColumn{{Name: "id", Type: 23}, {Name: "x", Type: 701}},
		[]string{"10", "0"}, []string{"9", "100"}, []string{"11", "1"})
	res, err = runCall(t, KMeans(), map[string]any{"input": nums, "k": int64(2)})
	if err != nil {
		t.Fatal(err)
	}
	for p, c := range res.Columns[1].Ints {
		if id := passedText(&res.Columns[0], p); (id == "9") != (c == 0) {
			t.Errorf("id %s: cluster %d; id 9 (the smallest key) should be alone in cluster 0", id, c)
		}
	}
}

// mfOrderData is a ratings relation with integer users, text items whose
// byte order differs from their numeric suffix, and many tied ratings.
func mfOrderData() *Relation {
	var rows [][]string
	for u := 0; u < 14; u++ {
		for i := 1; i <= 12; i++ {
			if (u*5+i*3)%7 < 3 {
				continue // not rated
			}
			rows = append(rows, []string{strconv.Itoa(u * 3), fmt.Sprintf("item-%d", i), strconv.Itoa(1 + (u+i)%3)})
		}
	}
	return textRelation([]InputColumn{{Name: "customer_id", Type: 20}, {Name: "product", Type: 25}, {Name: "rating", Type: 1700}}, rows...)
}

func TestNMFOrderFree(t *testing.T) {
	rel := mfOrderData()
	for _, opts := range []map[string]any{
		{"k": int64(3)},
		{"k": int64(2), "init": "random", "seed": int64(0)},
		{"k": int64(3), "init": "nndsvdar", "only_missing": true},
	} {
		checkOrderFree(t, fmt.Sprintf("nmf %v", opts), NMF(), opts, "input", rel)
	}
}

// The seed's matrix comes out of the random init for its triples in any
// order, zeros unlisted: rows and columns are in key order, R's own.
func TestNMFSeedAnyOrder(t *testing.T) {
	want := [][]float64{
		{5.25583751, 1.99314304, 0, 1.45510614},
		{3.50429883, 1.32891643, 0, 0.97018348},
		{1.31291255, 0.9441558, 1.94957474, 3.94614513},
		{0.98126695, 0.72179626, 1.52760301, 3.0788861},
		{0, 0.65008539, 2.83998144, 5.21892451},
	}
	rel := seedNMFRelation(false)
	for k, perm := range orders(rel.Rows()) {
		res, err := runCall(t, NMF(), map[string]any{"input": permuted(rel, perm), "k": int64(2), "init": "random", "seed": int64(0)})
		if err != nil {
			t.Fatal(err)
		}
		for p := 0; p < res.Columns[2].Len(); p++ {
			i := int(passedText(&res.Columns[0], p)[0] - '0')
			j := int(passedText(&res.Columns[1], p)[1] - '0')
			if got := res.Columns[2].Floats[p]; math.Abs(got-want[i][j]) > 1e-6 {
				t.Errorf("order %d: W·H[%d][%d] = %.9f, want %.8f", k, i, j, got, want[i][j])
			}
		}
	}
}

func TestRecommendOrderFree(t *testing.T) {
	rel := mfOrderData()
	for _, user := range []int64{0, 9, 21, 39} {
		for _, opts := range []map[string]any{
			{"n": int64(5), "neighbors": int64(3)},
			{"n": int64(12), "neighbors": int64(20)},
			{"n": int64(4), "method": "nmf", "k": int64(3)},
		} {
			opts["user"] = user
			checkOrderFree(t, fmt.Sprintf("recommend %v", opts), Recommend(), opts, "ratings", rel)
		}
	}
}

// Ties rank by key: with every score tied, the items come in key order.
func TestRecommendTiesByKey(t *testing.T) {
	cols := []InputColumn{{Name: "u", Type: 23}, {Name: "i", Type: 23}, {Name: "r", Type: 23}}
	// User 1 rated item 1 only; user 2 rated 1 and the rest alike, listed
	// in an order that is neither numeric nor textual.
	rel := textRelation(cols, []string{"2", "100", "4"}, []string{"2", "9", "4"}, []string{"2", "20", "4"},
		[]string{"1", "1", "5"}, []string{"2", "1", "5"}, []string{"2", "3", "4"})
	res, err := runCall(t, Recommend(), map[string]any{"user": int64(1), "n": int64(10), "ratings": rel})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for p := 0; p < res.Columns[0].Len(); p++ {
		got = append(got, passedText(&res.Columns[0], p))
	}
	if s := strings.Join(got, " "); s != "3 9 20 100" {
		t.Errorf("tied items %s, want them in key order 3 9 20 100", s)
	}
}

func TestSimilarItemsOrderFree(t *testing.T) {
	words := []string{"red", "green", "blue", "chair", "table", "lamp", "desk", "sofa"}
	var rows [][]string
	for i := 0; i < 40; i++ {
		// Few words per item, so many similarities tie (exactly 0 or equal).
		d := words[i%8] + " " + words[(i/8)%8]
		if i%5 == 0 {
			d = "NULL"
		}
		rows = append(rows, []string{strconv.Itoa(i * 17 % 97), d})
	}
	rel := textRelation(similarCols, rows...)
	for _, vals := range []map[string]any{
		{"item": nil, "n": int64(6)},
		{"item": int64(17), "n": int64(39)},
		{"item": int64(34), "n": int64(3)},
	} {
		checkOrderFree(t, fmt.Sprintf("similar_items %v", vals), SimilarItems(), vals, "input", rel)
	}
}

func TestHoltOrderFree(t *testing.T) {
	cols := []InputColumn{{Name: "store", Type: 23}, {Name: "month", Type: 1082}, {Name: "units", Type: 701}}
	var rows [][]string
	for _, store := range []string{"10", "9", "100"} {
		for m := 0; m < 30; m++ {
			v := 50 + float64(len(store)*m) + 7*math.Sin(float64(m*len(store)))
			rows = append(rows, []string{store, fmt.Sprintf("%04d-%02d-01", 2020+m/12, m%12+1), strconv.FormatFloat(v, 'g', -1, 64)})
		}
	}
	rel := textRelation(cols, rows...)
	checkOrderFree(t, "holt_forecast", HoltForecast(), map[string]any{"horizon": int64(3), "seasonal": "add", "seasonal_periods": int64(6)}, "input", rel)
	checkOrderFree(t, "holt_fit", HoltFit(), map[string]any{"damped": true}, "input", rel)
}

// sgd_regress learns in the training rows' order (that order is the
// input's meaning), but its predictions are per row.
func TestSGDRegressPredictOrderFree(t *testing.T) {
	var rows [][]string
	for i := 0; i < 25; i++ {
		rows = append(rows, []string{strconv.Itoa(i * 7 % 25), strconv.Itoa(i % 6), strconv.FormatFloat(float64(i)/3, 'g', -1, 64)})
	}
	pred := textRelation([]InputColumn{{Name: "id", Type: 23}, {Name: "x1", Type: 701}, {Name: "x2", Type: 701}}, rows...)
	checkOrderFree(t, "sgd_regress", SGDRegress(), map[string]any{"train": seedTrain()}, "predict", pred)
}
