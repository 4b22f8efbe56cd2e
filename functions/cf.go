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

// cfScratch is one Neighbors or Recommend call's working space:
// similarities by user (Neighbors uses the first cfBlock), the cursors
// into the item lists of the user's items, and Recommend's item scores.
type cfScratch struct {
	sims   []float64
	a      []float64
	cur    []int
	end    []int
	scores []float64
	rated  []bool
	sp     sparseScratch
}

func newCFScratch(users int) *sync.Pool {
	return &sync.Pool{New: func() any { return &cfScratch{sims: make([]float64, users)} }}
}

// cfBlock is how many users' similarities Neighbors accumulates at a
// time: 16 KB of float64s stay in the L1 cache while the item lists
// scatter into them, and are ranked and cleared while still there.
const cfBlock = 2048

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
	byUser, err := cfRatings(users, items, vals, nUsers, nItems)
	if err != nil {
		return nil, err
	}
	m := &UserCF{Users: nUsers, Items: nItems, userPtr: byUser.ptr, userItems: byUser.idx, userVals: byUser.val, scratch: newCFScratch(nUsers)}
	m.index()
	return m, nil
}

// cfRatings checks rating triples (indices in range, finite values within
// ±mfMaxValue, no pair twice) and indexes them by user, items ascending.
func cfRatings(users, items []int, vals []float64, nUsers, nItems int) (*mfCSR, error) {
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
	return byUser, nil
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
	nb := m.neighbors(u, k, sc)
	pool.Put(sc)
	return nb
}

// neighbors is Neighbors with sc's buffers, on the sparse path
// (cf_sparse.go) when u's items have few raters.
func (m *UserCF) neighbors(u, k int, sc *cfScratch) []Scored {
	if m.sparseNeighbors(u) {
		sc.sp.size(m.Users, m.Items)
		return m.neighborsSparse(u, k, &sc.sp)
	}
	return m.neighborsBlocked(u, k, sc)
}

// neighborsBlocked is neighbors over every user, a block at a time: each
// of u's item lists (users ascending) adds the block's part of its list,
// so every user's similarity is still summed over u's items in item
// order, and the block is ranked straight after.
func (m *UserCF) neighborsBlocked(u, k int, sc *cfScratch) []Scored {
	h := scoredHeap{n: k}
	if k <= 0 {
		return h.sorted()
	}
	a, cur, end := sc.a[:0], sc.cur[:0], sc.end[:0]
	for p := m.userPtr[u]; p < m.userPtr[u+1]; p++ {
		if m.userUnit[p] != 0 {
			i := m.userItems[p]
			a, cur, end = append(a, m.userUnit[p]), append(cur, m.itemPtr[i]), append(end, m.itemPtr[i+1])
		}
	}
	sc.a, sc.cur, sc.end = a, cur, end
	users, unit := m.itemUsers, m.itemUnit
	if len(sc.sims) < min(cfBlock, m.Users) {
		sc.sims = make([]float64, min(cfBlock, m.Users)) // a pool shared with a smaller model
	}
	blk := sc.sims[:min(cfBlock, m.Users)]
	for lo := 0; lo < m.Users; lo += len(blk) {
		blk := blk[:min(len(blk), m.Users-lo)]
		for j, q := range cur {
			w := a[j]
			us := users[q:end[j]]
			un := unit[q:end[j]]
			un = un[:len(us)]
			t := 0
			for ; t < len(us); t++ {
				v := int(us[t]) - lo
				if uint(v) >= uint(len(blk)) {
					break // the rest of the list is in later blocks
				}
				blk[v] += w * un[t]
			}
			cur[j] = q + t
		}
		if uint(u-lo) < uint(len(blk)) {
			// u never ranks: below every finite similarity.
			blk[u-lo] = math.Inf(-1)
		}
		v := 0
		for ; v < len(blk) && len(h.data) < k; v++ {
			if lo+v != u {
				h.offer(Scored{lo + v, blk[v]})
			}
		}
		if len(h.data) == k {
			// Users arrive in order, so a tie with the current worst loses.
			thr := h.data[0].Score
			// Four at a time: almost every user is below the threshold,
			// and one predictable branch per four costs far less than
			// the loop's overhead per user.
			for ; v+4 <= len(blk); v += 4 {
				q := blk[v : v+4 : v+4]
				if q[0] <= thr && q[1] <= thr && q[2] <= thr && q[3] <= thr {
					continue
				}
				for j, s := range q {
					if s > thr {
						h.offer(Scored{lo + v + j, s})
						thr = h.data[0].Score
					}
				}
			}
			for ; v < len(blk); v++ {
				if s := blk[v]; s > thr {
					h.offer(Scored{lo + v, s})
					thr = h.data[0].Score
				}
			}
		}
		clear(blk)
	}
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
	pool := m.scratch
	if pool == nil {
		pool = newCFScratch(m.Users)
	}
	sc := pool.Get().(*cfScratch)
	defer pool.Put(sc)
	nb := m.neighbors(u, neighbors, sc)
	if len(nb) == 0 {
		return nil, nil
	}
	if m.sparseItems(nb) {
		sc.sp.size(m.Users, m.Items)
		return m.recommendSparse(u, n, nb, &sc.sp), nil
	}
	return m.recommendDense(u, n, nb, sc), nil
}

// recommendDense is Recommend's ranking of items for neighbours nb over
// every item.
func (m *UserCF) recommendDense(u, n int, nb []Scored, sc *cfScratch) []Scored {
	if len(sc.scores) < m.Items {
		sc.scores, sc.rated = make([]float64, m.Items), make([]bool, m.Items)
	}
	scores, rated := sc.scores[:m.Items], sc.rated[:m.Items]
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
	for _, i := range m.Rated(u) {
		rated[i] = true
	}
	recs := topNDense(scores, n, func(i int) bool { return rated[i] })
	clear(scores)
	clear(rated)
	return recs
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
