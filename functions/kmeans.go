package functions

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
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

	// scaled and order keep the fit's centres in the scaled space and the
	// order it compared them in, so Model can reproduce its assignments
	// exactly.
	scaled []float64
	order  []int
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
	scaler.Transform(x)

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
	res.scaled, res.order = slices.Clone(res.Centers), perm
	res.Scaler.inverse(res.Centers)
}
