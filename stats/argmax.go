package stats

// Argmax returns the index of the largest value of row, the first one on
// ties (numpy.argmax's rule, which every caller's tie-breaking relies on),
// and 0 for an empty row. Comparisons with NaN are false: a NaN at index 0
// wins, a later one never does.
func Argmax[T ~float32 | ~float64](row []T) int {
	best := 0
	for j := 1; j < len(row); j++ {
		if row[j] > row[best] {
			best = j
		}
	}
	return best
}
