package functions

import "slices"

// KeyIndex maps keys of any comparable type to dense indices 0, 1, ...
// and remembers the input row where each key first appeared, so results
// can be mapped back to the caller's keys. Add numbers keys in order of
// first appearance; Sort renumbers them in an order of the caller's (the
// catalog uses the keys' SQL order, so that no result depends on the
// order rows arrived in).
type KeyIndex[K comparable] struct {
	idx   map[K]int
	Keys  []K   // Keys[i] is the key of dense index i
	First []int // First[i] is the input row where Keys[i] first appeared
}

// NewKeyIndex makes an empty index.
func NewKeyIndex[K comparable]() *KeyIndex[K] {
	return &KeyIndex[K]{idx: make(map[K]int)}
}

// Add returns key's dense index, assigning the next one (and recording row)
// the first time key is seen.
func (x *KeyIndex[K]) Add(key K, row int) int {
	if i, ok := x.idx[key]; ok {
		return i
	}
	i := len(x.Keys)
	x.idx[key] = i
	x.Keys = append(x.Keys, key)
	x.First = append(x.First, row)
	return i
}

// Lookup returns key's dense index.
func (x *KeyIndex[K]) Lookup(key K) (int, bool) {
	i, ok := x.idx[key]
	return i, ok
}

// Len is the number of distinct keys.
func (x *KeyIndex[K]) Len() int { return len(x.Keys) }

// Sort renumbers the keys so that dense indices follow cmp, which
// compares the keys at two current indices, and returns remap:
// remap[old] is the new index of the key that had index old. Callers
// renumber what they built with the old indices through remap.
func (x *KeyIndex[K]) Sort(cmp func(i, j int) int) []int {
	order := make([]int, len(x.Keys)) // order[new] = old
	for i := range order {
		order[i] = i
	}
	// Stable, so keys cmp holds equal keep their first-appearance order.
	slices.SortStableFunc(order, cmp)
	remap := make([]int, len(order))
	keys := make([]K, len(order))
	first := make([]int, len(order))
	for n, o := range order {
		remap[o] = n
		keys[n] = x.Keys[o]
		first[n] = x.First[o]
		x.idx[keys[n]] = n
	}
	x.Keys, x.First = keys, first
	return remap
}
