package functions

import (
	"context"
	"math"
	"math/rand"
	"testing"
)

// TestHoltAdvanceEqualsOnePass checks that a model fitted on a prefix and
// advanced through the rest has the state of the same parameters run over
// the whole series, for every model form.
func TestHoltAdvanceEqualsOnePass(t *testing.T) {
	r := rand.New(rand.NewSource(7))
	y := make([]float64, 60)
	for i := range y {
		y[i] = 50 + 0.8*float64(i) + 6*math.Sin(2*math.Pi*float64(i)/4) + r.NormFloat64()
	}
	for _, o := range []HoltOptions{
		{},
		{Trend: ComponentAdd},
		{Trend: ComponentAdd, Damped: true},
		{Trend: ComponentAdd, Seasonal: ComponentAdd, Period: 4},
		{Trend: ComponentMul, Seasonal: ComponentMul, Period: 4},
	} {
		full, err := FitHolt(context.Background(), y, o)
		if err != nil {
			t.Fatal(err)
		}
		sp := hwSpec{trend: full.Trend, season: full.Seasonal, damped: full.Damped, m: full.Period}
		p := hwParams{alpha: full.Alpha, beta: full.Beta, gamma: full.Gamma, phi: full.Phi,
			l0: full.InitialLevel, b0: full.InitialTrend, s0: full.InitialSeasons}
		for _, cut := range []int{10, 41, 59} {
			head := newHoltModel(y[:cut], sp, p)
			before := *head
			got, err := head.Advance(y[cut:])
			if err != nil {
				t.Fatal(err)
			}
			if head.Level != before.Level || head.N != before.N {
				t.Fatalf("%+v: Advance changed its receiver", o)
			}
			if got.Level != full.Level || got.Slope != full.Slope || got.N != full.N {
				t.Fatalf("%+v cut %d: level %v slope %v n %d, one pass %v %v %d", o, cut, got.Level, got.Slope, got.N, full.Level, full.Slope, full.N)
			}
			for j := range full.Seasons {
				if got.Seasons[j] != full.Seasons[j] {
					t.Fatalf("%+v cut %d: season %d = %v, one pass %v", o, cut, j, got.Seasons[j], full.Seasons[j])
				}
			}
			if math.Abs(got.SSE-full.SSE) > 1e-12*full.SSE || math.Abs(got.AIC-full.AIC) > 1e-9*math.Abs(full.AIC) {
				t.Fatalf("%+v cut %d: sse %v aic %v, one pass %v %v", o, cut, got.SSE, got.AIC, full.SSE, full.AIC)
			}
		}
	}
	m, _ := FitHolt(context.Background(), y, HoltOptions{Trend: ComponentMul})
	if _, err := m.Advance([]float64{3, -1}); err == nil {
		t.Fatal("a negative value advanced a multiplicative model")
	} else if ie, ok := AsInputError(err); !ok || ie.Row != 1 {
		t.Fatalf("error %v, want an input error at row 1", err)
	}
	if _, err := m.Advance([]float64{math.NaN()}); err == nil {
		t.Fatal("NaN advanced a model")
	}
}
