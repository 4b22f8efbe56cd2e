package functions

import (
	"math"
	"sync"
)

// UserCF is user-based collaborative filtering as SEED_EXAMPLES.md section
// 4 defines it on the dense user×item matrix (0 where a user has not rated
// an item): cosine similarity between users, the mean of the rows of the
// most similar other users, the user's unrated items ranked by that mean.
// It is computed sparsely — a query touches only the ratings of items the
// user rated and of the chosen neighbours — with the dense definition's
// results, ties included.
type UserCF struct {
	Users, Items int
	// Ratings by user (items ascending) and by item (users ascending);
	// unitVals are the values divided by the user's norm, as scikit-learn's
	// cosine_similarity normalises rows before the dot products.
	userPtr   []int
	userItems []int32
	userVals  []float64
	itemPtr   []int
	itemUsers []int32
	itemUnit  []float64
	userUnit  []float64

	// scratch keeps Neighbors' similarity buffers between calls (a
	// *cfScratch each), which would otherwise be Users floats allocated per
	// call.
	scratch *sync.Pool
}

// cfScratch is one Neighbors call's working space: similarities by user.
type cfScratch struct{ sims []float64 }

func newCFScratch(users int) *sync.Pool {
	return &sync.Pool{New: func() any { return &cfScratch{sims: make([]float64, users)} }}
}

// NewUserCF indexes ratings given as triples of dense user and item
// indices (see KeyIndex). An item is "rated" by a user when a triple
// names the pair, whatever its value. Errors are *InputError on
// "ratings": no ratings, a non-finite value or one beyond ±1e100, or a
// duplicated (user, item) pair (Row is the triple's position).
func NewUserCF(users, items []int, vals []float64, nUsers, nItems int) (*UserCF, error) {
	if len(users) != len(items) || len(users) != len(vals) {
		return nil, inputErr("ratings", "users, items and values differ in length (%d, %d, %d)", len(users), len(items), len(vals))
	}
	if len(users) == 0 || nUsers < 1 || nItems < 1 {
		return nil, inputErr("ratings", "no ratings")
	}
	for p := range users {
		if users[p] < 0 || users[p] >= nUsers || items[p] < 0 || items[p] >= nItems {
			return nil, rowErr("ratings", p, "index (%d, %d) outside %d users × %d items", users[p], items[p], nUsers, nItems)
		}
		if v := vals[p]; math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, rowErr("ratings", p, "rating %v is not a finite number", v)
		} else if math.Abs(v) > mfMaxValue {
			return nil, rowErr("ratings", p, "rating %v is too large (the limit is ±%g)", v, mfMaxValue)
		}
	}
	byUser, dup, first := mfBuildCSR(users, items, vals, nUsers, nItems)
	if dup >= 0 {
		return nil, rowErr("ratings", dup, "the same (user, item) pair was already rated at row %d", first+1)
	}
	m := &UserCF{Users: nUsers, Items: nItems, userPtr: byUser.ptr, userItems: byUser.idx, userVals: byUser.val, scratch: newCFScratch(nUsers)}
	m.userUnit = make([]float64, len(m.userVals))
	for u := 0; u < nUsers; u++ {
		lo, hi := m.userPtr[u], m.userPtr[u+1]
		ss := 0.0
		for p := lo; p < hi; p++ {
			ss += m.userVals[p] * m.userVals[p]
		}
		if ss == 0 {
			continue // a zero row stays zero: similarity 0 to everyone
		}
		nrm := math.Sqrt(ss)
		for p := lo; p < hi; p++ {
			m.userUnit[p] = m.userVals[p] / nrm
		}
	}
	unit := &mfCSR{n: nUsers, m: nItems, ptr: m.userPtr, idx: m.userItems, val: m.userUnit}
	byItem := unit.transpose()
	m.itemPtr, m.itemUsers, m.itemUnit = byItem.ptr, byItem.idx, byItem.val
	return m, nil
}

// Similarities returns the cosine similarity of user u to every user
// (u's own entry included), summing over u's items in item order.
func (m *UserCF) Similarities(u int) []float64 {
	sims := make([]float64, m.Users)
	m.similaritiesInto(u, sims)
	return sims
}

