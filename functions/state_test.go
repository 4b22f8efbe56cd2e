package functions

import (
	"bytes"
	"context"
	"encoding"
	"errors"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
)

// stRatings draws a synthetic ratings set: each user rates about perUser
// distinct items, values 1..5 (and a few 0s, which leave a zero row).
func stRatings(seed uint64, users, items, perUser int) (us, is []int, vs []float64) {
	rng := rand.New(rand.NewPCG(seed, 1))
	seen := make([]bool, items)
	for u := 0; u < users; u++ {
		c := 1 + rng.IntN(2*perUser-1)
		var mine []int
		for j := 0; j < c && j < items; j++ {
			i := rng.IntN(items)
			if seen[i] {
				continue
			}
			seen[i] = true
			mine = append(mine, i)
			us, is = append(us, u), append(is, i)
			vs = append(vs, float64(rng.IntN(6)))
		}
		for _, i := range mine {
			seen[i] = false
		}
	}
	return us, is, vs
}

func stUserCF(t testing.TB, seed uint64, users, items, perUser int) *UserCF {
	t.Helper()
	us, is, vs := stRatings(seed, users, items, perUser)
	m, err := NewUserCF(us, is, vs, users, items)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// roundTrip encodes src, decodes into dst and checks the decoded state
// encodes to the same bytes.
func roundTrip(t *testing.T, src encoding.BinaryMarshaler, dst interface {
	encoding.BinaryMarshaler
	encoding.BinaryUnmarshaler
}) []byte {
	t.Helper()
	b, err := src.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if err := dst.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	b2, err := dst.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, b2) {
		t.Fatal("re-encoding the decoded state gives different bytes")
	}
	return b
}

// sameBits reports whether two float slices are equal bit for bit.
func sameBits(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float64bits(a[i]) != math.Float64bits(b[i]) {
			return false
		}
	}
	return true
}

func TestStateCodecPrimitives(t *testing.T) {
	e := NewEncoder("test", 3, 0)
	e.Uvarint(math.MaxUint64)
	e.Varint(math.MinInt64)
	e.Int(-7)
	e.Bool(true)
	e.Float64(math.Copysign(0, -1))
	e.Float64s([]float64{1.5, math.Inf(-1), math.Float64frombits(0x7ff8000000000001)})
	e.Int32s([]int32{math.MinInt32, 0, math.MaxInt32})
	e.Ints([]int{-1, 1 << 40})
	e.String("héllo")
	e.Strings([]string{"", "a", "bc"})
	e.Bytes([]byte{0, 255})
	b := e.Finish()
	kind, ver, err := StateHeader(b)
	if err != nil || kind != "test" || ver != 3 {
		t.Fatalf("header: %q %d %v", kind, ver, err)
	}
	d, err := NewDecoder(b, "test", 3)
	if err != nil {
		t.Fatal(err)
	}
	if v := d.Uvarint(); v != math.MaxUint64 {
		t.Errorf("uvarint %d", v)
	}
	if v := d.Varint(); v != math.MinInt64 {
		t.Errorf("varint %d", v)
	}
	if v := d.Int("x", -10, 10); v != -7 {
		t.Errorf("int %d", v)
	}
	if !d.Bool() {
		t.Error("bool")
	}
	if v := d.Float64(); math.Float64bits(v) != 1<<63 {
		t.Errorf("-0 came back as %v", v)
	}
	if v := d.Float64s(); !sameBits(v, []float64{1.5, math.Inf(-1), math.Float64frombits(0x7ff8000000000001)}) {
		t.Errorf("floats %v", v)
	}
	if v := d.Int32s(); !slices.Equal(v, []int32{math.MinInt32, 0, math.MaxInt32}) {
		t.Errorf("int32s %v", v)
	}
	if v := d.Ints(); !slices.Equal(v, []int{-1, 1 << 40}) {
		t.Errorf("ints %v", v)
	}
	if v := d.String(); v != "héllo" {
		t.Errorf("string %q", v)
	}
	if v := d.Strings(); !slices.Equal(v, []string{"", "a", "bc"}) {
		t.Errorf("strings %q", v)
	}
	if v := d.Bytes(); !bytes.Equal(v, []byte{0, 255}) {
		t.Errorf("bytes %v", v)
	}
	if err := d.Finish(); err != nil {
		t.Fatal(err)
	}
	// Reading past the end fails once and stays failed.
	if d.Float64(); !errors.Is(d.Err(), ErrStateCorrupt) {
		t.Errorf("read past the end: %v", d.Err())
	}
	if d.Uvarint() != 0 || d.Float64s() != nil {
		t.Error("reads after a failure return zero values")
	}
}

