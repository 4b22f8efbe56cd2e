package functions

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"sort"
)

// k-means as scikit-learn 1.2's KMeans does it: k-means++ seeding (greedy,
// 2+floor(ln k) local trials, sampling by squared distance), Lloyd or Elkan
// iterations, n_init restarts keeping the lowest inertia, convergence on
// unchanged labels or on a centre shift within tol times the mean feature
// variance, and a final E-step when convergence was not strict.
//
// Differences from scikit-learn, all deliberate:
//   - The random stream is a PCG seeded by Seed, not numpy's MT19937, so the
//     same seed picks different initial centres than scikit-learn would.
//   - Distances are computed as sums of squared differences rather than
//     through the ||x||^2 - 2x.c + ||c||^2 expansion: identical points have
//     distance exactly 0, which is what makes the distinct-point check exact.
//   - k greater than the number of distinct points is an error. scikit-learn
//     only rejects k > rows and otherwise returns fewer distinct clusters
//     with a ConvergenceWarning; a SQL caller would silently get clusters
//     that share a centre, so Flywheel refuses instead.
//   - Work is split into a fixed partition of row blocks that depends only on
//     the number of rows; partial sums are reduced in block order. The result
//     is therefore the same for any number of goroutines.
//
// The result is a function of the rows in the order given: seeding, tie
// breaks (nearest centre, empty-cluster relocation) and cluster numbers
// follow it. Callers that must not depend on an arrival order (SQL
// relations are unordered) pass the rows in a canonical order; the
// catalog sorts them by key.

// Scaling names accepted by KMeansOptions.Scale.
const (
	ScaleNone     = "none"
	ScaleStandard = "standard"
	ScaleMinMax   = "minmax"
)

// Algorithm names accepted by KMeansOptions.Algorithm.
const (
	KMeansAuto  = "auto"
	KMeansLloyd = "lloyd"
	KMeansElkan = "elkan"
)

// KMeansOptions configures KMeans. Zero values take scikit-learn's defaults.
type KMeansOptions struct {
	K       int     // number of clusters, >= 1
	MaxIter int     // iterations per run; 0 means 300
	NInit   int     // restarts; 0 means 10
	Tol     float64 // relative tolerance; 0 means 1e-4
	Seed    uint64
	// Scale is applied to the features before clustering: "none" (or ""),
	// "standard" (StandardScaler: mean 0, population std 1) or "minmax"
	// (MinMaxScaler to [0, 1]). Constant features are left unscaled, as
	// scikit-learn does.
	Scale string
	// Algorithm is "lloyd", "elkan" or "auto" (or ""): auto uses Elkan for
	// k >= 10 when its n*k bounds fit the memory allowance (see
	// kmElkanMinK), else Lloyd. Both reach the same partition; they differ
	// in speed and memory only.
	Algorithm string
	// Workers caps the goroutines used; 0 means GOMAXPROCS. Results do not
	// depend on it.
	Workers int
}

// Scaler is the per-feature affine map applied before clustering:
// scaled = (x - Offset) / Factor. It is the identity for "none".
type Scaler struct {
	Kind   string    `json:"kind"`
	Offset []float64 `json:"offset,omitempty"`
	Factor []float64 `json:"factor,omitempty"`
}

// KMeansResult is a fitted clustering. Cluster numbers follow the order in
// which clusters first appear in the rows as given (in key order, as the
// catalog gives them: the cluster of the smallest key is 0).
type KMeansResult struct {
	K        int `json:"k"`
	Features int `json:"features"`
	// Labels and Distances have one entry per input row. Distances are
	// Euclidean, measured in the space the clustering ran in (after
	// scaling), so that Inertia is the sum of their squares; this is what
	// scikit-learn's Pipeline(scaler, KMeans).transform reports.
	Labels    []int     `json:"-"`
	Distances []float64 `json:"-"`
	// Centers is K x Features, row-major, in the input's own units.
	Centers []float64 `json:"centers"`
	Sizes   []int     `json:"sizes"`
	Inertia float64   `json:"inertia"`
	NIter   int       `json:"n_iter"` // iterations of the winning run
	Scaler  Scaler    `json:"scaler"`
}

