package functions

import (
	"context"
	"fmt"
	"math"
	"runtime"

	"gonum.org/v1/gonum/mat"
)

// NMFOptions configures NMF. The zero value of each field means
// scikit-learn 1.2's default.
type NMFOptions struct {
	// K is the number of components (n_components); required, >= 1.
	K int
	// Init is "nndsvda" (default), "nndsvd", "nndsvdar" or "random".
	Init string
	// MaxIter is the iteration cap; 0 means 200.
	MaxIter int
	// Tol is the stopping tolerance on the projected-gradient violation
	// relative to the first iteration's; 0 means 1e-4, negative means none
	// (always run MaxIter iterations).
	Tol float64
	// Seed seeds numpy's legacy RandomState for the random and nndsvdar
	// inits and for the randomized SVD behind the nndsvd inits, as
	// random_state=Seed does in scikit-learn.
	Seed uint32
	// AlphaW and AlphaH are the regularisation strengths of W and H;
	// AlphaH nil means "same as AlphaW" (scikit-learn's alpha_H='same').
	// As in scikit-learn 1.2 they are scaled by the number of columns
	// (for W) and rows (for H) of the data.
	AlphaW float64
	AlphaH *float64
	// L1Ratio mixes L1 (1) and L2 (0) regularisation.
	L1Ratio float64
	// Progress, when set, hears of each iteration: its number and the
	// projected-gradient violation relative to the first iteration's.
	Progress func(iter int, relViolation float64)
}

// NMFModel is a fitted factorisation X ~ W·H. Its fields are exported so
// the model can be serialised as is.
type NMFModel struct {
	Rows, Cols, K int
	// W is Rows×K and H is K×Cols, both row-major (scikit-learn's W and
	// components_).
	W []float64 `json:"w"`
	H []float64 `json:"h"`
	// NIter is the number of iterations run.
	NIter int
	// ReconstructionErr is the Frobenius norm of X - W·H.
	ReconstructionErr float64
}

// Predict returns (W·H)[i, j].
func (m *NMFModel) Predict(i, j int) float64 {
	k := m.K
	s := 0.0
	for t := 0; t < k; t++ {
		s += m.W[i*k+t] * m.H[t*m.Cols+j]
	}
	return s
}

// PredictRow writes row i of W·H into dst (grown as needed) and returns it.
func (m *NMFModel) PredictRow(i int, dst []float64) []float64 {
	if cap(dst) < m.Cols {
		dst = make([]float64, m.Cols)
	}
	dst = dst[:m.Cols]
	clear(dst)
	k := m.K
	for t := 0; t < k; t++ {
		w := m.W[i*k+t]
		if w == 0 {
			continue
		}
		h := m.H[t*m.Cols : (t+1)*m.Cols]
		for j, v := range h {
			dst[j] += w * v
		}
	}
	return dst
}

// mfMaxValue bounds the magnitude of NMF and CF input values, so that
// sums of squares and of ratings stay finite: past it an input is refused
// rather than turned into Inf or NaN.
const mfMaxValue = 1e100

// mfCSR is a compressed sparse row matrix.
type mfCSR struct {
	n, m int
	ptr  []int
	idx  []int32
	val  []float64
}

// mfBuildCSR builds the CSR form of triples (rows, cols, vals) of an n×m
// matrix, columns ascending within each row. dupRow reports the input
// position of the first repeat of a (row, col) pair, or -1; firstRow is
// where that pair first appeared.
func mfBuildCSR(rows, cols []int, vals []float64, n, m int) (a *mfCSR, dupRow, firstRow int) {
	// Two stable counting sorts, by column then by row, leave each row's
	// entries in column order (repeats in input order) without comparisons.
	byCol := make([]int32, len(cols))
	cptr := make([]int, m+1)
	for _, c := range cols {
		cptr[c+1]++
	}
	for j := 0; j < m; j++ {
		cptr[j+1] += cptr[j]
	}
	for p, c := range cols {
		byCol[cptr[c]] = int32(p)
		cptr[c]++
	}
	a = &mfCSR{n: n, m: m, ptr: make([]int, n+1), idx: make([]int32, len(rows)), val: make([]float64, len(rows))}
	for _, r := range rows {
		a.ptr[r+1]++
	}
	for i := 0; i < n; i++ {
		a.ptr[i+1] += a.ptr[i]
	}
	pos := make([]int, n)
	copy(pos, a.ptr[:n])
	src := make([]int32, len(rows)) // input position of each stored entry
	for _, p := range byCol {
		r := rows[p]
		q := pos[r]
		pos[r]++
		a.idx[q] = int32(cols[p])
		a.val[q] = vals[p]
		src[q] = p
	}
	dupRow, firstRow = -1, -1
	for i := 0; i < n; i++ {
		for q := a.ptr[i] + 1; q < a.ptr[i+1]; q++ {
			if a.idx[q] == a.idx[q-1] && (dupRow < 0 || int(src[q]) < dupRow) {
				dupRow, firstRow = int(src[q]), int(src[q-1])
			}
		}
	}
	return a, dupRow, firstRow
}

