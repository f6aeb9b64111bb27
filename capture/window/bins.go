package window

// Bins calls f for every non-empty bin of d's sketch, lowest values first,
// with the bin's bounds in microseconds: a bin holds values from lo to hi
// (which bound belongs to it is the index mapping's business). Values too
// small to index (0 µs) come first, as the bin from 0 to 0. Heatmaps draw
// these.
func (d *Dist) Bins(f func(lo, hi, count float64)) {
	if d.Count == 0 || d.sk == nil {
		return
	}
	if d.sk.zero != 0 {
		f(0, 0, d.sk.zero)
	}
	d.sk.forEach(func(i int, c float64) {
		f(indexMapping.LowerBound(i), indexMapping.LowerBound(i+1), c)
	})
}
