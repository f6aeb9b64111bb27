package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/pastmon/pastmon/capture/window"
)

// A stored distribution (one BLOB per metric, NULL when empty) is:
// count as uvarint, then sum, min and max as little-endian float64, then
// the quantile sketch as window.Dist.Sketch encodes it. The store owns
// this layout (it matches window.Dist.MarshalBinary today) so that it can
// merge many stored distributions without building a window.Dist for
// each: the sketches are decoded straight into one accumulator.
const distHeader = 24

// encodeDist encodes d, nil when empty.
func encodeDist(d *window.Dist) []byte {
	if d.Count == 0 {
		return nil
	}
	b := binary.AppendUvarint(make([]byte, 0, 40), d.Count)
	for _, v := range [...]float64{d.Sum, d.Min, d.Max} {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(v))
	}
	return append(b, d.Sketch()...)
}

// distHead parses the exact figures of a stored distribution and returns
// the sketch bytes that follow them.
func distHead(b []byte) (count uint64, sum, lo, hi float64, sketch []byte, err error) {
	count, k := binary.Uvarint(b)
	if k <= 0 {
		return 0, 0, 0, 0, nil, errors.New("bad count")
	}
	if count == 0 {
		return 0, 0, 0, 0, nil, nil
	}
	b = b[k:]
	if len(b) < distHeader {
		return 0, 0, 0, 0, nil, errors.New("truncated")
	}
	sum = math.Float64frombits(binary.LittleEndian.Uint64(b))
	lo = math.Float64frombits(binary.LittleEndian.Uint64(b[8:]))
	hi = math.Float64frombits(binary.LittleEndian.Uint64(b[16:]))
	if err := checkFigures(count, sum, lo, hi); err != nil {
		return 0, 0, 0, 0, nil, err
	}
	return count, sum, lo, hi, b[distHeader:], nil
}

// checkFigures rejects exact figures no distribution of timings can have,
// as window does for input from outside.
func checkFigures(count uint64, sum, lo, hi float64) error {
	for _, v := range [...]float64{sum, lo, hi} {
		if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
			return errors.New("negative or non-finite figure")
		}
	}
	if lo > hi || hi > window.MaxMicros {
		return fmt.Errorf("min %g, max %g out of range", lo, hi)
	}
	n := float64(count)
	if sum < n*lo*(1-1e-9)-1e-6 || sum > n*hi*(1+1e-9)+1e-6 {
		return errors.New("sum outside count × [min, max]")
	}
	return nil
}

// distAcc merges stored distributions.
type distAcc struct {
	count         uint64
	sum, min, max float64
	bins          bins
}

// add merges one stored distribution (empty or nil adds nothing).
func (a *distAcc) add(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	n, sum, lo, hi, sketch, err := distHead(b)
	if err != nil || n == 0 {
		return err
	}
	if err := a.bins.decode(sketch); err != nil {
		return fmt.Errorf("decode sketch: %w", err)
	}
	if a.count == 0 || lo < a.min {
		a.min = lo
	}
	if a.count == 0 || hi > a.max {
		a.max = hi
	}
	a.count += n
	a.sum += sum
	return nil
}

// addCountSum merges only the count and sum of a stored distribution.
func (a *distAcc) addCountSum(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	n, sum, _, _, _, err := distHead(b)
	a.count += n
	a.sum += sum
	return err
}

func (a *distAcc) avg() float64 {
	if a.count == 0 {
		return math.NaN()
	}
	return a.sum / float64(a.count)
}

// blob encodes the merged distribution, nil when empty.
func (a *distAcc) blob() []byte {
	if a.count == 0 {
		return nil
	}
	b := binary.AppendUvarint(make([]byte, 0, 64), a.count)
	for _, v := range [...]float64{a.sum, a.min, a.max} {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(v))
	}
	a.bins.encode(&b)
	return b
}

// dist returns the merged distribution as a window.Dist. The sketch
// goes through the accumulator's bounded bins first, which also protects
// window.Dist.SetSketch from damaged bin ranges.
func (a *distAcc) dist() (window.Dist, error) {
	if a.count == 0 {
		return window.Dist{}, nil
	}
	sk := make([]byte, 0, 16+2*len(a.bins.counts))
	a.bins.encode(&sk)
	d := window.Dist{Count: a.count, Sum: a.sum, Min: a.min, Max: a.max}
	if err := d.SetSketch(sk); err != nil {
		return window.Dist{}, err
	}
	return d, nil
}

// decodeDist decodes one stored distribution.
func decodeDist(b []byte) (window.Dist, error) {
	var a distAcc
	if err := a.add(b); err != nil {
		return window.Dist{}, err
	}
	return a.dist()
}