const (
	kmMinBlockRows = 2048
	kmMaxBlocks    = 64
	// Below this many distance terms per pass (n*d*k) goroutines cost more
	// than they save.
	kmParallelMin = 1 << 16
	// Auto mode picks Elkan from this many clusters on, if its n*k lower
	// bounds fit in what remains of one input's size after Lloyd's own
	// per-row buffers (so the run stays within twice the input), or in
	// kmElkanMinAllowance for inputs too small for that to matter.
	kmElkanMinK         = 10
	kmLloydBytesPerRow  = 32 // scratch 8, labels 4+4, output labels 8 and distances 8
	kmElkanMinAllowance = 64 << 20
	// Squared distances, and sums of them over every row, must stay
	// finite: beyond this magnitude they could overflow to +Inf and the
	// result would be meaningless, so such input is refused.
	kmMaxAbs = 1e100
)

// kmeans holds one KMeans call's data and scratch space, reused by every
// restart.
type kmeans struct {
	x       []float64
	n, d, k int
	workers int
	// fixed block partition
	blockRows, nBlocks int

	maxIter int
	tol     float64
	elkan   bool

	blockSums   []float64 // nBlocks*k*d
	blockCounts []int     // nBlocks*k
	blockF      []float64 // nBlocks*max(k, trials) scalars
	blockChg    []bool
	sums        []float64 // k*d
	counts      []int
	shift       []float64 // k

	// Elkan bounds
	upper, lower []float64
	halfDist     []float64 // k*k
	nextDist     []float64 // k
}

// KMeans clusters n rows of d features given as a flat row-major slice x
// (len(x) = n*d). When opt.Scale is not "none", x is scaled in place to
// avoid a second copy of a possibly large input; pass a copy if x is needed
// afterwards.
func KMeans(ctx context.Context, x []float64, d int, opt KMeansOptions) (*KMeansResult, error) {
	if d < 1 {
		return nil, inputErr("input", "needs at least one feature column")
	}
	if len(x) == 0 {
		return nil, inputErr("input", "is empty")
	}
	if len(x)%d != 0 {
		return nil, inputErr("input", "has %d values, not a multiple of %d features", len(x), d)
	}
	n := len(x) / d
	if opt.K < 1 {
		return nil, inputErr("k", "must be at least 1, got %d", opt.K)
	}
	if opt.K > n {
		return nil, inputErr("k", "k = %d exceeds the number of rows (%d)", opt.K, n)
	}
	if opt.MaxIter == 0 {
		opt.MaxIter = 300
	}
	if opt.MaxIter < 1 {
		return nil, inputErr("max_iter", "must be at least 1, got %d", opt.MaxIter)
	}
	if opt.NInit == 0 {
		opt.NInit = 10
	}
	if opt.NInit < 1 {
		return nil, inputErr("n_init", "must be at least 1, got %d", opt.NInit)
	}
	if opt.Tol == 0 {
		opt.Tol = 1e-4
	}
	if opt.Tol < 0 || math.IsNaN(opt.Tol) || math.IsInf(opt.Tol, 0) {
		return nil, inputErr("tol", "must be a finite number >= 0, got %v", opt.Tol)
	}
	switch opt.Scale {
	case "":
		opt.Scale = ScaleNone
	case ScaleNone, ScaleStandard, ScaleMinMax:
	default:
		return nil, inputErr("scale", "must be 'none', 'standard' or 'minmax', got %q", opt.Scale)
	}
	switch opt.Algorithm {
	case "", KMeansAuto, KMeansLloyd, KMeansElkan:
	default:
		return nil, inputErr("algorithm", "must be 'auto', 'lloyd' or 'elkan', got %q", opt.Algorithm)
	}
	for i, v := range x {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, rowErr("input", i/d, "feature %d is %v; values must be finite", i%d+1, v)
		}
		if math.Abs(v) > kmMaxAbs {
			return nil, rowErr("input", i/d, "feature %d is %v; k-means squares distances, so values must be within ±%g", i%d+1, v, kmMaxAbs)
		}
	}

	scaler := fitScaler(x, n, d, opt.Scale)
	scaler.transform(x)

	km := newKMeans(x, n, d, opt)
	km.tol = meanVariance(x, n, d) * opt.Tol

	rng := rand.New(rand.NewPCG(opt.Seed, 0x853c49e6748fea9b))
	centers := make([]float64, km.k*d)
	labels := make([]int32, n)
	var (
		bestCenters []float64
		bestLabels  []int32
		bestInertia float64
		bestIter    int
	)
	for run := 0; run < opt.NInit; run++ {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("kmeans: %w", err)
		}
		if err := km.plusPlus(ctx, rng, centers); err != nil {
			return nil, err
		}
		inertia, iters, err := km.run(ctx, centers, labels)
		if err != nil {
			return nil, err
		}
		if bestLabels == nil || (inertia < bestInertia && !sameClustering(labels, bestLabels, km.k)) {
			if bestLabels == nil {
				bestLabels = make([]int32, n)
				bestCenters = make([]float64, km.k*d)
			}
			copy(bestLabels, labels)
			copy(bestCenters, centers)
			bestInertia, bestIter = inertia, iters
		}
	}

	res := &KMeansResult{K: km.k, Features: d, Inertia: bestInertia, NIter: bestIter, Scaler: scaler}
	km.finish(res, bestLabels, bestCenters)
	return res, nil
}