func TestStateHeaderErrors(t *testing.T) {
	good, err := seedCF(t).MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	reseal := func(b []byte) []byte {
		e := &Encoder{buf: slices.Clone(b[:len(b)-4])}
		return e.Finish()
	}
	future := NewEncoder(stateKindUserCF, stateVersionUserCF+1, 0).Finish()
	zero := NewEncoder(stateKindUserCF, 0, 0).Finish()
	badMagic := slices.Clone(good)
	badMagic[0] = 'X'
	flipped := slices.Clone(good)
	flipped[len(flipped)/2] ^= 1
	cases := []struct {
		name string
		b    []byte
		want error
	}{
		{"empty", nil, ErrStateCorrupt},
		{"short", []byte("FWM"), ErrStateCorrupt},
		{"magic", reseal(badMagic), ErrStateCorrupt},
		{"crc", flipped, ErrStateCorrupt},
		{"truncated", good[:len(good)-1], ErrStateCorrupt},
		{"future version", future, ErrStateVersion},
		{"version 0", zero, ErrStateCorrupt},
		{"other kind", NewEncoder("nmf", 1, 0).Finish(), ErrStateKind},
		{"trailing bytes", reseal(append(slices.Clone(good[:len(good)-4]), 0, 0, 0, 0, 0)), ErrStateCorrupt},
	}
	for _, c := range cases {
		var m UserCF
		err := m.UnmarshalBinary(c.b)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, err, c.want)
		}
		if m.Users != 0 {
			t.Errorf("%s: a failed decode changed the model", c.name)
		}
	}
	var m UserCF
	if err := m.UnmarshalBinary(future); err == nil || !bytes.Contains([]byte(err.Error()), []byte("newer Flywheel")) {
		t.Errorf("future version error does not say why: %v", err)
	}
}

// stPrefixes checks that every proper prefix of b, and b with any one
// byte changed (CRC recomputed, so the payload decoder sees it), fails
// to decode or decodes without panicking.
func stPrefixes(t *testing.T, b []byte, dec func([]byte) error) {
	t.Helper()
	for n := 0; n < len(b); n++ {
		if err := dec(b[:n]); err == nil {
			t.Fatalf("prefix of %d/%d bytes decoded", n, len(b))
		}
	}
	body := b[:len(b)-4]
	step := max(1, len(body)/400)
	for i := 0; i < len(body); i += step {
		for _, x := range []byte{0x01, 0x80, 0xff} {
			c := slices.Clone(body)
			c[i] ^= x
			e := &Encoder{buf: c}
			_ = dec(e.Finish()) // must not panic; may decode (a value changed)
			c2 := slices.Clone(body[:i])
			e2 := &Encoder{buf: c2} // truncated payload, valid CRC
			if err := dec(e2.Finish()); err == nil && i > 0 {
				t.Fatalf("payload truncated to %d bytes decoded", i)
			}
		}
	}
}

func TestUserCFStateRoundTrip(t *testing.T) {
	for _, m := range []*UserCF{seedCF(t), stUserCF(t, 1, 300, 40, 6), stUserCF(t, 2, 50, 500, 30)} {
		var got UserCF
		b := roundTrip(t, m, &got)
		// The scratch buffers are no part of the model.
		g, w := got, *m
		g.scratch, w.scratch = nil, nil
		if !reflect.DeepEqual(g, w) {
			t.Fatal("decoded model's fields differ from NewUserCF's")
		}
		for u := 0; u < m.Users; u++ {
			if !sameBits(got.Similarities(u), m.Similarities(u)) {
				t.Fatalf("user %d: similarities differ", u)
			}
			for _, k := range []int{1, 3, 20} {
				if !reflect.DeepEqual(got.Neighbors(u, k), m.Neighbors(u, k)) {
					t.Fatalf("user %d: neighbours differ", u)
				}
				r1, err1 := got.Recommend(u, 10, k)
				r2, err2 := m.Recommend(u, 10, k)
				if err1 != nil || err2 != nil || !reflect.DeepEqual(r1, r2) {
					t.Fatalf("user %d: recommendations differ", u)
				}
			}
		}
		if m.Users <= 3 {
			stPrefixes(t, b, func(b []byte) error { var m UserCF; return m.UnmarshalBinary(b) })
		}
	}
}