// transpose returns the m×n transpose, rows ascending within each column.
func (a *mfCSR) transpose() *mfCSR {
	t := &mfCSR{n: a.m, m: a.n}
	t.ptr, t.idx, t.val = csrTranspose(a.ptr, a.idx, a.val, a.m)
	return t
}

// mulDense computes dst = A·B for a dense row-major B of shape m×c
// (dst n×c), in parallel over rows; each row's sum runs in stored order,
// so the result does not depend on the number of cores.
func (a *mfCSR) mulDense(b []float64, c int, dst []float64) {
	// Short, long rows (Xᵀ at 200 items × 50,000 users) get small blocks
	// so that both cores share them; rows are independent, so the block
	// size does not change the result.
	block := 256
	if a.n < 16*block {
		block = max(1, a.n/16)
	}
	mfParallel(a.n, block, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			mfGatherRow(dst[i*c:(i+1)*c], a.idx[a.ptr[i]:a.ptr[i+1]], a.val[a.ptr[i]:a.ptr[i+1]], b, c)
		}
	})
}

// mfGatherRow sets out (c wide) to the sum over the sparse row (idx, val)
// of val[p] times row idx[p] of the row-major B, in stored order. It is a
// function of its own so that the compiler keeps the loop's counters in
// registers.
func mfGatherRow(out []float64, idx []int32, val []float64, b []float64, c int) {
	val = val[:len(idx)]
	out = out[:c]
	// Five output columns per pass, held in registers across the row's
	// entries (more would spill: the compiler computes all products before
	// the sums); each sum runs in stored order.
	t := 0
	for ; t+5 <= c; t += 5 {
		var s0, s1, s2, s3, s4 float64
		for p, j := range idx {
			x := val[p]
			r := b[int(j)*c+t:]
			r = r[:5]
			s0 += x * r[0]
			s1 += x * r[1]
			s2 += x * r[2]
			s3 += x * r[3]
			s4 += x * r[4]
		}
		out[t], out[t+1], out[t+2], out[t+3], out[t+4] = s0, s1, s2, s3, s4
	}
	for ; t+4 <= c; t += 4 {
		var s0, s1, s2, s3 float64
		for p, j := range idx {
			x := val[p]
			r := b[int(j)*c+t:]
			r = r[:4]
			s0 += x * r[0]
			s1 += x * r[1]
			s2 += x * r[2]
			s3 += x * r[3]
		}
		out[t], out[t+1], out[t+2], out[t+3] = s0, s1, s2, s3
	}
	for ; t < c; t++ {
		s := 0.0
		for p, j := range idx {
			s += val[p] * b[int(j)*c+t]
		}
		out[t] = s
	}
}

// mulTransDense computes dst = Aᵀ·B for a dense row-major B of shape n×c
// (dst m×c) by scattering A's rows: A and B are read once, in order, and
// the m×c output stays in cache, where the rows of Aᵀ would gather B's rows
// from all over memory (and once per five columns). Each sum runs over A's
// rows in ascending order, as a.transpose().mulDense(b, c, dst) sums them,
// so the two agree bit for bit. Goroutines take disjoint column ranges, so
// the result does not depend on the number of cores.
func (a *mfCSR) mulTransDense(b []float64, c int, dst []float64) {
	dst = dst[:a.m*c]
	groups := max(1, min(c, runtime.GOMAXPROCS(0)))
	width := (c + groups - 1) / groups
	mfParallel(c, width, func(t0, t1 int) {
		for j := 0; j < a.m; j++ {
			clear(dst[j*c+t0 : j*c+t1])
		}
		for i := 0; i < a.n; i++ {
			mfScatterRow(dst, c, t0, b[i*c+t0:i*c+t1], a.idx[a.ptr[i]:a.ptr[i+1]], a.val[a.ptr[i]:a.ptr[i+1]])
		}
	})
}

// mfScatterRow adds val[p]·br to columns [t0, t0+len(br)) of row idx[p]
// of the row-major dst (c wide), for each entry p of a sparse row in
// stored order, five columns of br at a time held in registers.
func mfScatterRow(dst []float64, c, t0 int, br []float64, idx []int32, val []float64) {
	val = val[:len(idx)]
	u := 0
	for ; u+5 <= len(br); u += 5 {
		b0, b1, b2, b3, b4 := br[u], br[u+1], br[u+2], br[u+3], br[u+4]
		for p, j := range idx {
			x := val[p]
			off := int(j)*c + t0 + u
			o := dst[off : off+5 : off+5]
			o[0] += x * b0
			o[1] += x * b1
			o[2] += x * b2
			o[3] += x * b3
			o[4] += x * b4
		}
	}
	for ; u < len(br); u++ {
		v := br[u]
		for p, j := range idx {
			dst[int(j)*c+t0+u] += val[p] * v
		}
	}
}