func newKMeans(x []float64, n, d int, opt KMeansOptions) *kmeans {
	km := &kmeans{x: x, n: n, d: d, k: opt.K, maxIter: opt.MaxIter}
	km.workers = opt.Workers
	if km.workers <= 0 {
		km.workers = runtime.GOMAXPROCS(0)
	}
	if n*d*km.k < kmParallelMin {
		km.workers = 1
	}
	km.blockRows = max(kmMinBlockRows, (n+kmMaxBlocks-1)/kmMaxBlocks)
	km.nBlocks = (n + km.blockRows - 1) / km.blockRows
	switch opt.Algorithm {
	case KMeansElkan:
		km.elkan = km.k > 1
	case KMeansLloyd:
	default:
		// Elkan's pruning pays for its bound upkeep only with many
		// clusters (measured: slower than Lloyd at k = 6, faster from
		// k = 10), and its n*k bounds must fit the memory allowance.
		bounds := float64(n) * float64(km.k) * 8
		allowance := max(float64(n)*float64(d)*8-kmLloydBytesPerRow*float64(n), kmElkanMinAllowance)
		km.elkan = km.k >= kmElkanMinK && bounds <= allowance
	}
	k := km.k
	km.blockSums = make([]float64, km.nBlocks*k*d)
	km.blockCounts = make([]int, km.nBlocks*k)
	km.blockF = make([]float64, km.nBlocks)
	km.blockChg = make([]bool, km.nBlocks)
	km.sums = make([]float64, k*d)
	km.counts = make([]int, k)
	km.shift = make([]float64, k)
	if km.elkan {
		km.upper = make([]float64, n)
		km.lower = make([]float64, n*k)
		km.halfDist = make([]float64, k*k)
		km.nextDist = make([]float64, k)
	}
	return km
}

// span is block b's row range.
func (km *kmeans) span(b int) (lo, hi int) {
	lo = b * km.blockRows
	return lo, min(lo+km.blockRows, km.n)
}

// forBlocks runs fn once per block, on up to km.workers goroutines. Each
// block writes only its own slots, so the order blocks run in is invisible.
func (km *kmeans) forBlocks(fn func(b int)) {
	parallelFor(km.nBlocks, km.workers, fn)
}

// sqDist is the squared Euclidean distance between two d-vectors.
func sqDist(a, b []float64) float64 {
	b = b[:len(a)]
	var s0, s1 float64
	j := 0
	for ; j+1 < len(a); j += 2 {
		u := a[j] - b[j]
		v := a[j+1] - b[j+1]
		s0 += u * u
		s1 += v * v
	}
	if j < len(a) {
		u := a[j] - b[j]
		s0 += u * u
	}
	return s0 + s1
}

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

func sumInOrder(v []float64) float64 {
	s := 0.0
	for _, f := range v {
		s += f
	}
	return s
}

