package demo

import (
	"math"
	"math/bits"
	"math/rand/v2"
)

// Stream kinds: every entity draws from its own PCG stream, seeded from
// (seed, kind, id), so a customer's sales come out the same whichever table
// is being generated and in whatever order, and nothing is kept between rows.
const (
	streamCustomer uint64 = iota + 1
	streamSales
	streamRatings
	streamEvents
	streamProduct
)

// rng is a PCG generator with the few distributions the model needs. The
// distributions are written out here rather than taken from rand.Rand so
// that the data set depends only on PCG's fixed algorithm, not on how a Go
// release implements IntN or NormFloat64.
type rng struct {
	pcg rand.PCG
}

// splitmix64 scrambles seed material so that nearby ids give unrelated
// streams.
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// reset positions r at the start of the stream for (seed, kind, id).
func (r *rng) reset(seed int64, kind uint64, id int64) {
	s := uint64(seed)
	r.pcg.Seed(splitmix64(s^kind<<56), splitmix64(splitmix64(s)+kind<<48+uint64(id)))
}

// float64 is uniform in [0, 1).
func (r *rng) float64() float64 { return float64(r.pcg.Uint64()>>11) * 0x1p-53 }

// intn is uniform in [0, n). Lemire's multiply-shift without the rejection
// step: the bias is below n/2^64, far under anything a test could see.
func (r *rng) intn(n int) int {
	hi, _ := bits.Mul64(r.pcg.Uint64(), uint64(n))
	return int(hi)
}

// between is uniform in [lo, hi].
func (r *rng) between(lo, hi int) int { return lo + r.intn(hi-lo+1) }

func (r *rng) bernoulli(p float64) bool { return r.float64() < p }

// norm is a standard normal draw (Box-Muller, one value per call).
func (r *rng) norm() float64 {
	u := 1 - r.float64() // (0, 1]
	v := r.float64()
	return math.Sqrt(-2*math.Log(u)) * math.Cos(2*math.Pi*v)
}

// poisson draws a Poisson count: Knuth's product method for small means,
// a rounded normal for large ones (the model only needs the right mean and
// spread, not exact tails).
func (r *rng) poisson(mean float64) int {
	if mean <= 0 {
		return 0
	}
	if mean > 30 {
		n := math.Round(mean + math.Sqrt(mean)*r.norm())
		if n < 0 {
			return 0
		}
		return int(n)
	}
	limit := math.Exp(-mean)
	n := 0
	p := r.float64()
	for p > limit {
		n++
		p *= r.float64()
	}
	return n
}

// pick draws an index from cumulative weights cum (cum[len-1] is the total).
func (r *rng) pick(cum []float64) int {
	x := r.float64() * cum[len(cum)-1]
	for i, c := range cum {
		if x < c {
			return i
		}
	}
	return len(cum) - 1
}
