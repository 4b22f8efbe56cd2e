package functions

import "math"

// mtN is the MT19937 state length.
const mtN = 624

// RandomState reproduces numpy's legacy np.random.RandomState(seed): the
// MT19937 generator seeded by init_genrand, its 53-bit doubles
// (random_sample) and the polar-method normals (standard_normal, normal)
// that scikit-learn's random initialisations draw. Matching numpy bit for
// bit is what lets init => 'random', seed => 0 reproduce scikit-learn's
// factorisation exactly.
//
// The zero value is not usable; use NewRandomState. A RandomState is not
// safe for concurrent use.
type RandomState struct {
	mt       [mtN]uint32
	pos      int
	hasGauss bool
	gauss    float64
}

// NewRandomState seeds a generator as np.random.RandomState(seed) does for
// an integer seed (numpy accepts 0 .. 2^32-1, hence uint32).
func NewRandomState(seed uint32) *RandomState {
	r := &RandomState{}
	r.mt[0] = seed
	for i := 1; i < mtN; i++ {
		prev := r.mt[i-1]
		r.mt[i] = 1812433253*(prev^(prev>>30)) + uint32(i)
	}
	r.pos = mtN
	return r
}

// generate refills the state block (the reference genrand_int32 twist).
func (r *RandomState) generate() {
	const (
		m         = 397
		matrixA   = 0x9908b0df
		upperMask = 0x80000000
		lowerMask = 0x7fffffff
	)
	mt := &r.mt
	var y uint32
	i := 0
	for ; i < mtN-m; i++ {
		y = (mt[i] & upperMask) | (mt[i+1] & lowerMask)
		mt[i] = mt[i+m] ^ (y >> 1) ^ (-(y & 1) & matrixA)
	}
	for ; i < mtN-1; i++ {
		y = (mt[i] & upperMask) | (mt[i+1] & lowerMask)
		mt[i] = mt[i+m-mtN] ^ (y >> 1) ^ (-(y & 1) & matrixA)
	}
	y = (mt[mtN-1] & upperMask) | (mt[0] & lowerMask)
	mt[mtN-1] = mt[m-1] ^ (y >> 1) ^ (-(y & 1) & matrixA)
	r.pos = 0
}

// Uint32 returns the next 32-bit output (numpy's random_integers core).
func (r *RandomState) Uint32() uint32 {
	if r.pos >= mtN {
		r.generate()
	}
	y := r.mt[r.pos]
	r.pos++
	y ^= y >> 11
	y ^= (y << 7) & 0x9d2c5680
	y ^= (y << 15) & 0xefc60000
	y ^= y >> 18
	return y
}

// Float64 returns a double in [0, 1) built from two outputs, 27 + 26 bits,
// exactly as numpy's random_sample.
func (r *RandomState) Float64() float64 {
	a := r.Uint32() >> 5
	b := r.Uint32() >> 6
	return (float64(a)*67108864.0 + float64(b)) / 9007199254740992.0
}

// StandardNormal returns numpy's legacy standard normal: Marsaglia's polar
// method, which makes two values per accepted pair and caches the second.
func (r *RandomState) StandardNormal() float64 {
	if r.hasGauss {
		r.hasGauss = false
		g := r.gauss
		r.gauss = 0
		return g
	}
	var x1, x2, r2 float64
	for {
		x1 = 2*r.Float64() - 1
		x2 = 2*r.Float64() - 1
		r2 = x1*x1 + x2*x2
		if r2 < 1 && r2 != 0 {
			break
		}
	}
	f := math.Sqrt(-2 * math.Log(r2) / r2)
	r.gauss = f * x1
	r.hasGauss = true
	return f * x2
}
