package functions

import (
	"maps"
	"math"
)

// Learn returns the model NewUserCF would build from m's ratings plus new
// ones, without sorting or checking the stored ratings again: each user's
// row is copied, or merged with its new ratings (a new rating of a pair
// already rated replaces it), and the derived arrays rebuilt as decoding
// does. New keys may renumber users and items: userAt[u] and itemAt[i]
// are where m's user u and item i go among nUsers and nItems, and must
// increase (keys keep their order); users, items and vals are the new
// ratings in the new numbering. m is unchanged. Errors are *InputError on
// "ratings", with Row the new rating's position, as NewUserCF's are.
func (m *UserCF) Learn(userAt, itemAt []int, users, items []int, vals []float64, nUsers, nItems int) (*UserCF, error) {
	if len(userAt) != m.Users || len(itemAt) != m.Items {
		return nil, inputErr("ratings", "%d users and %d items renumbered, the model has %d and %d", len(userAt), len(itemAt), m.Users, m.Items)
	}
	if len(users) != len(items) || len(users) != len(vals) {
		return nil, inputErr("ratings", "users, items and values differ in length (%d, %d, %d)", len(users), len(items), len(vals))
	}
	for u, at := range userAt {
		if at < 0 || at >= nUsers || u > 0 && at <= userAt[u-1] {
			return nil, inputErr("ratings", "user %d renumbered to %d: not increasing within %d users", u, at, nUsers)
		}
	}
	for i, at := range itemAt {
		if at < 0 || at >= nItems || i > 0 && at <= itemAt[i-1] || nItems-1 > math.MaxInt32 {
			return nil, inputErr("ratings", "item %d renumbered to %d: not increasing within %d items", i, at, nItems)
		}
	}
	// The new ratings by user, items ascending: few, so sorting them is
	// cheap; the stored ones are already in that order.
	fresh, err := cfRatings(users, items, vals, nUsers, nItems)
	if err != nil {
		return nil, err
	}
	old := make([]int, nUsers) // m's user at each new index, or -1
	for u := range old {
		old[u] = -1
	}
	for u, at := range userAt {
		old[at] = u
	}
	sameItems := nItems == m.Items // then itemAt is the identity
	ptr := make([]int, nUsers+1)
	idx := make([]int32, 0, len(m.userItems)+len(vals))
	val := make([]float64, 0, len(m.userItems)+len(vals))
	for u := 0; u < nUsers; u++ {
		var oi []int32
		var ov []float64
		if o := old[u]; o >= 0 {
			oi, ov = m.userItems[m.userPtr[o]:m.userPtr[o+1]], m.userVals[m.userPtr[o]:m.userPtr[o+1]]
		}
		ni, nv := fresh.idx[fresh.ptr[u]:fresh.ptr[u+1]], fresh.val[fresh.ptr[u]:fresh.ptr[u+1]]
		if len(ni) == 0 && sameItems {
			idx, val = append(idx, oi...), append(val, ov...)
			ptr[u+1] = len(idx)
			continue
		}
		a, b := 0, 0
		for a < len(oi) || b < len(ni) {
			var ia int32 = math.MaxInt32
			if a < len(oi) {
				ia = int32(itemAt[oi[a]])
			}
			switch {
			case b == len(ni) || a < len(oi) && ia < ni[b]:
				idx, val = append(idx, ia), append(val, ov[a])
				a++
			case a < len(oi) && ia == ni[b]: // replaced
				idx, val = append(idx, ni[b]), append(val, nv[b])
				a, b = a+1, b+1
			default:
				idx, val = append(idx, ni[b]), append(val, nv[b])
				b++
			}
		}
		ptr[u+1] = len(idx)
	}
	r := &UserCF{Users: nUsers, Items: nItems, userPtr: ptr, userItems: idx, userVals: val, scratch: newCFScratch(nUsers)}
	r.index()
	return r, nil
}

// NumRatings is the number of ratings indexed.
func (m *UserCF) NumRatings() int { return len(m.userItems) }

// Extend returns x with keys appended in order (none of them in x), the
// First of each its index, for a model whose new keys all sort after
// its old ones; x stays as it was. Cloning the map is several times
// faster than adding every key again.
func (x *KeyIndex[K]) Extend(keys []K) *KeyIndex[K] {
	n := len(x.Keys)
	y := &KeyIndex[K]{idx: maps.Clone(x.idx), Keys: append(x.Keys[:n:n], keys...), First: append(x.First[:n:n], make([]int, len(keys))...)}
	for i, k := range keys {
		y.idx[k] = n + i
		y.First[n+i] = n + i
	}
	return y
}
