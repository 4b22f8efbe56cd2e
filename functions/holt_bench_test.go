package functions

import (
	"context"
	"math"
	"testing"
)

// splitMix64 is the generator testdata/reference/bench_holt.py uses, so the
// benchmark fits the same series statsmodels was timed on.
type splitMix64 struct{ state uint64 }

func (r *splitMix64) next() uint64 {
	r.state += 0x9E3779B97F4A7C15
	z := r.state
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
	z = (z ^ (z >> 27)) * 0x94D049BB133111EB
	return z ^ (z >> 31)
}

func (r *splitMix64) uniform() float64 { return float64(r.next()>>11) * 0x1p-53 }

func (r *splitMix64) normal() float64 {
	u1, u2 := r.uniform(), r.uniform()
	return math.Sqrt(-2*math.Log(1-u1)) * math.Cos(2*math.Pi*u2)
}

// benchSeries is series i of bench_holt.py: a level, a slope, a 12-month
// sine and Gaussian noise, 48 points.
func benchSeries(i int) []float64 {
	r := splitMix64{state: 1000003 * uint64(i+1)}
	level := 100 + 50*r.uniform()
	slope := -0.5 + 2*r.uniform()
	amp := 5 + 20*r.uniform()
	phase := 2 * math.Pi * r.uniform()
	sd := 1 + 4*r.uniform()
	y := make([]float64, 48)
	for t := range y {
		y[t] = level + slope*float64(t) + amp*math.Sin(2*math.Pi*float64(t)/12+phase) + sd*r.normal()
	}
	return y
}

var benchModels = []struct {
	name string
	opts HoltOptions
}{
	{"hw_add_12", HoltOptions{Trend: ComponentAdd, Seasonal: ComponentAdd, Period: 12}},
	{"holt_linear", HoltOptions{Trend: ComponentAdd}},
}

// BenchmarkHolt500x48 fits 500 monthly series of 48 points and forecasts
// 12 steps, as testdata/reference/bench_holt.py times statsmodels doing.
func BenchmarkHolt500x48(b *testing.B) {
	series := make([][]float64, 500)
	for i := range series {
		series[i] = benchSeries(i)
	}
	for _, bm := range benchModels {
		b.Run(bm.name, func(b *testing.B) {
			for b.Loop() {
				models, err := FitHoltMany(context.Background(), series, bm.opts)
				if err != nil {
					b.Fatal(err)
				}
				for _, m := range models {
					m.Forecast(12)
				}
			}
		})
	}
}