func TestNMFStateRoundTrip(t *testing.T) {
	us, is, vs := stRatings(3, 60, 25, 6)
	m, err := NMF(context.Background(), us, is, vs, 60, 25, NMFOptions{K: 4, MaxIter: 50})
	if err != nil {
		t.Fatal(err)
	}
	var got NMFModel
	b := roundTrip(t, m, &got)
	if !reflect.DeepEqual(&got, m) {
		t.Fatal("decoded NMF model differs")
	}
	for u := 0; u < m.Rows; u++ {
		r1, _ := got.Recommend(u, nil, 5)
		r2, _ := m.Recommend(u, nil, 5)
		if !reflect.DeepEqual(r1, r2) {
			t.Fatalf("row %d: recommendations differ", u)
		}
	}
	small := &NMFModel{Rows: 2, Cols: 3, K: 1, W: []float64{1, 2}, H: []float64{3, 4, 5}, NIter: 7, ReconstructionErr: 0.5}
	b = roundTrip(t, small, &got)
	stPrefixes(t, b, func(b []byte) error { var m NMFModel; return m.UnmarshalBinary(b) })
	for _, bad := range []*NMFModel{
		{Rows: 2, Cols: 3, K: 1, W: []float64{1}, H: []float64{3, 4, 5}},
		{Rows: 1, Cols: 1, K: 1, W: []float64{math.NaN()}, H: []float64{1}},
		{Rows: 0, Cols: 1, K: 1, H: []float64{1}},
	} {
		b, _ := bad.MarshalBinary()
		if err := got.UnmarshalBinary(b); !errors.Is(err, ErrStateCorrupt) {
			t.Errorf("%+v: got %v", bad, err)
		}
	}
}

// stBlobs draws rows around a few centres; integer features make exact
// ties between centres likely.
func stBlobs(seed uint64, n, d int, integer bool) []float64 {
	rng := rand.New(rand.NewPCG(seed, 2))
	x := make([]float64, n*d)
	for i := 0; i < n; i++ {
		c := float64(rng.IntN(4)) * 10
		for j := 0; j < d; j++ {
			v := c + rng.NormFloat64()*3 + float64(j)
			if integer {
				v = math.Round(v)
			}
			x[i*d+j] = v
		}
	}
	return x
}

func TestKMeansModelAssignReproducesFit(t *testing.T) {
	for _, c := range []struct {
		n, d, k int
		integer bool
		scale   string
		algo    string
	}{
		{500, 3, 4, true, ScaleNone, KMeansLloyd},
		{500, 3, 4, true, ScaleStandard, KMeansLloyd},
		{500, 2, 5, true, ScaleMinMax, KMeansLloyd},
		{3000, 4, 12, false, ScaleStandard, KMeansElkan},
		{3000, 2, 12, true, ScaleMinMax, KMeansAuto},
		{5000, 5, 3, false, ScaleMinMax, KMeansLloyd},
	} {
		x := stBlobs(uint64(c.n+c.k), c.n, c.d, c.integer)
		orig := slices.Clone(x)
		res, err := KMeans(context.Background(), x, c.d, KMeansOptions{K: c.k, Scale: c.scale, Algorithm: c.algo, NInit: 3})
		if err != nil {
			t.Fatal(err)
		}
		var m KMeansModel
		roundTrip(t, res.Model(), &m)
		if !reflect.DeepEqual(&m, res.Model()) {
			t.Fatal("decoded k-means model differs")
		}
		labels, dist, err := m.Assign(orig, c.n)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(labels, res.Labels) {
			t.Errorf("%+v: labels differ from the fit's", c)
		}
		if !sameBits(dist, res.Distances) {
			t.Errorf("%+v: distances differ from the fit's", c)
		}
		ss := 0.0
		for _, v := range dist {
			ss += v * v
		}
		if math.Abs(ss-m.Inertia) > 1e-9*m.Inertia {
			t.Errorf("%+v: inertia %v, distances give %v", c, m.Inertia, ss)
		}
	}
}

