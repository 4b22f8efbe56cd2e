package functions

// csrTranspose transposes the compressed sparse rows (ptr, idx, val) whose
// column indices are below m: row j of the result lists the original
// rows having an entry in column j, ascending, with their values.
func csrTranspose(ptr []int, idx []int32, val []float64, m int) (tptr []int, tidx []int32, tval []float64) {
	tptr = make([]int, m+1)
	for _, j := range idx {
		tptr[j+1]++
	}
	for j := 0; j < m; j++ {
		tptr[j+1] += tptr[j]
	}
	pos := make([]int, m)
	copy(pos, tptr[:m])
	tidx = make([]int32, len(idx))
	tval = make([]float64, len(val))
	for i := 0; i+1 < len(ptr); i++ {
		for p := ptr[i]; p < ptr[i+1]; p++ {
			j := idx[p]
			q := pos[j]
			pos[j]++
			tidx[q] = int32(i)
			tval[q] = val[p]
		}
	}
	return tptr, tidx, tval
}