// similaritiesInto adds u's similarities to sims (zero on entry).
func (m *UserCF) similaritiesInto(u int, sims []float64) {
	for p := m.userPtr[u]; p < m.userPtr[u+1]; p++ {
		a := m.userUnit[p]
		if a == 0 {
			continue
		}
		i := m.userItems[p]
		for q := m.itemPtr[i]; q < m.itemPtr[i+1]; q++ {
			sims[m.itemUsers[q]] += a * m.itemUnit[q]
		}
	}
}

// Rated returns the items user u rated, ascending.
func (m *UserCF) Rated(u int) []int32 {
	return m.userItems[m.userPtr[u]:m.userPtr[u+1]]
}

// Neighbors returns the k users most similar to u, u excluded, highest
// first, ties in user order (users with similarity 0 fill the list when
// fewer than k overlap with u, as in the dense definition).
func (m *UserCF) Neighbors(u, k int) []Scored {
	pool := m.scratch
	if pool == nil {
		pool = newCFScratch(m.Users)
	}
	sc := pool.Get().(*cfScratch)
	sims := sc.sims
	m.similaritiesInto(u, sims)
	h := scoredHeap{n: k}
	for v, s := range sims {
		// Users arrive in order, so a tie with the current worst loses.
		if v == u || len(h.data) == k && (k == 0 || s <= h.data[0].Score) {
			continue
		}
		h.offer(Scored{v, s})
	}
	clear(sims)
	pool.Put(sc)
	return h.sorted()
}

// Recommend returns user u's top n unrated items with their scores, the
// mean rating (0 when not rated) over u's `neighbors` most similar users,
// highest first, ties in item order. Items nobody among the neighbours
// rated score 0 and may appear when fewer than n score otherwise. A
// user with no other users to compare with gets an empty list. Errors are
// *InputError on "user", "n" or "neighbors".
func (m *UserCF) Recommend(u, n, neighbors int) ([]Scored, error) {
	if u < 0 || u >= m.Users {
		return nil, inputErr("user", "user %d out of range [0, %d)", u, m.Users)
	}
	if n < 1 {
		return nil, inputErr("n", "must be at least 1, got %d", n)
	}
	if neighbors < 1 {
		return nil, inputErr("neighbors", "must be at least 1, got %d", neighbors)
	}
	nb := m.Neighbors(u, neighbors)
	if len(nb) == 0 {
		return nil, nil
	}
	scores := make([]float64, m.Items)
	for _, s := range nb {
		v := s.Index
		for p := m.userPtr[v]; p < m.userPtr[v+1]; p++ {
			scores[m.userItems[p]] += m.userVals[p]
		}
	}
	k := float64(len(nb))
	for i := range scores {
		scores[i] /= k
	}
	rated := make([]bool, m.Items)
	for _, i := range m.Rated(u) {
		rated[i] = true
	}
	return topNDense(scores, n, func(i int) bool { return rated[i] }), nil
}

// Recommend ranks row u's predicted scores (W·H) over the columns not in
// rated, highest first, ties in column order, and keeps n. Errors are
// *InputError on "user" or "n".
func (m *NMFModel) Recommend(u int, rated []int, n int) ([]Scored, error) {
	if u < 0 || u >= m.Rows {
		return nil, inputErr("user", "user %d out of range [0, %d)", u, m.Rows)
	}
	if n < 1 {
		return nil, inputErr("n", "must be at least 1, got %d", n)
	}
	skip := make([]bool, m.Cols)
	for _, j := range rated {
		if j >= 0 && j < m.Cols {
			skip[j] = true
		}
	}
	return topNDense(m.PredictRow(u, nil), n, func(j int) bool { return skip[j] }), nil
}

// Ratings returns the indexed ratings as triples of dense indices, by
// user and then item ascending: what NewUserCF would index again, for a
// model that learns new ratings.
func (m *UserCF) Ratings() (users, items []int, vals []float64) {
	n := len(m.userItems)
	users, items, vals = make([]int, n), make([]int, n), make([]float64, n)
	for u := 0; u < m.Users; u++ {
		for p := m.userPtr[u]; p < m.userPtr[u+1]; p++ {
			users[p], items[p], vals[p] = u, int(m.userItems[p]), m.userVals[p]
		}
	}
	return users, items, vals
}
