package functions

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// stRegression draws n rows of d features with a noisy linear target.
func stRegression(seed uint64, n, d int) (x, y []float64) {
	rng := rand.New(rand.NewPCG(seed, 3))
	x = make([]float64, n*d)
	y = make([]float64, n)
	for i := 0; i < n; i++ {
		s := 0.5
		for j := 0; j < d; j++ {
			v := rng.NormFloat64()
			x[i*d+j] = v
			s += float64(j+1) * v
		}
		y[i] = s + 0.1*rng.NormFloat64()
	}
	return x, y
}

func TestSGDStateResume(t *testing.T) {
	ctx := context.Background()
	const n, d, split = 2000, 4, 1237
	x, y := stRegression(5, n, d)
	for _, lr := range []string{LearningRateInvScaling, LearningRateConstant, LearningRateOptimal, LearningRateAdaptive} {
		for _, pen := range []string{PenaltyNone, PenaltyL2, PenaltyL1, PenaltyElasticNet} {
			opt := DefaultSGDOptions()
			opt.LearningRate, opt.Penalty = lr, pen
			if lr == LearningRateOptimal {
				opt.Alpha = 0.01 // the default's first steps diverge, amplifying any rounding
			}
			fresh := func() *SGDRegressor {
				m, err := NewSGDRegressor(d, opt)
				if err != nil {
					t.Fatal(err)
				}
				return m
			}
			onePass, inMemory, stored := fresh(), fresh(), fresh()
			if err := onePass.PartialFit(ctx, x, y); err != nil {
				t.Fatal(err)
			}
			for _, m := range []*SGDRegressor{inMemory, stored} {
				if err := m.PartialFit(ctx, x[:split*d], y[:split]); err != nil {
					t.Fatal(err)
				}
			}
			var resumed SGDRegressor
			roundTrip(t, stored, &resumed)
			if !reflect.DeepEqual(&resumed, stored) {
				t.Fatalf("%s/%s: decoded state differs", lr, pen)
			}
			if err := resumed.PartialFit(ctx, x[split*d:], y[split:]); err != nil {
				t.Fatal(err)
			}
			if err := inMemory.PartialFit(ctx, x[split*d:], y[split:]); err != nil {
				t.Fatal(err)
			}
			// The codec's promise: stopping, storing and resuming is
			// invisible, bit for bit.
			if !reflect.DeepEqual(&resumed, inMemory) {
				t.Errorf("%s/%s: resumed %+v, never stored %+v", lr, pen, resumed, *inMemory)
			}
			// Against one pass over all rows: identical without a
			// penalty; with L2 only the fold of wscale at the end of the
			// first call rounds differently. L1 truncation restarts its
			// cumulative penalty at every call (scikit-learn's
			// partial_fit does the same), so it is not compared.
			var tol float64
			switch pen {
			case PenaltyNone:
				tol = 0
			case PenaltyL2:
				tol = 1e-12
			default:
				continue
			}
			got, want := append(resumed.Coef(), resumed.Intercept, resumed.T), append(onePass.Coef(), onePass.Intercept, onePass.T)
			for j := range got {
				if math.Abs(got[j]-want[j]) > tol*math.Max(1, math.Abs(want[j])) {
					t.Errorf("%s/%s: coefficient %d: split %.17g, one pass %.17g", lr, pen, j, got[j], want[j])
				}
			}
		}
	}
	var m SGDRegressor
	bad := &SGDRegressor{SGDOptions: DefaultSGDOptions(), W: []float64{1}, WScale: 1, T: 0.5}
	b, _ := bad.MarshalBinary()
	if err := m.UnmarshalBinary(b); !errors.Is(err, ErrStateCorrupt) {
		t.Errorf("t < 1 decoded: %v", err)
	}
	good, _ := NewSGDRegressor(2, DefaultSGDOptions())
	b, _ = good.MarshalBinary()
	stPrefixes(t, b, func(b []byte) error { var m SGDRegressor; return m.UnmarshalBinary(b) })
}