// run performs one k-means run from the given initial centres, leaving the
// final centres in centers and labels in labels, and returns the inertia
// and the number of iterations.
func (km *kmeans) run(ctx context.Context, centers []float64, labels []int32) (float64, int, error) {
	for i := range labels {
		labels[i] = -1
	}
	if km.elkan {
		km.centerDistances(centers)
		km.elkanInit(centers, labels)
	}
	newCenters := make([]float64, len(centers))
	strict := false
	iter := 0
	for iter = 0; iter < km.maxIter; iter++ {
		if err := ctx.Err(); err != nil {
			return 0, 0, fmt.Errorf("kmeans: %w", err)
		}
		var changed bool
		if km.elkan {
			changed = km.elkanStep(centers, labels, true)
		} else {
			changed = km.lloydStep(centers, labels, true)
		}
		// scikit-learn compares against labels of -1 on the first
		// iteration, so that one never counts as strict convergence.
		changed = changed || iter == 0
		km.mStep(centers, newCenters, labels)
		if km.elkan {
			km.elkanShiftBounds(labels)
			km.centerDistances(newCenters)
		}
		copy(centers, newCenters)
		if !changed {
			strict = true
			break
		}
		tot := 0.0
		for _, s := range km.shift {
			tot += s * s
		}
		if tot <= km.tol {
			break
		}
	}
	iters := min(iter+1, km.maxIter)
	if !strict {
		// Re-run the E-step so that labels match the final centres.
		if km.elkan {
			km.elkanStep(centers, labels, false)
		} else {
			km.lloydStep(centers, labels, false)
		}
	}
	return km.inertia(centers, labels), iters, nil
}

// lloydStep assigns every row to its nearest centre and, when accumulate is
// set, sums rows per cluster into the block buffers. It reports whether any
// label changed.
func (km *kmeans) lloydStep(centers []float64, labels []int32, accumulate bool) bool {
	d, k, x := km.d, km.k, km.x
	return km.eStep(accumulate, func(blk eBlock, lo, hi int) bool {
		changed := false
		for i := lo; i < hi; i++ {
			row := x[i*d : i*d+d : i*d+d]
			best, bestD := int32(0), math.Inf(1)
			for c := 0; c < k; c++ {
				cen := centers[c*d : c*d+d : c*d+d]
				var s0, s1 float64
				j := 0
				for ; j+1 < len(row); j += 2 {
					u := row[j] - cen[j]
					v := row[j+1] - cen[j+1]
					s0 += u * u
					s1 += v * v
				}
				if j < len(row) {
					u := row[j] - cen[j]
					s0 += u * u
				}
				if s := s0 + s1; s < bestD {
					best, bestD = int32(c), s
				}
			}
			if blk.assign(labels, i, best, row) {
				changed = true
			}
		}
		return changed
	})
}

// eBlock is one block's share of an E-step's M-step accumulators.
type eBlock struct {
	d          int
	accumulate bool
	sums       []float64 // k×d: the block's row sums per cluster
	counts     []int     // k: the block's rows per cluster
}

// assign gives row i (its values row) label c, adding the row to c's sums
// when the step accumulates. It reports whether the label changed.
func (e eBlock) assign(labels []int32, i int, c int32, row []float64) bool {
	if e.accumulate {
		acc := e.sums[int(c)*e.d : int(c)*e.d+e.d : int(c)*e.d+e.d]
		for j, v := range row {
			acc[j] += v
		}
		e.counts[c]++
	}
	if labels[i] == c {
		return false
	}
	labels[i] = c
	return true
}

// eStep runs one E-step, assignRows labelling rows [lo, hi) of each block
// through blk.assign and reporting whether any label changed; so does
// eStep. With accumulate, the block sums start from zero and end holding
// every block's per-cluster sums in row order.
func (km *kmeans) eStep(accumulate bool, assignRows func(blk eBlock, lo, hi int) bool) bool {
	d, k := km.d, km.k
	if accumulate {
		clear(km.blockSums)
		clear(km.blockCounts)
	}
	km.forBlocks(func(b int) {
		lo, hi := km.span(b)
		blk := eBlock{d: d, accumulate: accumulate, sums: km.blockSums[b*k*d : (b+1)*k*d], counts: km.blockCounts[b*k : (b+1)*k]}
		km.blockChg[b] = assignRows(blk, lo, hi)
	})
	return slices.Contains(km.blockChg, true)
}