// mfParallel runs fn over [0, n) cut into fixed blocks, on up to GOMAXPROCS
// goroutines. Blocks are fixed, so callers that write disjoint outputs get
// the same result on any number of cores.
func mfParallel(n, block int, fn func(lo, hi int)) {
	parallelFor((n+block-1)/block, runtime.GOMAXPROCS(0), func(b int) {
		fn(b*block, min(n, (b+1)*block))
	})
}

// NMF factorises the non-negative n×m matrix given by the triples
// (rows[p], cols[p], vals[p]) — every other entry is 0 — with
// scikit-learn 1.2's coordinate-descent solver (Frobenius loss). Rows and
// columns are dense indices (see KeyIndex); the result depends on them but
// not on the order of the triples, so a caller that numbers keys in key
// order (KeyIndex.Sort) gets a result independent of its input's order.
// Rows run in parallel in fixed blocks, so the result is the same on any
// number of cores.
//
// Errors are *InputError: "input" for an empty matrix, a negative,
// non-finite or above-1e100 value or a repeated (row, col) pair (Row is
// the triple's position); "k" for k < 1 or, with an nndsvd init,
// k > min(n, m); "max_iter", "init", "tol", "l1_ratio" or "alpha" for bad
// options. A cancelled ctx stops it between iterations.
//
// Differences from scikit-learn: the nndsvd inits use the same randomized
// SVD (same Gaussian sketch from the seed, same number of power iterations)
// but normalise the power iterations by QR instead of LU, and take an
// exact SVD when the sketch covers the whole range; this changes the
// initial factors only at rounding level. When a whole singular pair is
// zero (rank-deficient data) nndsvd leaves that component at zero where
// scikit-learn would divide by zero.
func NMF(ctx context.Context, rows, cols []int, vals []float64, n, m int, opt NMFOptions) (*NMFModel, error) {
	if len(rows) != len(cols) || len(rows) != len(vals) {
		return nil, inputErr("input", "rows, cols and vals differ in length (%d, %d, %d)", len(rows), len(cols), len(vals))
	}
	if n < 1 || m < 1 || len(rows) == 0 {
		return nil, inputErr("input", "empty input: NMF needs at least one (row, col, value)")
	}
	k := opt.K
	if k < 1 {
		return nil, inputErr("k", "must be at least 1, got %d", k)
	}
	init := opt.Init
	if init == "" {
		init = "nndsvda"
	}
	switch init {
	case "random":
	case "nndsvd", "nndsvda", "nndsvdar":
		if k > min(n, m) {
			return nil, inputErr("k", "init %q needs k <= min(rows, cols) = %d, got %d", init, min(n, m), k)
		}
	default:
		return nil, inputErr("init", "must be 'nndsvda', 'nndsvd', 'nndsvdar' or 'random', got %q", init)
	}
	maxIter := opt.MaxIter
	if maxIter == 0 {
		maxIter = 200
	}
	if maxIter < 1 {
		return nil, inputErr("max_iter", "must be at least 1, got %d", maxIter)
	}
	tol := opt.Tol
	if tol == 0 {
		tol = 1e-4
	}
	if math.IsNaN(tol) {
		return nil, inputErr("tol", "must be a number")
	}
	alphaW := opt.AlphaW
	alphaH := alphaW
	if opt.AlphaH != nil {
		alphaH = *opt.AlphaH
	}
	if !(alphaW >= 0) || !(alphaH >= 0) || math.IsInf(alphaW, 0) || math.IsInf(alphaH, 0) {
		return nil, inputErr("alpha", "alpha_W and alpha_H must be finite and >= 0, got %v and %v", alphaW, alphaH)
	}
	if !(opt.L1Ratio >= 0 && opt.L1Ratio <= 1) {
		return nil, inputErr("l1_ratio", "must be in [0, 1], got %v", opt.L1Ratio)
	}
	for p := range rows {
		if rows[p] < 0 || rows[p] >= n || cols[p] < 0 || cols[p] >= m {
			return nil, rowErr("input", p, "index (%d, %d) outside the %d×%d matrix", rows[p], cols[p], n, m)
		}
		v := vals[p]
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, rowErr("input", p, "value %v is not a finite number", v)
		}
		if v < 0 {
			return nil, rowErr("input", p, "negative value %v: NMF needs non-negative data", v)
		}
		if v > mfMaxValue {
			return nil, rowErr("input", p, "value %v is too large (NMF squares values; the limit is %g)", v, mfMaxValue)
		}
	}
	x, dup, first := mfBuildCSR(rows, cols, vals, n, m)
	if dup >= 0 {
		return nil, rowErr("input", dup, "the same (row, col) pair already appeared at row %d", first+1)
	}
	xt := x.transpose()

	w, h, err := nmfInit(ctx, x, xt, k, init, opt.Seed)
	if err != nil {
		return nil, err
	}
	// The solver works on Ht (m×k) so that both factors are row-major in
	// the shape the coordinate descent sweeps.
	ht := make([]float64, m*k)
	for t := 0; t < k; t++ {
		for j := 0; j < m; j++ {
			ht[j*k+t] = h[t*m+j]
		}
	}
	l1W := float64(m) * alphaW * opt.L1Ratio
	l1H := float64(n) * alphaH * opt.L1Ratio
	l2W := float64(m) * alphaW * (1 - opt.L1Ratio)
	l2H := float64(n) * alphaH * (1 - opt.L1Ratio)

	s := &nmfSolver{k: k, hht: make([]float64, k*k), xht: make([]float64, max(n, m)*k), pg: make([]float64, max(n, m)*k)}
	nIter := 0
	violationInit := 0.0
	for it := 1; it <= maxIter; it++ {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("nmf: %w", err)
		}
		nIter = it
		violation := s.update(x, w, ht, l1W, l2W)
		violation += s.update(xt, ht, w, l1H, l2H)
		if it == 1 {
			violationInit = violation
		}
		if opt.Progress != nil && violationInit > 0 {
			opt.Progress(it, violation/violationInit)
		}
		if violationInit == 0 {
			break
		}
		if violation/violationInit <= tol {
			break
		}
	}
	for t := 0; t < k; t++ {
		for j := 0; j < m; j++ {
			h[t*m+j] = ht[j*k+t]
		}
	}
	model := &NMFModel{Rows: n, Cols: m, K: k, W: w, H: h, NIter: nIter}
	model.ReconstructionErr = nmfError(x, w, ht, k, s)
	return model, nil
}

