package functions

// The feature scaling k-means applies before clustering: scikit-learn's
// StandardScaler and MinMaxScaler, and the column statistics behind them.

import (
	"math"
	"slices"
)

// Scaler is the per-feature affine map applied before clustering:
// scaled = (x - Offset) / Factor. It is the identity for "none".
type Scaler struct {
	Kind   string    `json:"kind"`
	Offset []float64 `json:"offset,omitempty"`
	Factor []float64 `json:"factor,omitempty"`
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

// Transform scales rows (flat, row-major) as the clustering did, in place.
// Standard scaling subtracts and divides as StandardScaler does; min-max
// multiplies by 1/range and adds -min/range as MinMaxScaler does, so
// results match scikit-learn to the last bit where the parameters do.
func (s Scaler) Transform(x []float64) {
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