// mStep reduces the block sums in block order, relocates empty clusters as
// scikit-learn does (onto the rows farthest from their centres), averages,
// and records each centre's shift.
func (km *kmeans) mStep(old, next []float64, labels []int32) {
	d, k := km.d, km.k
	clear(km.sums)
	clear(km.counts)
	for b := 0; b < km.nBlocks; b++ {
		bs := km.blockSums[b*k*d : (b+1)*k*d]
		for j, v := range bs {
			km.sums[j] += v
		}
		for c, v := range km.blockCounts[b*k : (b+1)*k] {
			km.counts[c] += v
		}
	}
	km.relocateEmpty(old, labels)
	for c := 0; c < k; c++ {
		nc := next[c*d : c*d+d]
		if km.counts[c] > 0 {
			alpha := 1.0 / float64(km.counts[c])
			for j := range nc {
				nc[j] = km.sums[c*d+j] * alpha
			}
		} else {
			copy(nc, old[c*d:c*d+d])
		}
		km.shift[c] = math.Sqrt(sqDist(nc, old[c*d:c*d+d]))
	}
}

func (km *kmeans) relocateEmpty(old []float64, labels []int32) {
	d, k, x := km.d, km.k, km.x
	var empty []int
	for c := 0; c < k; c++ {
		if km.counts[c] == 0 {
			empty = append(empty, c)
		}
	}
	if len(empty) == 0 {
		return
	}
	// The len(empty) rows farthest from their centres, farthest first.
	type far struct {
		i    int
		dist float64
	}
	top := make([]far, 0, len(empty)+1)
	for i := 0; i < km.n; i++ {
		l := int(labels[i])
		v := sqDist(x[i*d:i*d+d], old[l*d:l*d+d])
		if len(top) == len(empty) && v <= top[len(top)-1].dist {
			continue
		}
		pos := sort.Search(len(top), func(p int) bool { return top[p].dist < v })
		top = slices.Insert(top, pos, far{i, v})
		if len(top) > len(empty) {
			top = top[:len(empty)]
		}
	}
	if len(top) == 0 || top[0].dist == 0 {
		return // every row sits on its centre: nothing to move
	}
	for e, c := range empty {
		if e >= len(top) || top[e].dist == 0 {
			break
		}
		i := top[e].i
		from := int(labels[i])
		row := x[i*d : i*d+d]
		for j, v := range row {
			km.sums[from*d+j] -= v
			km.sums[c*d+j] = v
		}
		km.counts[from]--
		km.counts[c] = 1
	}
}

// inertia is the sum of squared distances of rows to their centres.
func (km *kmeans) inertia(centers []float64, labels []int32) float64 {
	d, x := km.d, km.x
	part := km.blockF[:km.nBlocks]
	km.forBlocks(func(b int) {
		lo, hi := km.span(b)
		s := 0.0
		for i := lo; i < hi; i++ {
			l := int(labels[i])
			s += sqDist(x[i*d:i*d+d], centers[l*d:l*d+d])
		}
		part[b] = s
	})
	return sumInOrder(part)
}

// centerDistances fills Elkan's half distances between centres and each
// centre's half distance to its nearest other centre.
func (km *kmeans) centerDistances(centers []float64) {
	d, k := km.d, km.k
	for a := 0; a < k; a++ {
		km.halfDist[a*k+a] = 0
		for b := a + 1; b < k; b++ {
			h := math.Sqrt(sqDist(centers[a*d:a*d+d], centers[b*d:b*d+d])) / 2
			km.halfDist[a*k+b] = h
			km.halfDist[b*k+a] = h
		}
	}
	for a := 0; a < k; a++ {
		m := math.Inf(1)
		for b := 0; b < k; b++ {
			if b != a && km.halfDist[a*k+b] < m {
				m = km.halfDist[a*k+b]
			}
		}
		km.nextDist[a] = m
	}
}

// elkanInit sets the first labels and bounds (scikit-learn's
// init_bounds_dense).
func (km *kmeans) elkanInit(centers []float64, labels []int32) {
	d, k, x := km.d, km.k, km.x
	km.forBlocks(func(b int) {
		lo, hi := km.span(b)
		clear(km.lower[lo*k : hi*k])
		for i := lo; i < hi; i++ {
			row := x[i*d : i*d+d]
			lb := km.lower[i*k : i*k+k]
			best := 0
			m := math.Sqrt(sqDist(row, centers[:d]))
			lb[0] = m
			for j := 1; j < k; j++ {
				if m > km.halfDist[best*k+j] {
					v := math.Sqrt(sqDist(row, centers[j*d:j*d+d]))
					lb[j] = v
					if v < m {
						m, best = v, j
					}
				}
			}
			labels[i] = int32(best)
			km.upper[i] = m
		}
	})
}