// nmfSolver holds the scratch space of the coordinate-descent sweeps.
type nmfSolver struct {
	k   int
	hht []float64
	xht []float64
	pg  []float64
}

// update is scikit-learn's _update_coordinate_descent followed by
// _update_cdnmf_fast: one cyclic sweep over the coordinates of W (n×k)
// against the fixed Ht (m×k) for the data a (n×m). A row of W depends only
// on itself, so rows run in parallel; the projected gradients are summed
// afterwards in scikit-learn's order (component-major), so the violation
// and hence the stopping iteration match it.
func (s *nmfSolver) update(a *mfCSR, w, ht []float64, l1, l2 float64) float64 {
	k, n, m := s.k, a.n, a.m
	hht := s.hht
	mfGram(ht, m, k, hht)
	if l2 != 0 {
		for t := 0; t < k; t++ {
			hht[t*k+t] += l2
		}
	}
	xht := s.xht[:n*k]
	a.mulDense(ht, k, xht)
	if l1 != 0 {
		for i := range xht {
			xht[i] -= l1
		}
	}
	pg := s.pg[:n*k]
	mfParallel(n, 256, func(lo, hi int) {
		i := lo
		// Four rows at a time: their gradient sums are independent chains
		// the CPU can overlap; each row's arithmetic is unchanged.
		for ; i+4 <= hi; i += 4 {
			w0, w1, w2, w3 := w[i*k:(i+1)*k], w[(i+1)*k:(i+2)*k], w[(i+2)*k:(i+3)*k], w[(i+3)*k:(i+4)*k]
			x0, x1, x2, x3 := xht[i*k:(i+1)*k], xht[(i+1)*k:(i+2)*k], xht[(i+2)*k:(i+3)*k], xht[(i+3)*k:(i+4)*k]
			for t := 0; t < k; t++ {
				row := hht[t*k : (t+1)*k]
				w0, w1, w2, w3 = w0[:len(row)], w1[:len(row)], w2[:len(row)], w3[:len(row)]
				g0, g1, g2, g3 := -x0[t], -x1[t], -x2[t], -x3[t]
				for r, v := range row {
					g0 += v * w0[r]
					g1 += v * w1[r]
					g2 += v * w2[r]
					g3 += v * w3[r]
				}
				hess := row[t]
				pg[t*n+i] = cdStep(w0, t, g0, hess)
				pg[t*n+i+1] = cdStep(w1, t, g1, hess)
				pg[t*n+i+2] = cdStep(w2, t, g2, hess)
				pg[t*n+i+3] = cdStep(w3, t, g3, hess)
			}
		}
		for ; i < hi; i++ {
			wi := w[i*k : (i+1)*k]
			xi := xht[i*k : (i+1)*k]
			for t := 0; t < k; t++ {
				grad := -xi[t]
				row := hht[t*k : (t+1)*k]
				for r, v := range row {
					grad += v * wi[r]
				}
				pg[t*n+i] = cdStep(wi, t, grad, row[t])
			}
		}
	})
	violation := 0.0
	for _, v := range pg {
		violation += v
	}
	return violation
}

