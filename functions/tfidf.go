package functions

import (
	"context"
	"fmt"
	"maps"
	"math"
	"slices"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"
)

// TfidfOptions configures the vectoriser. The zero value is scikit-learn's
// TfidfVectorizer(stop_words='english') with its other defaults:
// lower-casing, token pattern (?u)\b\w\w+\b, smooth idf, raw term counts,
// l2-normalised rows.
type TfidfOptions struct {
	// SublinearTF replaces a term count tf by 1 + ln(tf).
	SublinearTF bool
	// KeepStopWords keeps scikit-learn's English stop words (stop_words=None).
	KeepStopWords bool
}

// TfidfIndex holds the l2-normalised TF-IDF vectors of a set of documents
// and an inverted index over them, so a top-n query touches only the
// documents that share a term with the query.
type TfidfIndex struct {
	// Vocabulary lists the terms in sorted order (scikit-learn's
	// get_feature_names_out); term ids index it.
	Vocabulary []string
	// IDF is ln((1+n)/(1+df)) + 1 per term.
	IDF []float64
	// Document d's vector is DocTerms/DocWeights[DocPtr[d]:DocPtr[d+1]],
	// terms ascending.
	DocPtr     []int
	DocTerms   []int32
	DocWeights []float64

	// Postings of term t: postDocs/postWeights[postPtr[t]:postPtr[t+1]],
	// documents ascending.
	postPtr     []int
	postDocs    []int32
	postWeights []float64
}

// Scored is a dense index (a document, an item, a user) with its score.
type Scored struct {
	Index int
	Score float64
}

// Tfidf vectorises docs as scikit-learn's TfidfVectorizer does (see
// TfidfOptions). An empty document, or one made only of stop words and
// one-character tokens, gets the zero vector: its similarity to everything
// is 0 (scikit-learn would refuse a corpus whose vocabulary is entirely
// empty; here every similarity is then 0). Errors: *InputError "input" for
// no documents, or the context's error.
func Tfidf(ctx context.Context, docs []string, opt TfidfOptions) (*TfidfIndex, error) {
	if len(docs) == 0 {
		return nil, inputErr("input", "no documents to vectorise")
	}
	nd := len(docs)
	// Tokenise and count in fixed chunks, each with its own local
	// vocabulary, then merge: the result does not depend on the cores.
	const chunk = 1024
	nc := (nd + chunk - 1) / chunk
	type entry struct{ term, count int32 }
	type part struct {
		terms   []string // local id -> term
		ptr     []int    // per document of the chunk, into ents
		ents    []entry
		cancels bool
	}
	parts := make([]part, nc)
	mfParallel(nd, chunk, func(lo, hi int) {
		p := &parts[lo/chunk]
		if ctx.Err() != nil {
			p.cancels = true
			return
		}
		local := make(map[string]int32)
		slot := []int32{} // local id -> position in the current doc's entries, +1
		p.ptr = make([]int, 1, hi-lo+1)
		for d := lo; d < hi; d++ {
			start := len(p.ents)
			tfidfTokens(pyLower(docs[d]), func(tok string) {
				if !opt.KeepStopWords && isEnglishStopWord(tok) {
					return
				}
				id, ok := local[tok]
				if !ok {
					id = int32(len(p.terms))
					local[tok] = id
					p.terms = append(p.terms, tok)
					slot = append(slot, 0)
				}
				if s := slot[id]; s > 0 {
					p.ents[s-1].count++
					return
				}
				p.ents = append(p.ents, entry{id, 1})
				slot[id] = int32(len(p.ents))
			})
			for _, e := range p.ents[start:] {
				slot[e.term] = 0
			}
			p.ptr = append(p.ptr, len(p.ents))
		}
	})
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("tfidf: %w", err)
	}
	// Global vocabulary: the sorted union of the local ones (copied out of
	// the documents they are cut from).
	global := make(map[string]int32)
	for i := range parts {
		for _, t := range parts[i].terms {
			if _, ok := global[t]; !ok {
				global[strings.Clone(t)] = 0
			}
		}
	}
	vocab := slices.Sorted(maps.Keys(global))
	for i, t := range vocab {
		global[t] = int32(i)
	}
	x := &TfidfIndex{Vocabulary: vocab, DocPtr: make([]int, nd+1)}
	total := 0
	for i := range parts {
		total += len(parts[i].ents)
	}
	x.DocTerms = make([]int32, 0, total)
	counts := make([]float64, 0, total)
	df := make([]int, len(vocab))
	var buf []entry
	for i := range parts {
		p := &parts[i]
		remap := make([]int32, len(p.terms))
		for l, t := range p.terms {
			remap[l] = global[t]
		}
		for d := 0; d+1 < len(p.ptr); d++ {
			buf = append(buf[:0], p.ents[p.ptr[d]:p.ptr[d+1]]...)
			for j := range buf {
				buf[j].term = remap[buf[j].term]
			}
			slices.SortFunc(buf, func(a, b entry) int { return int(a.term - b.term) })
			for _, e := range buf {
				x.DocTerms = append(x.DocTerms, e.term)
				counts = append(counts, float64(e.count))
				df[e.term]++
			}
			x.DocPtr[i*chunk+d+1] = len(x.DocTerms)
		}
	}
	x.IDF = make([]float64, len(vocab))
	for t, f := range df {
		x.IDF[t] = math.Log(float64(nd+1)/float64(f+1)) + 1
	}
	x.DocWeights = counts
	for d := 0; d < nd; d++ {
		lo, hi := x.DocPtr[d], x.DocPtr[d+1]
		ss := 0.0
		for p := lo; p < hi; p++ {
			tf := counts[p]
			if opt.SublinearTF {
				tf = math.Log(tf) + 1
			}
			w := tf * x.IDF[x.DocTerms[p]]
			x.DocWeights[p] = w
			ss += w * w
		}
		if ss > 0 {
			nrm := math.Sqrt(ss)
			for p := lo; p < hi; p++ {
				x.DocWeights[p] /= nrm
			}
		}
	}
	x.buildPostings()
	return x, nil
}