// elkanStep is one Elkan E-step (plus accumulation for the M-step): rows
// whose upper bound proves their centre is still nearest are skipped.
func (km *kmeans) elkanStep(centers []float64, labels []int32, accumulate bool) bool {
	d, k, x := km.d, km.k, km.x
	return km.eStep(accumulate, func(blk eBlock, lo, hi int) bool {
		changed := false
		for i := lo; i < hi; i++ {
			row := x[i*d : i*d+d]
			lb := km.lower[i*k : i*k+k]
			ub := km.upper[i]
			lab := int(labels[i])
			if !(km.nextDist[lab] >= ub) {
				tight := false
				for j := 0; j < k; j++ {
					if j == lab || ub <= lb[j] || ub <= km.halfDist[lab*k+j] {
						continue
					}
					if !tight {
						ub = math.Sqrt(sqDist(row, centers[lab*d:lab*d+d]))
						lb[lab] = ub
						tight = true
						if ub <= lb[j] || ub <= km.halfDist[lab*k+j] {
							continue
						}
					}
					v := math.Sqrt(sqDist(row, centers[j*d:j*d+d]))
					lb[j] = v
					if v < ub {
						lab, ub = j, v
					}
				}
				km.upper[i] = ub
			}
			if blk.assign(labels, i, int32(lab), row) {
				changed = true
			}
		}
		return changed
	})
}

// elkanShiftBounds loosens the bounds by how far each centre moved.
func (km *kmeans) elkanShiftBounds(labels []int32) {
	k := km.k
	km.forBlocks(func(b int) {
		lo, hi := km.span(b)
		for i := lo; i < hi; i++ {
			km.upper[i] += km.shift[labels[i]]
			lb := km.lower[i*k : i*k+k]
			for j, s := range km.shift {
				lb[j] = max(lb[j]-s, 0)
			}
		}
	})
}

// sameClustering reports whether two labelings are equal up to a
// renaming of clusters (scikit-learn's _is_same_clustering).
func sameClustering(a, b []int32, k int) bool {
	mapping := make([]int32, k)
	for i := range mapping {
		mapping[i] = -1
	}
	for i, l := range a {
		switch mapping[l] {
		case -1:
			mapping[l] = b[i]
		case b[i]:
		default:
			return false
		}
	}
	return true
}

// finish renumbers clusters by first appearance, computes per-row
// distances and sizes, and maps the centres back to the input's units.
func (km *kmeans) finish(res *KMeansResult, labels []int32, centers []float64) {
	n, d, k, x := km.n, km.d, km.k, km.x
	perm := make([]int, k)
	for i := range perm {
		perm[i] = -1
	}
	next := 0
	for _, l := range labels {
		if perm[l] < 0 {
			perm[l] = next
			next++
			if next == k {
				break
			}
		}
	}
	for c := range perm {
		if perm[c] < 0 {
			perm[c] = next
			next++
		}
	}
	res.Labels = make([]int, n)
	res.Distances = make([]float64, n)
	km.forBlocks(func(b int) {
		lo, hi := km.span(b)
		for i := lo; i < hi; i++ {
			l := int(labels[i])
			res.Labels[i] = perm[l]
			res.Distances[i] = math.Sqrt(sqDist(x[i*d:i*d+d], centers[l*d:l*d+d]))
		}
	})
	res.Sizes = make([]int, k)
	for _, l := range res.Labels {
		res.Sizes[l]++
	}
	res.Centers = make([]float64, k*d)
	for c := 0; c < k; c++ {
		copy(res.Centers[perm[c]*d:perm[c]*d+d], centers[c*d:c*d+d])
	}
	res.Scaler.inverse(res.Centers)
}

