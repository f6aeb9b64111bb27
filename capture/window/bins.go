package window

import "math"

// Bin is one non-empty bin of a distribution's sketch: Count values lie in
// (Lower, Upper] microseconds. Key is the bin's index in Prometheus's
// native histogram schema 5 (Schema): the bin holds (2^((Key-1)/32),
// 2^(Key/32)] seconds. OpenTelemetry's exponential histogram of scale 5
// numbers the same bucket Key-1.
type Bin struct {
	Key          int
	Lower, Upper float64
	Count        uint64
}

// Bins appends d's non-empty bins to dst in increasing order of value and
// returns it, with the count of values too small for any bin (at most
// ZeroThreshold seconds), which no bin holds. Exporters turn them into
// histograms; the counts add up to d.Count.
func (d *Dist) Bins(dst []Bin) (bins []Bin, zero uint64) {
	if d.Count == 0 || d.sk == nil {
		return dst, 0
	}
	d.sk.forEach(func(i int, c float64) {
		dst = append(dst, Bin{Key: i, Lower: upper(i-1) * 1e6, Upper: upper(i) * 1e6, Count: uint64(math.Round(c))})
	})
	return dst, uint64(math.Round(d.sk.zero))
}