// cdStep is one coordinate update of _update_cdnmf_fast: it returns the
// projected gradient's magnitude and moves wi[t] to max(wi[t] - grad/hess,
// 0) (as Cython's max: the data are NaN-free, so no math.Max).
func cdStep(wi []float64, t int, grad, hess float64) float64 {
	p := grad
	if wi[t] == 0 && p > 0 {
		p = 0
	}
	if hess != 0 {
		if v := wi[t] - grad/hess; v > 0 {
			wi[t] = v
		} else {
			wi[t] = 0
		}
	}
	return math.Abs(p)
}

// mfGram computes g = Aᵀ·A (k×k) for a row-major n×k A. Partial sums over
// fixed row blocks are added in block order, so the result is the same on
// any number of cores.
func mfGram(a []float64, n, k int, g []float64) {
	const block = 2048
	nb := (n + block - 1) / block
	parts := make([]float64, nb*k*k)
	mfParallel(n, block, func(lo, hi int) {
		part := parts[(lo/block)*k*k : (lo/block+1)*k*k]
		// The upper triangle only (mirrored below), in 2×2 tiles whose
		// four sums stay in registers across the block's rows; each sum
		// still runs over the rows in order.
		p := 0
		for ; p+2 <= k; p += 2 {
			q := p
			for ; q+2 <= k; q += 2 {
				var s00, s01, s10, s11 float64
				for i := lo; i < hi; i++ {
					row := a[i*k : i*k+k]
					x0, x1, y0, y1 := row[p], row[p+1], row[q], row[q+1]
					s00 += x0 * y0
					s01 += x0 * y1
					s10 += x1 * y0
					s11 += x1 * y1
				}
				part[p*k+q] += s00
				part[p*k+q+1] += s01
				part[(p+1)*k+q] += s10
				part[(p+1)*k+q+1] += s11
			}
			if q < k {
				var s0, s1 float64
				for i := lo; i < hi; i++ {
					row := a[i*k : i*k+k]
					y := row[q]
					s0 += row[p] * y
					s1 += row[p+1] * y
				}
				part[p*k+q] += s0
				part[(p+1)*k+q] += s1
			}
		}
		if p < k {
			s := 0.0
			for i := lo; i < hi; i++ {
				x := a[i*k+p]
				s += x * x
			}
			part[p*k+p] += s
		}
	})
	clear(g)
	for b := 0; b < nb; b++ {
		for i, v := range parts[b*k*k : (b+1)*k*k] {
			g[i] += v
		}
	}
	for p := 0; p < k; p++ {
		for q := p + 1; q < k; q++ {
			g[q*k+p] = g[p*k+q]
		}
	}
}

// nmfError is ‖X − W·H‖_F computed as scikit-learn does for sparse X:
// ‖X‖² + ⟨WᵀW, HHᵀ⟩ − 2⟨X, WH⟩ over the stored entries only.
func nmfError(x *mfCSR, w, ht []float64, k int, s *nmfSolver) float64 {
	normX := 0.0
	for _, v := range x.val {
		normX += v * v
	}
	wtw := make([]float64, k*k)
	mfGram(w, x.n, k, wtw)
	mfGram(ht, x.m, k, s.hht)
	normWH := 0.0
	for i, v := range wtw {
		normWH += v * s.hht[i]
	}
	cross := 0.0
	for i := 0; i < x.n; i++ {
		wi := w[i*k : (i+1)*k]
		for p := x.ptr[i]; p < x.ptr[i+1]; p++ {
			hj := ht[int(x.idx[p])*k : int(x.idx[p])*k+k]
			d := 0.0
			for t, v := range wi {
				d += v * hj[t]
			}
			cross += x.val[p] * d
		}
	}
	return math.Sqrt(math.Max(normX+normWH-2*cross, 0))
}