func TestHoltStateRoundTrip(t *testing.T) {
	doc := loadHoltRef(t)
	var models []*HoltModel
	for _, c := range doc.Cases {
		m, err := FitHolt(context.Background(), c.Y, c.options(t))
		if err != nil {
			t.Fatal(err)
		}
		models = append(models, m)
	}
	sawSimulated := false
	for i, m := range models {
		var got HoltModel
		roundTrip(t, m, &got)
		if !reflect.DeepEqual(&got, m) {
			t.Fatalf("case %d: decoded model differs", i)
		}
		sawSimulated = sawSimulated || m.Trend == ComponentMul || m.Seasonal == ComponentMul
		const h = 30
		if !sameBits(got.Forecast(h), m.Forecast(h)) {
			t.Fatalf("case %d: forecasts differ", i)
		}
		for _, level := range []float64{0.8, 0.95} {
			l1, u1, err1 := got.Interval(h, level)
			l2, u2, err2 := m.Interval(h, level)
			if err1 != nil || err2 != nil || !sameBits(l1, l2) || !sameBits(u1, u2) {
				t.Fatalf("case %d: intervals differ", i)
			}
		}
	}
	if !sawSimulated {
		t.Error("no reference case has a multiplicative component: simulated intervals untested")
	}
	b, err := MarshalHoltModels(models)
	if err != nil {
		t.Fatal(err)
	}
	many, err := UnmarshalHoltModels(b)
	if err != nil || !reflect.DeepEqual(many, models) {
		t.Fatalf("holt-many round trip: %v", err)
	}
	if none, err := UnmarshalHoltModels(mustHolts(t, nil)); err != nil || len(none) != 0 {
		t.Errorf("no models: %v %v", none, err)
	}
	one, _ := models[len(models)-1].MarshalBinary()
	stPrefixes(t, one, func(b []byte) error { var m HoltModel; return m.UnmarshalBinary(b) })
	stPrefixes(t, mustHolts(t, models[:2]), func(b []byte) error { _, err := UnmarshalHoltModels(b); return err })
	for _, bad := range []*HoltModel{
		{Trend: 3, Phi: 1},
		{Damped: true, Phi: 1},
		{Seasonal: ComponentAdd, Period: 3, Seasons: []float64{1, 2}, InitialSeasons: []float64{1, 2, 3}},
		{Seasonal: ComponentMul, Period: 1, Seasons: []float64{1}, InitialSeasons: []float64{1}},
		{Period: 2},
	} {
		b, _ := bad.MarshalBinary()
		var m HoltModel
		if err := m.UnmarshalBinary(b); !errors.Is(err, ErrStateCorrupt) {
			t.Errorf("%+v: got %v", bad, err)
		}
	}
}

func mustHolts(t *testing.T, ms []*HoltModel) []byte {
	t.Helper()
	b, err := MarshalHoltModels(ms)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// stCorpus draws documents from a small vocabulary, some of them empty
// or made of stop words only.
func stCorpus(seed uint64, n int) []string {
	rng := rand.New(rand.NewPCG(seed, 4))
	words := strings.Fields("red green blue laptop phone tablet cheap fast slow light heavy pro max mini ultra case cover cable charger screen the and of")
	docs := make([]string, n)
	for i := range docs {
		var b strings.Builder
		for w := rng.IntN(8); w > 0; w-- {
			b.WriteString(words[rng.IntN(len(words))])
			b.WriteByte(' ')
		}
		docs[i] = b.String()
	}
	return docs
}

func TestTfidfStateRoundTrip(t *testing.T) {
	ctx := context.Background()
	for _, docs := range [][]string{seedProducts, stCorpus(1, 500), {"", "the of"}} {
		x, err := Tfidf(ctx, docs, TfidfOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var got TfidfIndex
		b := roundTrip(t, x, &got)
		if !slices.Equal(got.Vocabulary, x.Vocabulary) || !sameBits(got.IDF, x.IDF) || !slices.Equal(got.DocPtr, x.DocPtr) ||
			!slices.Equal(got.DocTerms, x.DocTerms) || !sameBits(got.DocWeights, x.DocWeights) ||
			!slices.Equal(got.postPtr, x.postPtr) || !slices.Equal(got.postDocs, x.postDocs) || !sameBits(got.postWeights, x.postWeights) {
			t.Fatal("decoded index differs")
		}
		for _, n := range []int{1, 3, 50} {
			a1, err1 := got.AllTopN(ctx, n)
			a2, err2 := x.AllTopN(ctx, n)
			if err1 != nil || err2 != nil || !reflect.DeepEqual(a1, a2) {
				t.Fatalf("AllTopN(%d) differs", n)
			}
			for d := 0; d < x.Len(); d += 7 {
				r1, _ := got.TopN(d, n)
				r2, _ := x.TopN(d, n)
				if !reflect.DeepEqual(r1, r2) {
					t.Fatalf("TopN(%d, %d) differs", d, n)
				}
			}
		}
		if len(docs) <= 4 {
			stPrefixes(t, b, func(b []byte) error { var x TfidfIndex; return x.UnmarshalBinary(b) })
		}
	}
	for _, bad := range []*TfidfIndex{
		{Vocabulary: []string{"a"}, IDF: []float64{1, 2}, DocPtr: []int{0, 1}, DocTerms: []int32{0}, DocWeights: []float64{1}},
		{Vocabulary: []string{"a"}, IDF: []float64{1}, DocPtr: []int{0, 1}, DocTerms: []int32{0}, DocWeights: []float64{math.Inf(1)}},
		{Vocabulary: []string{"a", "b"}, IDF: []float64{1, 1}, DocPtr: []int{0, 2}, DocTerms: []int32{1, 2}, DocWeights: []float64{1, 1}},
		{DocPtr: []int{0}},
	} {
		b, _ := bad.MarshalBinary()
		var x TfidfIndex
		if err := x.UnmarshalBinary(b); !errors.Is(err, ErrStateCorrupt) {
			t.Errorf("%+v: got %v", bad, err)
		}
	}
}