func TestKMeansModelState(t *testing.T) {
	m := &KMeansModel{K: 2, D: 2, Centers: []float64{0, 0, 1, 1}, Order: []int{1, 0},
		Scaler: Scaler{Kind: ScaleStandard, Offset: []float64{1, 2}, Factor: []float64{2, 4}}, Inertia: 3}
	var got KMeansModel
	b := roundTrip(t, m, &got)
	stPrefixes(t, b, func(b []byte) error { var m KMeansModel; return m.UnmarshalBinary(b) })
	if _, _, err := got.Assign([]float64{1, 2, 3}, 2); err == nil {
		t.Error("Assign accepted 3 values for 2 rows of 2")
	}
	if _, _, err := got.Assign([]float64{1, math.NaN()}, 1); err == nil {
		t.Error("Assign accepted NaN")
	}
	for _, bad := range []*KMeansModel{
		{K: 2, D: 2, Centers: []float64{0, 0, 1}},
		{K: 2, D: 1, Centers: []float64{0, 1}, Order: []int{0, 0}},
		{K: 1, D: 1, Centers: []float64{0}, Scaler: Scaler{Kind: ScaleMinMax, Offset: []float64{0}, Factor: []float64{0}}},
		{K: 1, D: 1, Centers: []float64{0}, Scaler: Scaler{Kind: "log"}},
		{K: 1, D: 2, Centers: []float64{0, 1}, Scaler: Scaler{Kind: ScaleStandard, Offset: []float64{0}, Factor: []float64{1}}},
	} {
		b, _ := bad.MarshalBinary()
		if err := got.UnmarshalBinary(b); !errors.Is(err, ErrStateCorrupt) {
			t.Errorf("%+v: got %v", bad, err)
		}
	}
}

// stBenchCF is a 50k users × 200 items model with exactly 871k ratings
// (17 or 18 distinct items per user, values 1..5).
func stBenchCF(b *testing.B) *UserCF {
	const users, items, total = 50000, 200, 871000
	rng := rand.New(rand.NewPCG(7, 5))
	perm := make([]int, items)
	for i := range perm {
		perm[i] = i
	}
	us, is, vs := make([]int, 0, total), make([]int, 0, total), make([]float64, 0, total)
	for u := 0; u < users; u++ {
		k := total / users
		if u < total%users {
			k++
		}
		for j := 0; j < k; j++ { // partial Fisher-Yates: k distinct items
			r := j + rng.IntN(items-j)
			perm[j], perm[r] = perm[r], perm[j]
			us, is, vs = append(us, u), append(is, perm[j]), append(vs, float64(1+rng.IntN(5)))
		}
	}
	m, err := NewUserCF(us, is, vs, users, items)
	if err != nil {
		b.Fatal(err)
	}
	return m
}

// BenchmarkUserCFDecode decodes a 50k users × 200 items × 871k ratings
// model.
func BenchmarkUserCFDecode(b *testing.B) {
	m := stBenchCF(b)
	blob, err := m.MarshalBinary()
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		var got UserCF
		if err := got.UnmarshalBinary(blob); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(m.userVals)), "ratings")
	b.ReportMetric(float64(len(blob)), "blob-bytes")
}

func BenchmarkUserCFEncode(b *testing.B) {
	m := stBenchCF(b)
	for b.Loop() {
		if _, err := m.MarshalBinary(); err != nil {
			b.Fatal(err)
		}
	}
}

// TestKMeansModelTies fits small integer data, where rows exactly as far
// from two centres are common: Assign must settle them as the fit did,
// which takes the fit's comparison order (Order).
func TestKMeansModelTies(t *testing.T) {
	orderMatters := 0
	for seed := uint64(0); seed < 1500; seed++ {
		rng := rand.New(rand.NewPCG(seed, 9))
		n, d, k := 6+rng.IntN(30), 1+rng.IntN(2), 2+rng.IntN(3)
		x := make([]float64, n*d)
		for i := range x {
			x[i] = float64(rng.IntN(7))
		}
		orig := slices.Clone(x)
		scale := []string{ScaleNone, ScaleStandard, ScaleMinMax}[seed%3]
		res, err := KMeans(context.Background(), x, d, KMeansOptions{K: k, NInit: 2, Seed: seed, Algorithm: KMeansLloyd, Scale: scale})
		if err != nil {
			continue // k above the distinct rows
		}
		m := res.Model()
		labels, dist, err := m.Assign(orig, n)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(labels, res.Labels) || !sameBits(dist, res.Distances) {
			t.Fatalf("seed %d: Assign gives %v %v, the fit %v %v", seed, labels, dist, res.Labels, res.Distances)
		}
		m.Order = nil
		if l, _, _ := m.Assign(orig, n); !slices.Equal(l, res.Labels) {
			orderMatters++
		}
	}
	if orderMatters == 0 {
		t.Error("no fit had a tie that Order settles: the test no longer tests ties")
	}
}