// buildPostings inverts the document vectors.
func (x *TfidfIndex) buildPostings() {
	x.postPtr, x.postDocs, x.postWeights = csrTranspose(x.DocPtr, x.DocTerms, x.DocWeights, len(x.Vocabulary))
}

// Len is the number of documents.
func (x *TfidfIndex) Len() int { return len(x.DocPtr) - 1 }

// Cosine is the cosine similarity of documents a and b (0 when either is
// the zero vector). It sums over shared terms in term order, as TopN does,
// so the two agree to the bit.
func (x *TfidfIndex) Cosine(a, b int) float64 {
	pa, ea := x.DocPtr[a], x.DocPtr[a+1]
	pb, eb := x.DocPtr[b], x.DocPtr[b+1]
	s := 0.0
	for pa < ea && pb < eb {
		switch ta, tb := x.DocTerms[pa], x.DocTerms[pb]; {
		case ta < tb:
			pa++
		case ta > tb:
			pb++
		default:
			s += x.DocWeights[pa] * x.DocWeights[pb]
			pa++
			pb++
		}
	}
	return s
}

// TopN returns the n documents most similar to document d, d itself
// excluded, highest first, ties in document order. Documents sharing no
// term with d score 0 and fill the list, in document order, when fewer
// than n share one. Errors: *InputError "n" for n < 1, "item" for d out
// of range.
func (x *TfidfIndex) TopN(d, n int) ([]Scored, error) {
	if n < 1 {
		return nil, inputErr("n", "must be at least 1, got %d", n)
	}
	if d < 0 || d >= x.Len() {
		return nil, inputErr("item", "document %d out of range [0, %d)", d, x.Len())
	}
	acc := make([]float64, x.Len())
	var touched []int32
	return x.topN(d, n, acc, &touched), nil
}

// AllTopN is TopN for every document, in parallel.
func (x *TfidfIndex) AllTopN(ctx context.Context, n int) ([][]Scored, error) {
	if n < 1 {
		return nil, inputErr("n", "must be at least 1, got %d", n)
	}
	nd := x.Len()
	out := make([][]Scored, nd)
	mfParallel(nd, 256, func(lo, hi int) {
		if ctx.Err() != nil {
			return
		}
		acc := make([]float64, nd)
		var touched []int32
		for d := lo; d < hi; d++ {
			out[d] = x.topN(d, n, acc, &touched)
		}
	})
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("tfidf: %w", err)
	}
	return out, nil
}

// topN scores through the postings into acc, which is all zero on entry
// and on return; touched is scratch space.
func (x *TfidfIndex) topN(d, n int, acc []float64, touchedBuf *[]int32) []Scored {
	touched := (*touchedBuf)[:0]
	for p := x.DocPtr[d]; p < x.DocPtr[d+1]; p++ {
		t := x.DocTerms[p]
		wq := x.DocWeights[p]
		for q := x.postPtr[t]; q < x.postPtr[t+1]; q++ {
			e := x.postDocs[q]
			if acc[e] == 0 {
				touched = append(touched, e)
			}
			acc[e] += wq * x.postWeights[q]
		}
	}
	var h scoredHeap
	h.n = n
	for _, e := range touched {
		if int(e) != d && acc[e] > 0 {
			h.offer(Scored{int(e), acc[e]})
		}
	}
	out := h.sorted()
	if len(out) < n {
		for e := 0; e < len(acc) && len(out) < n; e++ {
			if e != d && acc[e] == 0 {
				out = append(out, Scored{e, 0})
			}
		}
	}
	for _, e := range touched {
		acc[e] = 0
	}
	*touchedBuf = touched
	return out
}

// scoredHeap keeps the n best Scored values seen, best meaning a higher
// score, then a lower index. It is a heap with the worst kept at the root.
type scoredHeap struct {
	n    int
	data []Scored
}

func scoredBetter(a, b Scored) bool {
	return a.Score > b.Score || (a.Score == b.Score && a.Index < b.Index)
}