// nmfInit is scikit-learn's _initialize_nmf for the given init. It returns
// W (n×k) and H (k×m), row-major.
func nmfInit(ctx context.Context, x, xt *mfCSR, k int, init string, seed uint32) (w, h []float64, err error) {
	n, m := x.n, x.m
	sum := 0.0
	for _, v := range x.val {
		sum += v
	}
	mean := sum / (float64(n) * float64(m))
	w = make([]float64, n*k)
	h = make([]float64, k*m)
	if init == "random" {
		avg := math.Sqrt(mean / float64(k))
		rng := NewRandomState(seed)
		// H is drawn before W, each in C order.
		for i := range h {
			h[i] = math.Abs(avg * rng.StandardNormal())
		}
		for i := range w {
			w[i] = math.Abs(avg * rng.StandardNormal())
		}
		return w, h, nil
	}
	u, sv, vt, err := randomizedSVD(ctx, x, xt, k, seed)
	if err != nil {
		return nil, nil, err
	}
	// u is n×k, vt is k×m, both row-major.
	s0 := math.Sqrt(sv[0])
	for i := 0; i < n; i++ {
		w[i*k] = s0 * math.Abs(u[i*k])
	}
	for j := 0; j < m; j++ {
		h[j] = s0 * math.Abs(vt[j])
	}
	for t := 1; t < k; t++ {
		var xpn, xnn, ypn, ynn float64
		for i := 0; i < n; i++ {
			v := u[i*k+t]
			if v > 0 {
				xpn += v * v
			} else {
				xnn += v * v
			}
		}
		for j := 0; j < m; j++ {
			v := vt[t*m+j]
			if v > 0 {
				ypn += v * v
			} else {
				ynn += v * v
			}
		}
		xpn, xnn, ypn, ynn = math.Sqrt(xpn), math.Sqrt(xnn), math.Sqrt(ypn), math.Sqrt(ynn)
		mp, mn := xpn*ypn, xnn*ynn
		sign, xnrm, ynrm, sigma := 1.0, xpn, ypn, mp
		if !(mp > mn) {
			sign, xnrm, ynrm, sigma = -1, xnn, ynn, mn
		}
		if sigma == 0 {
			continue // a zero singular pair: leave the component at zero
		}
		lbd := math.Sqrt(sv[t] * sigma)
		for i := 0; i < n; i++ {
			if v := sign * u[i*k+t]; v > 0 {
				w[i*k+t] = lbd * (v / xnrm)
			}
		}
		for j := 0; j < m; j++ {
			if v := sign * vt[t*m+j]; v > 0 {
				h[t*m+j] = lbd * (v / ynrm)
			}
		}
	}
	const eps = 1e-6
	for i, v := range w {
		if v < eps {
			w[i] = 0
		}
	}
	for i, v := range h {
		if v < eps {
			h[i] = 0
		}
	}
	switch init {
	case "nndsvda":
		for i, v := range w {
			if v == 0 {
				w[i] = mean
			}
		}
		for i, v := range h {
			if v == 0 {
				h[i] = mean
			}
		}
	case "nndsvdar":
		rng := NewRandomState(seed)
		for i, v := range w {
			if v == 0 {
				w[i] = math.Abs(mean * rng.StandardNormal() / 100)
			}
		}
		for i, v := range h {
			if v == 0 {
				h[i] = math.Abs(mean * rng.StandardNormal() / 100)
			}
		}
	}
	return w, h, nil
}

