package window

import "math"

// Bin is one non-empty bin of a distribution's sketch: Count values lie
// between Lower and Upper microseconds.
type Bin struct {
	Lower, Upper float64
	Count        uint64
}

// Bins appends d's non-empty bins to dst in increasing order of value and
// returns it, with the count of values too small for any bin (at most
// ZeroThreshold µs), which no bin holds. Exporters turn them into
// histograms; the counts add up to d.Count.
func (d *Dist) Bins(dst []Bin) (bins []Bin, zero uint64) {
	if d.Count == 0 || d.sk == nil {
		return dst, 0
	}
	d.sk.forEach(func(i int, c float64) {
		dst = append(dst, Bin{Lower: logMapping.LowerBound(i), Upper: logMapping.LowerBound(i + 1), Count: uint64(math.Round(c))})
	})
	return dst, uint64(math.Round(d.sk.zero))
}

// ZeroThreshold is the largest value, in microseconds, that counts in no
// bin of a sketch but in its zero count.
var ZeroThreshold = minIndexable
