package functions

import (
	"context"
	"math"
	"reflect"
	"strings"
	"testing"
)

var seedProducts = []string{"High-performance laptop", "Latest smartphone model", "Affordable tablet", "High-resolution monitor"}

// SEED_EXAMPLES.md section 3.
func TestTfidfSeed(t *testing.T) {
	x, err := Tfidf(context.Background(), seedProducts, TfidfOptions{})
	if err != nil {
		t.Fatal(err)
	}
	wantVocab := strings.Fields("affordable high laptop latest model monitor performance resolution smartphone tablet")
	if !reflect.DeepEqual(x.Vocabulary, wantVocab) {
		t.Errorf("vocabulary = %v, want %v", x.Vocabulary, wantVocab)
	}
	for a := 0; a < 4; a++ {
		for b := 0; b < 4; b++ {
			want := 0.0
			switch {
			case a == b:
				want = 1
			case a+b == 3 && (a == 0 || b == 0):
				want = 0.2371049775288231
			}
			// Off the diagonal the seed's value comes out to the bit.
			tol := 0.0
			if a == b {
				tol = 1e-15
			}
			if got := x.Cosine(a, b); math.Abs(got-want) > tol {
				t.Errorf("cosine(%d,%d) = %.17g, want %.17g", a+1, b+1, got, want)
			}
		}
	}
	// "Bought the Smartphone, you may also like": all tie at 0, input order.
	top, err := x.TopN(1, 2)
	if err != nil {
		t.Fatal(err)
	}
	if want := []Scored{{0, 0}, {2, 0}}; !reflect.DeepEqual(top, want) {
		t.Errorf("TopN(smartphone, 2) = %v, want %v", top, want)
	}
	top, _ = x.TopN(3, 10)
	if len(top) != 3 || top[0].Index != 0 || top[0].Score != x.Cosine(3, 0) || top[1].Index != 1 || top[2].Index != 2 {
		t.Errorf("TopN(monitor, 10) = %v, want laptop (0.237...), smartphone, tablet", top)
	}
	all, err := x.AllTopN(context.Background(), 2)
	if err != nil {
		t.Fatal(err)
	}
	for d := range all {
		one, _ := x.TopN(d, 2)
		if !reflect.DeepEqual(all[d], one) {
			t.Errorf("AllTopN[%d] = %v, TopN = %v", d, all[d], one)
		}
	}
}

// Tokens as scikit-learn 1.2's build_analyzer() gives them (Python 3.11).
func TestTfidfTokens(t *testing.T) {
	cases := map[string][]string{
		"ΟΔΟΣ ΣΑΣ Σ.":                     {"οδος", "σας"},
		"İstanbul CAFÉ naïve x_y a b1 ab": {"stanbul", "café", "naïve", "x_y", "b1", "ab"},
		"日本語 テキスト 123 ½½ ²³":              {"日本語", "テキスト", "123", "½½", "²³"},
		"e\u0301te\u0301 Ǆemal ǅ":         {"te", "ǆemal"},
		"the and of THE ThE running":      {"running"},
		"ΣΑΣ'Σ":                           {"σασ"},
		"co-op\tdon't  foo_bar__ __":      {"op", "don", "foo_bar__", "__"},
		"":                                nil,
	}
	for in, want := range cases {
		var got []string
		tfidfTokens(pyLower(in), func(tok string) {
			if !isEnglishStopWord(tok) {
				got = append(got, tok)
			}
		})
		if !reflect.DeepEqual(got, want) {
			t.Errorf("tokens(%q) = %q, want %q", in, got, want)
		}
	}
}

