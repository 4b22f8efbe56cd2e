package functions

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
	"testing"
)

// fuzzFloats turns fuzz bytes into float64s. Half the time a value is a
// small integer (so duplicates and ties are common), otherwise raw bits
// (NaN, infinities, huge and subnormal values).
func fuzzFloats(data []byte, count int) []float64 {
	out := make([]float64, count)
	for i := range out {
		if len(data) == 0 {
			out[i] = float64(i % 3)
			continue
		}
		if data[0]&1 == 0 || len(data) < 9 {
			out[i] = float64(int8(data[0])) / 4
			data = data[1:]
			continue
		}
		out[i] = math.Float64frombits(binary.LittleEndian.Uint64(data[1:9]))
		data = data[9:]
	}
	return out
}

func FuzzKMeans(f *testing.F) {
	f.Add(uint8(5), uint8(3), int8(3), uint8(0), uint64(0), []byte{10, 20, 4, 6, 8, 2, 200, 1, 3})
	f.Add(uint8(1), uint8(1), int8(1), uint8(7), uint64(3), []byte{})
	f.Add(uint8(40), uint8(2), int8(5), uint8(13), uint64(9), []byte{1, 0, 0, 0, 0, 0, 0, 0xf0, 0x7f, 2, 2})
	f.Fuzz(func(t *testing.T, rows, dims uint8, k int8, flags uint8, seed uint64, data []byte) {
		n := int(rows % 64)
		d := int(dims%6) + 1
		if dims == 255 {
			d = 0
		}
		x := fuzzFloats(data, n*d)
		opt := KMeansOptions{
			K:         int(k),
			NInit:     int(flags>>4)%3 + 1,
			MaxIter:   int(flags>>2)%20 + 1,
			Seed:      seed,
			Scale:     []string{ScaleNone, ScaleStandard, ScaleMinMax, ""}[flags%4],
			Algorithm: []string{KMeansAuto, KMeansLloyd, KMeansElkan}[int(flags>>6)%3],
		}
		res, err := KMeans(context.Background(), x, d, opt)
		if err != nil {
			var ie *InputError
			if !errors.As(err, &ie) {
				t.Fatalf("error %v is not an *InputError", err)
			}
			return
		}
		if len(res.Labels) != n || len(res.Distances) != n || len(res.Centers) != opt.K*d || len(res.Sizes) != opt.K {
			t.Fatalf("result shapes: %d labels, %d distances, %d centre values, %d sizes for n=%d d=%d k=%d",
				len(res.Labels), len(res.Distances), len(res.Centers), len(res.Sizes), n, d, opt.K)
		}
		total, sum := 0, 0.0
		for i, l := range res.Labels {
			if l < 0 || l >= opt.K {
				t.Fatalf("label %d out of range", l)
			}
			dist := res.Distances[i]
			if !finite(dist) || dist < 0 {
				t.Fatalf("distance %v", dist)
			}
			sum += dist * dist
		}
		for _, s := range res.Sizes {
			total += s
		}
		if total != n {
			t.Fatalf("sizes add to %d, not %d", total, n)
		}
		if !finite(res.Inertia) || res.Inertia < 0 || math.Abs(sum-res.Inertia) > 1e-9*math.Max(1, res.Inertia) {
			t.Fatalf("inertia %v, sum of squared distances %v", res.Inertia, sum)
		}
		// Clusters are numbered by first appearance.
		next := 0
		for _, l := range res.Labels {
			if l > next {
				t.Fatalf("cluster %d appears before cluster %d", l, next)
			}
			if l == next {
				next++
			}
		}
	})
}

func FuzzSGD(f *testing.F) {
	f.Add(uint8(3), uint8(2), uint8(0), uint8(1), 1e-4, 0.01, 0.25, []byte{40, 44, 16, 44, 48, 20, 48, 52, 24})
	f.Add(uint8(10), uint8(3), uint8(0x37), uint8(4), 0.5, 3.0, -1.0, []byte{1, 0, 0, 0, 0, 0, 0, 0xf0, 0x7f})
	f.Fuzz(func(t *testing.T, rows, dims, flags, epochs uint8, alpha, eta0, powerT float64, data []byte) {
		n := int(rows % 50)
		d := int(dims % 6)
		vals := fuzzFloats(data, n*(d+1))
		x, y := vals[:n*d], vals[n*d:]
		opt := SGDOptions{
			Alpha:        alpha,
			L1Ratio:      float64(flags>>4) / 15,
			Eta0:         eta0,
			PowerT:       powerT,
			LearningRate: []string{LearningRateInvScaling, LearningRateConstant, LearningRateOptimal, LearningRateAdaptive}[flags%4],
			Penalty:      []string{PenaltyL2, PenaltyL1, PenaltyElasticNet, PenaltyNone}[(flags>>2)%4],
		}
		m, err := NewSGDRegressor(d, opt)
		if err != nil {
			var ie *InputError
			if !errors.As(err, &ie) {
				t.Fatalf("error %v is not an *InputError", err)
			}
			return
		}
		before, _ := json.Marshal(m)
		err = m.Fit(context.Background(), x, y, int(epochs%4))
		if err != nil {
			var ie *InputError
			if !errors.As(err, &ie) {
				t.Fatalf("error %v is not an *InputError", err)
			}
			if after, _ := json.Marshal(m); string(after) != string(before) {
				t.Fatalf("failed Fit changed the model: %s -> %s", before, after)
			}
			return
		}
		buf, err := json.Marshal(m)
		if err != nil {
			t.Fatalf("state does not marshal: %v", err)
		}
		var back SGDRegressor
		if err := json.Unmarshal(buf, &back); err != nil {
			t.Fatal(err)
		}
		again, _ := json.Marshal(&back)
		if string(again) != string(buf) {
			t.Fatalf("JSON round trip changed the state: %s vs %s", buf, again)
		}
		if _, err := m.Predict(x); err != nil {
			t.Fatalf("predict on training rows: %v", err)
		}
	})
}