// randomizedSVD follows scikit-learn's randomized_svd(X, k,
// random_state=seed) with its defaults (10 oversamples, 4 or 7 power
// iterations, transpose when X is wide, svd_flip signs), returning U (n×k),
// the singular values and Vᵀ (k×m), row-major. The Gaussian sketch is
// numpy's, so the subspace matches scikit-learn's up to rounding.
func randomizedSVD(ctx context.Context, x, xt *mfCSR, k int, seed uint32) (u, s, vt []float64, err error) {
	transpose := x.n < x.m
	a := x
	if transpose {
		a = xt
	}
	p, q := a.n, a.m // p >= q
	size := k + 10
	nIter := 4
	if float64(k) < 0.1*float64(q) {
		nIter = 7
	}
	// ua (p×r), sa, va (q×r, i.e. columns are right singular vectors).
	var ua, va *mat.Dense
	var sa []float64
	var svd mat.SVD
	if size >= q {
		// The sketch spans the whole range: this is the exact SVD.
		d := mat.NewDense(p, q, nil)
		for i := 0; i < p; i++ {
			for e := a.ptr[i]; e < a.ptr[i+1]; e++ {
				d.Set(i, int(a.idx[e]), a.val[e])
			}
		}
		if !svd.Factorize(d, mat.SVDThin) {
			return nil, nil, nil, fmt.Errorf("nmf: SVD did not converge")
		}
	} else {
		rng := NewRandomState(seed)
		omega := make([]float64, q*size)
		for i := range omega {
			omega[i] = rng.StandardNormal()
		}
		y := make([]float64, p*size)
		z := make([]float64, q*size)
		cur := omega
		for it := 0; it < nIter; it++ {
			if err := ctx.Err(); err != nil {
				return nil, nil, nil, fmt.Errorf("nmf: %w", err)
			}
			// Between power iterations the basis need only be well
			// conditioned, not orthonormal to rounding level (scikit-learn
			// takes an LU factor there): one Cholesky QR pass does.
			a.mulDense(cur, size, y)
			mfNormalizeRange(y, p, size)
			a.mulTransDense(y, size, z)
			mfNormalizeRange(z, q, size)
			cur = z
		}
		a.mulDense(cur, size, y)
		mfOrthonormalize(y, p, size)
		// Bᵀ = Aᵀ·Q is q×size; B = Qᵀ·A.
		a.mulTransDense(y, size, z)
		bt := mat.NewDense(q, size, z)
		if !svd.Factorize(bt.T(), mat.SVDThin) {
			return nil, nil, nil, fmt.Errorf("nmf: SVD did not converge")
		}
		var ub mat.Dense
		svd.UTo(&ub)
		ua = mat.NewDense(p, ub.RawMatrix().Cols, nil)
		ua.Mul(mat.NewDense(p, size, y), &ub)
	}
	if ua == nil {
		ua = new(mat.Dense)
		svd.UTo(ua)
	}
	va = new(mat.Dense)
	svd.VTo(va)
	sa = svd.Values(nil)
	// svd_flip: u-based without transpose, v-based with it; np.sign(0) = 0.
	for c := 0; c < k; c++ {
		var vec func(i int) float64
		var length int
		if !transpose {
			vec, length = func(i int) float64 { return ua.At(i, c) }, p
		} else {
			vec, length = func(i int) float64 { return va.At(i, c) }, q
		}
		best, bi := -1.0, 0
		for i := 0; i < length; i++ {
			if v := math.Abs(vec(i)); v > best {
				best, bi = v, i
			}
		}
		sign := 0.0
		if v := vec(bi); v > 0 {
			sign = 1
		} else if v < 0 {
			sign = -1
		}
		if sign != 1 {
			for i := 0; i < p; i++ {
				ua.Set(i, c, sign*ua.At(i, c))
			}
			for i := 0; i < q; i++ {
				va.Set(i, c, sign*va.At(i, c))
			}
		}
	}
	// Back to X's orientation: X = U S Vᵀ with U from ua (no transpose) or
	// va (transpose).
	un, vm := ua, va
	if transpose {
		un, vm = va, ua
	}
	u = make([]float64, x.n*k)
	for i := 0; i < x.n; i++ {
		for c := 0; c < k; c++ {
			u[i*k+c] = un.At(i, c)
		}
	}
	vt = make([]float64, k*x.m)
	for c := 0; c < k; c++ {
		for j := 0; j < x.m; j++ {
			vt[c*x.m+j] = vm.At(j, c)
		}
	}
	return u, sa[:k], vt, nil
}

// mfOrthonormalize replaces the columns of the row-major p×c matrix a by an
// orthonormal basis of their span: the Q of a = Q·R with R upper triangular
// and a positive diagonal, the basis Gram-Schmidt builds. It tries
// Cholesky QR twice (CholQR2: R from the Cholesky factor of aᵀa, then
// a·R⁻¹, repeated once to restore orthogonality to rounding level), two
// passes over a by rows, and falls back to Gram-Schmidt
// (mfOrthonormalizeGS) when the columns are too close to dependent for it.
// Both run over fixed row blocks, so the result is the same on any number
// of cores.
func mfOrthonormalize(a []float64, p, c int) {
	orig := make([]float64, len(a))
	copy(orig, a)
	g := make([]float64, c*c)
	// Pass one must see every column well apart from the span of the
	// previous ones (sin² of the angle above 1e-8, so that the Gram matrix's
	// condition is far from 1/ε); pass two must find a nearly orthonormal
	// matrix, as it does when pass one lost orthogonality only to the
	// square of that condition times ε.
	if mfCholQR(a, p, c, g, 1e-8, false) && mfCholQR(a, p, c, g, 0.5, true) {
		return
	}
	copy(a, orig)
	mfOrthonormalizeGS(a, p, c)
}

// mfNormalizeRange replaces the columns of the row-major p×c matrix a by a
// well-conditioned basis of their span: one Cholesky QR pass, or
// mfOrthonormalizeGS when the columns are too close to dependent for it.
func mfNormalizeRange(a []float64, p, c int) {
	if !mfCholQR(a, p, c, make([]float64, c*c), 1e-8, false) {
		mfOrthonormalizeGS(a, p, c)
	}
}

