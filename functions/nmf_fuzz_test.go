package functions

import (
	"context"
	"math"
	"strings"
	"testing"
)

// FuzzMatrixFactorization drives NMF, user CF and TF-IDF with random
// shapes and values decoded from the fuzz input (negative, zero, huge,
// NaN and infinite values, duplicate pairs, k out of range, every init).
// Nothing may panic; an error must be an *InputError; a result must be
// finite, non-negative where the algorithm says so, and consistent.
func FuzzMatrixFactorization(f *testing.F) {
	f.Add([]byte{4, 3, 2, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, "High-performance laptop\nLatest smartphone\n\nthe of")
	f.Add([]byte{1, 1, 1, 3, 0, 0, 255}, "a")
	f.Add([]byte{5, 4, 2, 1, 200, 201, 202, 0, 0, 0, 9, 9, 9}, "ΣΟΦΙΑΣ café\nCAFÉ")
	f.Add([]byte{2, 2, 9, 2}, "")
	f.Fuzz(func(t *testing.T, data []byte, text string) {
		if len(data) < 4 {
			return
		}
		n, m := int(data[0]%8), int(data[1]%8)
		k := int(data[2]%6) - 1
		init := []string{"nndsvda", "nndsvd", "nndsvdar", "random", "bogus"}[int(data[3])%5]
		var rows, cols []int
		var vals []float64
		for p := 4; p+2 < len(data) && len(rows) < 64; p += 3 {
			if n == 0 || m == 0 {
				break
			}
			rows = append(rows, int(data[p])%n)
			cols = append(cols, int(data[p+1])%m)
			var v float64
			switch b := data[p+2]; {
			case b == 255:
				v = math.NaN()
			case b == 254:
				v = math.Inf(1)
			case b == 253:
				v = 1e300
			case b >= 200:
				v = -float64(b - 199)
			default:
				v = float64(b) / 7
			}
			vals = append(vals, v)
		}
		ctx := context.Background()
		model, err := NMF(ctx, rows, cols, vals, n, m, NMFOptions{K: k, Init: init, MaxIter: 30})
		if err != nil {
			if _, ok := AsInputError(err); !ok {
				t.Fatalf("NMF: %v is not an InputError", err)
			}
		} else {
			for _, v := range append(append([]float64(nil), model.W...), model.H...) {
				if !(v >= 0) || math.IsInf(v, 0) {
					t.Fatalf("NMF factor entry %v", v)
				}
			}
			if math.IsNaN(model.ReconstructionErr) {
				t.Fatal("NMF: NaN reconstruction error")
			}
			if _, err := model.Recommend(0, []int{0}, 3); err != nil {
				t.Fatalf("NMF Recommend: %v", err)
			}
		}
		cf, err := NewUserCF(rows, cols, vals, n, m)
		if err != nil {
			if _, ok := AsInputError(err); !ok {
				t.Fatalf("NewUserCF: %v is not an InputError", err)
			}
		} else {
			for u := 0; u < n; u++ {
				recs, err := cf.Recommend(u, 1+int(data[0])%4, 1+int(data[1])%4)
				if err != nil {
					t.Fatalf("Recommend(%d): %v", u, err)
				}
				for _, r := range recs {
					if math.IsNaN(r.Score) {
						t.Fatalf("Recommend(%d): NaN score", u)
					}
				}
			}
		}
		docs := strings.Split(text, "\n")
		x, err := Tfidf(ctx, docs, TfidfOptions{SublinearTF: data[0]%2 == 1})
		if err != nil {
			t.Fatalf("Tfidf: %v", err)
		}
		all, err := x.AllTopN(ctx, 1+int(data[1])%5)
		if err != nil {
			t.Fatal(err)
		}
		for d, top := range all {
			for _, s := range top {
				if s.Index == d || !(s.Score >= 0 && s.Score <= 1+1e-12) {
					t.Fatalf("doc %d: neighbour %v", d, s)
				}
			}
		}
	})
}
