package functions

// The sparse path of a user_cf query. When u's items have few raters
// compared with the users (the demo: 10,000 products, about 90 raters
// each, against 48,000 users), a query touches a few thousand users, and
// the recommendation step a few hundred items: ranking only those, and
// the untouched ones by the rule that they all score exactly 0, beats
// visiting every user and every item. The results are the dense
// definition's, bit for bit: the same sums in the same order, and the
// same ties (a higher score, then a lower index, wins).

// sparseShare is how many users per posting a query must have for the
// sparse path: with fewer, most users are touched anyway, and the blocked
// scan over all of them is faster.
const sparseShare = 4

// sparseNeighbors reports whether u's neighbours are found on the sparse
// path: u's item lists hold few postings for the users.
func (m *UserCF) sparseNeighbors(u int) bool {
	postings := 0
	for p := m.userPtr[u]; p < m.userPtr[u+1]; p++ {
		i := m.userItems[p]
		postings += m.itemPtr[i+1] - m.itemPtr[i]
	}
	return postings*sparseShare <= m.Users
}

// sparseItems reports whether the items of neighbours nb are ranked on
// the sparse path: they rated few of the items.
func (m *UserCF) sparseItems(nb []Scored) bool {
	ratings := 0
	for _, s := range nb {
		ratings += m.userPtr[s.Index+1] - m.userPtr[s.Index]
	}
	return ratings*sparseShare <= m.Items
}

// sparseScratch is the sparse path's working space, kept in cfScratch:
// similarities by user and scores by item, each with a mark and the
// list of the touched ones, all cleared after use.
type sparseScratch struct {
	sims      []float64
	userMark  []bool
	users     []int32
	scores    []float64
	itemMark  []bool
	items     []int32
	ratedMark []bool
}

func (sc *sparseScratch) size(users, items int) {
	if len(sc.sims) < users {
		sc.sims, sc.userMark = make([]float64, users), make([]bool, users)
	}
	if len(sc.scores) < items {
		sc.scores, sc.itemMark, sc.ratedMark = make([]float64, items), make([]bool, items), make([]bool, items)
	}
}

// neighborsSparse is neighbors for a query on the sparse path.
func (m *UserCF) neighborsSparse(u, k int, sc *sparseScratch) []Scored {
	h := scoredHeap{n: k}
	if k <= 0 {
		return h.sorted()
	}
	sims, mark, touched := sc.sims, sc.userMark, sc.users[:0]
	for p := m.userPtr[u]; p < m.userPtr[u+1]; p++ {
		a := m.userUnit[p]
		if a == 0 {
			continue
		}
		i := m.userItems[p]
		lo, hi := m.itemPtr[i], m.itemPtr[i+1]
		for q, v := range m.itemUsers[lo:hi] {
			if !mark[v] {
				mark[v] = true
				touched = append(touched, v)
			}
			sims[v] += a * m.itemUnit[lo+q]
		}
	}
	for _, v := range touched {
		// Most touched users fall below the worst kept: test before
		// offering (a tie may still win on its index).
		if s := sims[v]; int(v) != u && (len(h.data) < k || s >= h.data[0].Score) {
			h.offer(Scored{int(v), s})
		}
	}
	// Every untouched user scores exactly 0; of those, the k lowest
	// indices are the only ones that can rank.
	for v, n := 0, 0; v < m.Users && n < k; v++ {
		if !mark[v] && v != u {
			h.offer(Scored{v, 0})
			n++
		}
	}
	for _, v := range touched {
		sims[v], mark[v] = 0, false
	}
	sc.users = touched
	return h.sorted()
}

// recommendSparse is Recommend's ranking of items for neighbours nb on
// the sparse path: the mean over nb of each item's rating (0 where not
// rated), u's rated items left out.
func (m *UserCF) recommendSparse(u, n int, nb []Scored, sc *sparseScratch) []Scored {
	scores, mark, touched, rated := sc.scores, sc.itemMark, sc.items[:0], sc.ratedMark
	for _, s := range nb {
		v := s.Index
		for p := m.userPtr[v]; p < m.userPtr[v+1]; p++ {
			i := m.userItems[p]
			if !mark[i] {
				mark[i] = true
				touched = append(touched, i)
			}
			scores[i] += m.userVals[p]
		}
	}
	for _, i := range m.Rated(u) {
		rated[i] = true
	}
	k := float64(len(nb))
	h := scoredHeap{n: n}
	for _, i := range touched {
		if !rated[i] {
			h.offer(Scored{int(i), scores[i] / k})
		}
	}
	for i, c := 0, 0; i < m.Items && c < n; i++ {
		if !mark[i] && !rated[i] {
			h.offer(Scored{i, 0})
			c++
		}
	}
	for _, i := range touched {
		scores[i], mark[i] = 0, false
	}
	for _, i := range m.Rated(u) {
		rated[i] = false
	}
	sc.items = touched
	return h.sorted()
}