// mfCholQR is one Cholesky QR pass over the row-major p×c matrix a: with
// aᵀa = L·Lᵀ it replaces each row r of a by the solution z of L·z = r, i.e.
// a by a·L⁻ᵀ. It reports false and leaves a unchanged when a pivot of the
// Cholesky factorisation, relative to its column's squared norm, is at most
// minPivot, when a column's squared norm is zero or, with nearIdentity, when
// an entry of L is more than 0.5 away from the identity's.
func mfCholQR(a []float64, p, c int, g []float64, minPivot float64, nearIdentity bool) bool {
	mfGram(a, p, c, g)
	// In place: g's lower triangle becomes L, row-major.
	for j := 0; j < c; j++ {
		gj := g[j*c : j*c+c]
		norm := gj[j]
		if !(norm > 0) || math.IsInf(norm, 0) {
			return false
		}
		for l := 0; l <= j; l++ {
			gl := g[l*c : l*c+c]
			s := gj[l]
			for q := 0; q < l; q++ {
				s -= gj[q] * gl[q]
			}
			if l < j {
				gj[l] = s / gl[l]
				continue
			}
			if !(s > minPivot*norm) {
				return false
			}
			gj[j] = math.Sqrt(s)
		}
	}
	if nearIdentity {
		for j := 0; j < c; j++ {
			for l := 0; l <= j; l++ {
				want := 0.0
				if l == j {
					want = 1
				}
				if math.Abs(g[j*c+l]-want) > 0.5 {
					return false
				}
			}
		}
	}
	mfParallel(p, 2048, func(lo, hi int) {
		i := lo
		// Four rows at a time: forward substitution is a chain of
		// dependent sums, and four independent chains overlap.
		for ; i+4 <= hi; i += 4 {
			r0, r1, r2, r3 := a[i*c:i*c+c], a[(i+1)*c:(i+2)*c], a[(i+2)*c:(i+3)*c], a[(i+3)*c:(i+4)*c]
			for j := range r0 {
				lj := g[j*c : j*c+j]
				r0, r1, r2, r3 = r0[:c], r1[:c], r2[:c], r3[:c]
				s0, s1, s2, s3 := r0[j], r1[j], r2[j], r3[j]
				for q, v := range lj {
					s0 -= v * r0[q]
					s1 -= v * r1[q]
					s2 -= v * r2[q]
					s3 -= v * r3[q]
				}
				d := g[j*c+j]
				r0[j], r1[j], r2[j], r3[j] = s0/d, s1/d, s2/d, s3/d
			}
		}
		for ; i < hi; i++ {
			row := a[i*c : i*c+c]
			for j := range row {
				lj := g[j*c : j*c+j]
				s := row[j]
				for q, v := range lj {
					s -= v * row[q]
				}
				row[j] = s / g[j*c+j]
			}
		}
	})
	return true
}

// mfOrthonormalizeGS replaces the columns of the row-major p×c matrix a by
// an orthonormal basis of their span (classical Gram-Schmidt, twice for
// stability); a column that is numerically dependent on the previous ones
// becomes 0. It works on a transposed copy so that every column is
// contiguous, and runs the dot products and updates over fixed row blocks
// in parallel, the blocks' partial sums added in block order, so the result
// is the same on any number of cores.
func mfOrthonormalizeGS(a []float64, p, c int) {
	const block = 4096
	t := make([]float64, c*p)
	for i := 0; i < p; i++ {
		for j := 0; j < c; j++ {
			t[j*p+i] = a[i*c+j]
		}
	}
	nb := (p + block - 1) / block
	parts := make([]float64, nb*c)
	d := make([]float64, c)
	// dots sets d[l] = column l · col for l in [from, to].
	dots := func(col []float64, from, to int) {
		mfParallel(p, block, func(lo, hi int) {
			part := parts[(lo/block)*c : (lo/block+1)*c]
			seg := col[lo:hi]
			for l := from; l <= to; l++ {
				v := t[l*p+lo : l*p+hi]
				v = v[:len(seg)]
				s := 0.0
				for i, x := range v {
					s += x * seg[i]
				}
				part[l] = s
			}
		})
		for l := from; l <= to; l++ {
			s := 0.0
			for b := 0; b < nb; b++ {
				s += parts[b*c+l]
			}
			d[l] = s
		}
	}
	for j := 0; j < c; j++ {
		col := t[j*p : (j+1)*p]
		dots(col, j, j)
		orig := d[j]
		for pass := 0; pass < 2 && j > 0; pass++ {
			dots(col, 0, j-1)
			mfParallel(p, block, func(lo, hi int) {
				seg := col[lo:hi]
				for l := 0; l < j; l++ {
					v := t[l*p+lo : l*p+hi]
					v = v[:len(seg)]
					dl := d[l]
					for i, x := range v {
						seg[i] -= dl * x
					}
				}
			})
		}
		dots(col, j, j)
		nrm := d[j]
		if nrm <= 1e-24*orig || nrm == 0 {
			clear(col)
			continue
		}
		nrm = math.Sqrt(nrm)
		for i := range col {
			col[i] /= nrm
		}
	}
	for i := 0; i < p; i++ {
		for j := 0; j < c; j++ {
			a[i*c+j] = t[j*p+i]
		}
	}
}