// Documents with no usable token get the zero vector: similarity 0, never
// NaN; a corpus of only such documents still answers.
func TestTfidfZeroVectors(t *testing.T) {
	docs := []string{"", "the a of", "x y z", "laptop bag", "laptop"}
	x, err := Tfidf(context.Background(), docs, TfidfOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for a := range docs {
		for b := range docs {
			if s := x.Cosine(a, b); math.IsNaN(s) || (a < 3 && s != 0) {
				t.Errorf("cosine(%d,%d) = %v", a, b, s)
			}
		}
	}
	top, _ := x.TopN(0, 3)
	if want := []Scored{{1, 0}, {2, 0}, {3, 0}}; !reflect.DeepEqual(top, want) {
		t.Errorf("TopN(empty doc) = %v, want %v", top, want)
	}
	top, _ = x.TopN(4, 1)
	if len(top) != 1 || top[0].Index != 3 || !(top[0].Score > 0) {
		t.Errorf("TopN(laptop) = %v, want doc 3 first", top)
	}
	x, err = Tfidf(context.Background(), []string{"", "a"}, TfidfOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if top, _ := x.TopN(1, 5); !reflect.DeepEqual(top, []Scored{{0, 0}}) {
		t.Errorf("all-empty corpus: TopN = %v", top)
	}
	if _, err := Tfidf(context.Background(), nil, TfidfOptions{}); err == nil {
		t.Error("no documents: want an error")
	} else if ie, ok := AsInputError(err); !ok || ie.Arg != "input" {
		t.Errorf("no documents: err = %v, want InputError on input", err)
	}
	if _, err := x.TopN(0, 0); err == nil {
		t.Error("n = 0: want an error")
	}
}

func TestTfidfSublinearAndStopWords(t *testing.T) {
	docs := []string{"red red red car", "red car", "blue car the"}
	lin, _ := Tfidf(context.Background(), docs, TfidfOptions{})
	sub, _ := Tfidf(context.Background(), docs, TfidfOptions{SublinearTF: true})
	keep, _ := Tfidf(context.Background(), docs, TfidfOptions{KeepStopWords: true})
	// With tf 3 -> 1+ln 3, doc 0 moves towards doc 1.
	if !(sub.Cosine(0, 1) > lin.Cosine(0, 1)) {
		t.Errorf("sublinear tf: cosine %v not above linear %v", sub.Cosine(0, 1), lin.Cosine(0, 1))
	}
	if len(keep.Vocabulary) != len(lin.Vocabulary)+1 {
		t.Errorf("KeepStopWords vocabulary %v vs %v", keep.Vocabulary, lin.Vocabulary)
	}
}

// tfidfReference is testdata/reference/tfidf.json (gen_nmf_tfidf_cf.py).
type tfidfReference struct {
	Docs      []string
	Linear    tfidfRefFit
	Sublinear tfidfRefFit
}

type tfidfRefFit struct {
	Vocabulary []string
	IDF        []float64
	Top10      [][][2]float64
}

// The vocabulary, idf and every document's top-10 list must match
// scikit-learn's on ~500 generated descriptions (with repeats, stop-word
// only and empty documents, non-ASCII words): same neighbours in the same
// order, similarities to 1e-12.
func TestTfidfReference(t *testing.T) {
	var ref tfidfReference
	loadJSON(t, "tfidf.json", &ref)
	for _, c := range []struct {
		name string
		opt  TfidfOptions
		fit  tfidfRefFit
	}{{"linear", TfidfOptions{}, ref.Linear}, {"sublinear", TfidfOptions{SublinearTF: true}, ref.Sublinear}} {
		x, err := Tfidf(context.Background(), ref.Docs, c.opt)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(x.Vocabulary, c.fit.Vocabulary) {
			t.Fatalf("%s: vocabulary differs:\n got %q\nwant %q", c.name, x.Vocabulary, c.fit.Vocabulary)
		}
		for i, w := range c.fit.IDF {
			if math.Abs(x.IDF[i]-w) > 1e-15*w {
				t.Errorf("%s: idf[%s] = %v, want %v", c.name, x.Vocabulary[i], x.IDF[i], w)
			}
		}
		all, err := x.AllTopN(context.Background(), 10)
		if err != nil {
			t.Fatal(err)
		}
		for d, want := range c.fit.Top10 {
			got := all[d]
			if len(got) != len(want) {
				t.Fatalf("%s: doc %d: %d neighbours, want %d", c.name, d, len(got), len(want))
			}
			for r := range want {
				if got[r].Index != int(want[r][0]) || math.Abs(got[r].Score-want[r][1]) > 1e-12 {
					t.Errorf("%s: doc %d (%q) rank %d: %v, want %v", c.name, d, ref.Docs[d], r+1, got[r], want[r])
				}
			}
		}
	}
}

func TestEnglishStopWords(t *testing.T) {
	var words []string
	loadJSON(t, "stopwords_english.json", &words)
	if len(words) != 318 {
		t.Fatalf("%d stop words in the reference, want 318", len(words))
	}
	for _, w := range words {
		if !isEnglishStopWord(w) {
			t.Errorf("%q is not a stop word here", w)
		}
	}
	for _, w := range []string{"laptop", "model", "latest", "", "The"} {
		if isEnglishStopWord(w) {
			t.Errorf("%q should not be a stop word", w)
		}
	}
}

// corpusData is gen_nmf_tfidf_cf.py's corpus(), bit for bit.
func corpusData(nDocs, nWords int, seed uint32) []string {
	syl := []string{"ka", "lo", "mi", "ne", "ru", "ta", "vo", "zi", "pe", "su",
		"dor", "fen", "gal", "hix", "jun", "bre", "cla", "tro", "wen", "yst"}
	stops := []string{"the", "and", "with", "for", "of", "a", "in", "very", "new", "is"}
	extras := []string{"4K", "128GB", "USB-C", "café", "Crème", "naïve", "ÜBER", "ΣΟΦΙΑΣ",
		"x", "Wi-Fi", "e-mail", "über_cool", "日本", "½"}
	seps := []string{" ", " ", " ", "-", ", "}
	rng := NewRandomState(seed)
	docs := make([]string, 0, nDocs)
	for range nDocs {
		length := 4 + int(8*rng.Float64())
		parts := make([]string, 0, length)
		for range length {
			var w string
			switch r := rng.Float64(); {
			case r < 0.2:
				w = stops[int(10*rng.Float64())]
			case r < 0.25:
				w = extras[int(float64(len(extras))*rng.Float64())]
			default:
				a := rng.Float64()
				c := rng.Float64()
				j := int(float64(nWords) * (a * c))
				w = syl[j%20] + syl[(j/20)%20] + syl[(j/400)%20]
				if rng.Float64() < 0.1 {
					w = strings.ToUpper(w[:1]) + w[1:]
				}
			}
			parts = append(parts, w)
		}
		var b strings.Builder
		b.WriteString(parts[0])
		for _, w := range parts[1:] {
			b.WriteString(seps[int(5*rng.Float64())])
			b.WriteString(w)
		}
		docs = append(docs, b.String())
	}
	return docs
}

func TestCorpusDataMatchesPython(t *testing.T) {
	var ref tfidfReference
	loadJSON(t, "tfidf.json", &ref)
	if got := corpusData(480, 300, 5); !reflect.DeepEqual(got, ref.Docs[:480]) {
		t.Fatal("corpusData differs from gen_nmf_tfidf_cf.py's corpus()")
	}
}

// BenchmarkTfidfVectorize20k vectorises 20,000 short descriptions
// (bench_nmf_tfidf_cf.py times TfidfVectorizer on the same corpus).
func BenchmarkTfidfVectorize20k(b *testing.B) {
	docs := corpusData(20000, 5000, 7)
	for b.Loop() {
		if _, err := Tfidf(context.Background(), docs, TfidfOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTfidfTop10 is one top-10 query over those 20,000 documents.
func BenchmarkTfidfTop10(b *testing.B) {
	x, err := Tfidf(context.Background(), corpusData(20000, 5000, 7), TfidfOptions{})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, err := x.TopN((i*7919)%x.Len(), 10); err != nil {
			b.Fatal(err)
		}
	}
}
