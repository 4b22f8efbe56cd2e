package functions

import (
	"context"
	"encoding"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// stReseal replaces b's trailing CRC with the right one, so that the
// fuzzer's mutations reach the payload decoders instead of stopping at
// the checksum.
func stReseal(b []byte) []byte {
	if len(b) < 4 {
		return b
	}
	e := &Encoder{buf: slices.Clone(b[:len(b)-4])}
	return e.Finish()
}

// stSeedStates are small valid blobs of every kind: the fuzzer's seeds.
func stSeedStates(t testing.TB) [][]byte {
	cf, err := NewUserCF([]int{0, 0, 0, 1, 1, 2, 2, 2}, []int{0, 1, 2, 0, 3, 1, 2, 3}, []float64{5, 4, 3, 4, 5, 2, 3, 4}, 3, 4)
	if err != nil {
		t.Fatal(err)
	}
	sgd, _ := NewSGDRegressor(2, DefaultSGDOptions())
	if err := sgd.PartialFit(context.Background(), []float64{1, 2, 3, 4}, []float64{1, 2}); err != nil {
		t.Fatal(err)
	}
	tf, err := Tfidf(context.Background(), []string{"fast red laptop", "red phone", "", "slow laptop case"}, TfidfOptions{})
	if err != nil {
		t.Fatal(err)
	}
	holtAdd := &HoltModel{Trend: ComponentAdd, Damped: true, Seasonal: ComponentAdd, Period: 2, Alpha: 0.5, Beta: 0.1, Gamma: 0.2, Phi: 0.9,
		InitialLevel: 10, InitialTrend: 1, InitialSeasons: []float64{-1, 1}, Level: 12, Slope: 0.5, Seasons: []float64{1, -1}, N: 8, SSE: 4, Sigma2: 0.5, AIC: 3}
	holtMul := &HoltModel{Trend: ComponentMul, Seasonal: ComponentMul, Period: 3, Alpha: 0.3, Beta: 0.1, Gamma: 0.1, Phi: 1,
		InitialLevel: 5, InitialTrend: 1.01, InitialSeasons: []float64{0.9, 1, 1.1}, Level: 6, Slope: 1.02, Seasons: []float64{1.1, 0.9, 1}, N: 12, SSE: 2, Sigma2: 0.2, AIC: 1}
	marshalers := []encoding.BinaryMarshaler{
		cf,
		&NMFModel{Rows: 2, Cols: 3, K: 2, W: []float64{1, 0, 0.5, 2}, H: []float64{1, 2, 3, 0, 1, 0}, NIter: 9, ReconstructionErr: 0.25},
		&KMeansModel{K: 2, D: 2, Centers: []float64{0, 0, 1, 1}, Order: []int{1, 0}, Inertia: 1,
			Scaler: Scaler{Kind: ScaleMinMax, Offset: []float64{0, 1}, Factor: []float64{2, 3}}},
		&KMeansModel{K: 1, D: 1, Centers: []float64{3}, Scaler: Scaler{Kind: ScaleNone}},
		sgd, holtAdd, holtMul, tf,
	}
	var out [][]byte
	for _, m := range marshalers {
		b, err := m.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	many, err := MarshalHoltModels([]*HoltModel{holtAdd, holtMul})
	if err != nil {
		t.Fatal(err)
	}
	return append(out, many)
}

// stDecoders decode b as every kind and, when that succeeds, use the
// model a little, re-encode it and decode that again: none of it may
// panic, and a decoded state must survive its own round trip.
func stDecoders(t *testing.T, b []byte) {
	ctx := context.Background()
	check := func(kind string, m interface {
		encoding.BinaryMarshaler
		encoding.BinaryUnmarshaler
	}, fresh func() encoding.BinaryUnmarshaler, use func()) {
		if err := m.UnmarshalBinary(b); err != nil {
			return
		}
		use()
		b2, err := m.MarshalBinary()
		if err != nil {
			t.Fatalf("%s: re-encode: %v", kind, err)
		}
		if err := fresh().UnmarshalBinary(b2); err != nil {
			t.Fatalf("%s: a decoded state does not decode after re-encoding: %v", kind, err)
		}
	}
	var cf UserCF
	check("usercf", &cf, func() encoding.BinaryUnmarshaler { return new(UserCF) }, func() {
		_, _ = cf.Recommend(0, 3, 2)
		_ = cf.Neighbors(cf.Users-1, 2)
	})
	var nmf NMFModel
	check("nmf", &nmf, func() encoding.BinaryUnmarshaler { return new(NMFModel) }, func() {
		_, _ = nmf.Recommend(nmf.Rows-1, []int{0, -1, 1 << 30}, 2)
		_ = nmf.Predict(0, nmf.Cols-1)
	})
	var km KMeansModel
	check("kmeans", &km, func() encoding.BinaryUnmarshaler { return new(KMeansModel) }, func() {
		_, _, _ = km.Assign(make([]float64, 2*km.D), 2)
	})
	var sgd SGDRegressor
	check("sgd", &sgd, func() encoding.BinaryUnmarshaler { return new(SGDRegressor) }, func() {
		_, _ = sgd.Predict(make([]float64, len(sgd.W)))
		_ = sgd.PartialFit(ctx, make([]float64, len(sgd.W)), []float64{1})
	})
	var holt HoltModel
	check("holt", &holt, func() encoding.BinaryUnmarshaler { return new(HoltModel) }, func() {
		_ = holt.Forecast(4)
		_, _, _ = holt.Interval(4, 0.9)
	})
	var tf TfidfIndex
	check("tfidf", &tf, func() encoding.BinaryUnmarshaler { return new(TfidfIndex) }, func() {
		_, _ = tf.TopN(tf.Len()-1, 2)
		if tf.Len() <= 64 {
			_, _ = tf.AllTopN(ctx, 2)
		}
	})
	if ms, err := UnmarshalHoltModels(b); err == nil {
		for _, m := range ms {
			_ = m.Forecast(3)
		}
		b2, err := MarshalHoltModels(ms)
		if err != nil {
			t.Fatalf("holt-many: re-encode: %v", err)
		}
		if _, err := UnmarshalHoltModels(b2); err != nil {
			t.Fatalf("holt-many: a decoded state does not decode after re-encoding: %v", err)
		}
	}
	_, _, _ = StateHeader(b)
}

// FuzzStateDecode feeds arbitrary bytes, and the same bytes with a
// correct CRC, to every state decoder. The seeds (f.Add and
// testdata/fuzz/FuzzStateDecode) are valid blobs of every kind.
func FuzzStateDecode(f *testing.F) {
	for _, b := range stSeedStates(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		stDecoders(t, b)
		stDecoders(t, stReseal(b))
	})
}

// TestWriteStateFuzzCorpus rewrites the committed seed corpus when
// FLYWHEEL_WRITE_STATE_CORPUS is set (after a format change).
func TestWriteStateFuzzCorpus(t *testing.T) {
	if os.Getenv("FLYWHEEL_WRITE_STATE_CORPUS") == "" {
		t.Skip("set FLYWHEEL_WRITE_STATE_CORPUS=1 to rewrite testdata/fuzz/FuzzStateDecode")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzStateDecode")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, b := range stSeedStates(t) {
		kind, ver, err := StateHeader(b)
		if err != nil {
			t.Fatal(err)
		}
		name := fmt.Sprintf("seed-%s-v%d", kind, ver)
		if kind == stateKindKMeans || kind == stateKindHolt {
			name += fmt.Sprintf("-%x", b[len(b)-4:]) // two seeds of these kinds
		}
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
