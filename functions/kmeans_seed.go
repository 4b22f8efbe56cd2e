package functions

// k-means++ seeding: scikit-learn's greedy _kmeans_plusplus over the
// fixed row blocks.

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
)

func plusPlusTrials(k int) int { return 2 + int(math.Log(float64(k))) }

// uniformOpen draws from the open interval (0, 1), so that a draw scaled by
// the potential can never select a point already at distance 0.
func uniformOpen(rng *rand.Rand) float64 {
	return (float64(rng.Uint64()>>11) + 0.5) * (1.0 / (1 << 53))
}

// plusPlus chooses k initial centres by greedy k-means++ (scikit-learn's
// _kmeans_plusplus): each new centre is the best, by resulting potential,
// of 2+floor(ln k) rows sampled with probability proportional to their
// squared distance to the nearest centre so far.
func (km *kmeans) plusPlus(ctx context.Context, rng *rand.Rand, centers []float64) error {
	n, d, k := km.n, km.d, km.k
	x := km.x
	trials := plusPlusTrials(k)
	closest := km.scratch()
	first := rng.IntN(n)
	copy(centers[:d], x[first*d:first*d+d])

	blockPot := km.blockF[:km.nBlocks]
	c0 := centers[:d]
	km.forBlocks(func(b int) {
		lo, hi := km.span(b)
		s := 0.0
		for i := lo; i < hi; i++ {
			v := sqDist(x[i*d:i*d+d], c0)
			closest[i] = v
			s += v
		}
		blockPot[b] = s
	})
	pot := sumInOrder(blockPot)

	cand := make([]int, trials)
	candPot := make([]float64, km.nBlocks*trials)
	for c := 1; c < k; c++ {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("kmeans: %w", err)
		}
		if pot == 0 {
			// Every row coincides with one of the c centres chosen so far,
			// and those are distinct: the input has exactly c distinct points.
			return inputErr("k", "k = %d exceeds the number of distinct points in the input (%d)", k, c)
		}
		for t := range cand {
			cand[t] = km.sample(closest, blockPot, uniformOpen(rng)*pot)
		}
		km.forBlocks(func(b int) {
			lo, hi := km.span(b)
			part := candPot[b*trials : b*trials+trials]
			for t, ci := range cand {
				cx := x[ci*d : ci*d+d]
				s := 0.0
				for i := lo; i < hi; i++ {
					v := sqDist(x[i*d:i*d+d], cx)
					s += min(v, closest[i])
				}
				part[t] = s
			}
		})
		best, bestPot := 0, math.Inf(1)
		for t := range cand {
			s := 0.0
			for b := 0; b < km.nBlocks; b++ {
				s += candPot[b*trials+t]
			}
			if s < bestPot {
				best, bestPot = t, s
			}
		}
		cx := x[cand[best]*d : cand[best]*d+d]
		km.forBlocks(func(b int) {
			lo, hi := km.span(b)
			s := 0.0
			for i := lo; i < hi; i++ {
				v := min(sqDist(x[i*d:i*d+d], cx), closest[i])
				closest[i] = v
				s += v
			}
			blockPot[b] = s
		})
		pot = sumInOrder(blockPot)
		copy(centers[c*d:c*d+d], cx)
	}
	return nil
}

// scratch returns n float64s of working space for k-means++. Elkan's upper
// bounds are free at that point; Lloyd allocates once per call.
func (km *kmeans) scratch() []float64 {
	if km.upper == nil {
		km.upper = make([]float64, km.n)
	}
	return km.upper
}

// sample returns the first row whose running sum of closest distances
// reaches r (numpy's searchsorted on the cumulative sum), walking block
// totals first. Rows at distance 0 are never returned.
func (km *kmeans) sample(closest, blockPot []float64, r float64) int {
	cum := 0.0
	last := -1
	for b := 0; b < km.nBlocks; b++ {
		if blockPot[b] > 0 {
			last = b
		}
		if cum+blockPot[b] < r {
			cum += blockPot[b]
			continue
		}
		if blockPot[b] == 0 {
			continue
		}
		lo, hi := km.span(b)
		target := r - cum
		s := 0.0
		lastRow := -1
		for i := lo; i < hi; i++ {
			if closest[i] > 0 {
				s += closest[i]
				lastRow = i
				if s >= target {
					return i
				}
			}
		}
		return lastRow // rounding left the target a hair above the block total
	}
	// r exceeded the total by rounding: take the last row with mass.
	lo, hi := km.span(last)
	for i := hi - 1; i >= lo; i-- {
		if closest[i] > 0 {
			return i
		}
	}
	return lo
}