// fitScaler computes scikit-learn's StandardScaler or MinMaxScaler
// parameters, expressed as scaled = (x - Offset) / Factor.
func fitScaler(x []float64, n, d int, kind string) Scaler {
	s := Scaler{Kind: kind}
	switch kind {
	case ScaleStandard:
		mean, variance := columnMeanVar(x, n, d)
		s.Offset, s.Factor = mean, make([]float64, d)
		const eps = 0x1p-52
		nf := float64(n)
		for j := range variance {
			// scikit-learn's _is_constant_feature: a variance within
			// rounding of zero means a constant column, left unscaled.
			bound := nf*eps*variance[j] + (nf*mean[j]*eps)*(nf*mean[j]*eps)
			if variance[j] <= bound {
				s.Factor[j] = 1
			} else {
				s.Factor[j] = math.Sqrt(variance[j])
			}
		}
	case ScaleMinMax:
		lo := slices.Clone(x[:d])
		hi := slices.Clone(x[:d])
		for i := 1; i < n; i++ {
			for j, v := range x[i*d : i*d+d] {
				lo[j] = min(lo[j], v)
				hi[j] = max(hi[j], v)
			}
		}
		s.Offset, s.Factor = lo, make([]float64, d)
		for j := range lo {
			r := hi[j] - lo[j]
			if r < 10*0x1p-52 {
				r = 1
			}
			s.Factor[j] = r
		}
	}
	return s
}

// transform scales rows in place. Standard scaling subtracts and divides
// as StandardScaler does; min-max multiplies by 1/range and adds -min/range
// as MinMaxScaler does, so results match scikit-learn to the last bit
// where the parameters do.
func (s Scaler) transform(x []float64) {
	d := len(s.Factor)
	switch s.Kind {
	case ScaleStandard:
		for i := 0; i < len(x); i += d {
			row := x[i : i+d]
			for j := range row {
				row[j] = (row[j] - s.Offset[j]) / s.Factor[j]
			}
		}
	case ScaleMinMax:
		scale, shift := s.minMaxCoefs()
		for i := 0; i < len(x); i += d {
			row := x[i : i+d]
			for j := range row {
				row[j] = row[j]*scale[j] + shift[j]
			}
		}
	}
}

// Transform scales rows (flat, row-major) as the clustering did, in place.
func (s Scaler) Transform(x []float64) { s.transform(x) }

func (s Scaler) minMaxCoefs() (scale, shift []float64) {
	scale = make([]float64, len(s.Factor))
	shift = make([]float64, len(s.Factor))
	for j, f := range s.Factor {
		scale[j] = 1 / f
		shift[j] = 0 - s.Offset[j]*scale[j]
	}
	return scale, shift
}

// inverse maps scaled rows back to the input's units in place.
func (s Scaler) inverse(x []float64) {
	d := len(s.Factor)
	switch s.Kind {
	case ScaleStandard:
		for i := 0; i < len(x); i += d {
			row := x[i : i+d]
			for j := range row {
				row[j] = row[j]*s.Factor[j] + s.Offset[j]
			}
		}
	case ScaleMinMax:
		scale, shift := s.minMaxCoefs()
		for i := 0; i < len(x); i += d {
			row := x[i : i+d]
			for j := range row {
				row[j] = (row[j] - shift[j]) / scale[j]
			}
		}
	}
}

// columnMeanVar is numpy's mean and population variance down columns,
// summing rows in order as numpy does for an axis-0 reduction.
func columnMeanVar(x []float64, n, d int) (mean, variance []float64) {
	mean = make([]float64, d)
	variance = make([]float64, d)
	for i := 0; i < n; i++ {
		for j, v := range x[i*d : i*d+d] {
			mean[j] += v
		}
	}
	for j := range mean {
		mean[j] /= float64(n)
	}
	corr := make([]float64, d)
	for i := 0; i < n; i++ {
		for j, v := range x[i*d : i*d+d] {
			t := v - mean[j]
			variance[j] += t * t
			corr[j] += t
		}
	}
	for j := range variance {
		variance[j] = (variance[j] - corr[j]*corr[j]/float64(n)) / float64(n)
	}
	return mean, variance
}

// meanVariance is the mean over features of each feature's variance, the
// scale scikit-learn's _tolerance multiplies tol by.
func meanVariance(x []float64, n, d int) float64 {
	_, v := columnMeanVar(x, n, d)
	return sumInOrder(v) / float64(d)
}