func (h *scoredHeap) offer(s Scored) {
	if len(h.data) < h.n {
		h.data = append(h.data, s)
		for i := len(h.data) - 1; i > 0; {
			p := (i - 1) / 2
			if !scoredBetter(h.data[p], h.data[i]) {
				break
			}
			h.data[p], h.data[i] = h.data[i], h.data[p]
			i = p
		}
		return
	}
	if h.n == 0 || !scoredBetter(s, h.data[0]) {
		return
	}
	h.data[0] = s
	for i := 0; ; {
		l, r, worst := 2*i+1, 2*i+2, i
		if l < len(h.data) && scoredBetter(h.data[worst], h.data[l]) {
			worst = l
		}
		if r < len(h.data) && scoredBetter(h.data[worst], h.data[r]) {
			worst = r
		}
		if worst == i {
			break
		}
		h.data[i], h.data[worst] = h.data[worst], h.data[i]
		i = worst
	}
}

// sorted returns the kept values best first.
func (h *scoredHeap) sorted() []Scored {
	out := h.data
	sort.Slice(out, func(a, b int) bool { return scoredBetter(out[a], out[b]) })
	return out
}

// topNDense ranks the indices of a dense score vector, skipping those skip
// reports, and keeps the n best (higher score, then lower index).
func topNDense(scores []float64, n int, skip func(i int) bool) []Scored {
	h := scoredHeap{n: n}
	for i, s := range scores {
		if skip != nil && skip(i) {
			continue
		}
		// Indices arrive ascending, so a tie with the current worst loses.
		if len(h.data) == n && (n == 0 || s <= h.data[0].Score) {
			continue
		}
		h.offer(Scored{i, s})
	}
	return h.sorted()
}

// tfidfTokens calls emit for each token of the (already lower-cased) text
// as Python's re.findall(r"(?u)\b\w\w+\b") finds them: maximal runs of
// two or more word characters (letters, numbers, underscore).
func tfidfTokens(s string, emit func(string)) {
	start, runes := -1, 0
	for i := 0; i < len(s); {
		var r rune
		size := 1
		if c := s[i]; c < utf8.RuneSelf {
			r = rune(c)
		} else {
			r, size = utf8.DecodeRuneInString(s[i:])
		}
		if isWordRune(r) {
			if start < 0 {
				start, runes = i, 0
			}
			runes++
		} else if start >= 0 {
			if runes >= 2 {
				emit(s[start:i])
			}
			start = -1
		}
		i += size
	}
	if start >= 0 && runes >= 2 {
		emit(s[start:])
	}
}

// isWordRune is Python's \w for str patterns: alphanumeric (str.isalnum:
// letters and numbers) or underscore.
func isWordRune(r rune) bool {
	if r < utf8.RuneSelf {
		return r == '_' || ('a' <= r && r <= 'z') || ('A' <= r && r <= 'Z') || ('0' <= r && r <= '9')
	}
	return unicode.IsLetter(r) || unicode.IsNumber(r)
}

// pyLower is Python's str.lower: the simple lower-case mapping plus the
// two special cases that differ from Go's strings.ToLower — İ (U+0130)
// becomes "i̇" (i and a combining dot), and a capital sigma at the end of
// a word becomes final sigma ς.
func pyLower(s string) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		return strings.ToLower(s)
	}
	rs := []rune(s)
	var b strings.Builder
	b.Grow(len(s))
	for i, r := range rs {
		switch r {
		case 0x130:
			b.WriteString("i\u0307")
		case 0x3A3:
			if finalSigma(rs, i) {
				b.WriteRune(0x3C2)
			} else {
				b.WriteRune(0x3C3)
			}
		default:
			b.WriteRune(unicode.ToLower(r))
		}
	}
	return b.String()
}

// finalSigma is CPython's Final_Sigma test: a cased letter (past any
// case-ignorable ones) before position i, and none after it.
func finalSigma(rs []rune, i int) bool {
	j := i - 1
	for j >= 0 && caseIgnorable(rs[j]) {
		j--
	}
	if j < 0 || !cased(rs[j]) {
		return false
	}
	j = i + 1
	for j < len(rs) && caseIgnorable(rs[j]) {
		j++
	}
	return j == len(rs) || !cased(rs[j])
}

// cased is Unicode's Cased property.
func cased(r rune) bool {
	return unicode.IsUpper(r) || unicode.IsLower(r) || unicode.IsTitle(r) ||
		unicode.Is(unicode.Other_Lowercase, r) || unicode.Is(unicode.Other_Uppercase, r)
}

// caseIgnorable is Unicode's Case_Ignorable property: marks, format
// characters, modifier letters and symbols, and the word-internal
// punctuation of Word_Break MidLetter, MidNumLet and Single_Quote.
func caseIgnorable(r rune) bool {
	switch r {
	case '\'', '.', ':', 0xB7, 0x387, 0x55F, 0x5F4, 0x2018, 0x2019, 0x2024, 0x2027,
		0xFE13, 0xFE52, 0xFE55, 0xFF07, 0xFF0E, 0xFF1A:
		return true
	}
	return unicode.In(r, unicode.Mn, unicode.Me, unicode.Cf, unicode.Lm, unicode.Sk)
}
