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

// distAcc merges stored distributions: each sketch is decoded straight
// into the merged window.Dist (window.Dist.MergeEncoded), which bounds what
// a damaged blob can allocate.
type distAcc struct{ d window.Dist }

// add merges one stored distribution (empty or nil adds nothing).
func (a *distAcc) add(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	n, sum, lo, hi, sketch, err := distHead(b)
	if err != nil || n == 0 {
		return err
	}
	return a.d.MergeEncoded(n, sum, lo, hi, sketch)
}

// blob encodes the merged distribution, nil when empty.
func (a *distAcc) blob() []byte { return encodeDist(&a.d) }

// dist returns the merged distribution. It shares its sketch with a:
// a is not to be used afterwards.
func (a *distAcc) dist() (window.Dist, error) { return a.d, nil }

// countSum merges only the count and sum of stored distributions.
type countSum struct {
	count uint64
	sum   float64
}

func (a *countSum) add(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	n, sum, _, _, _, err := distHead(b)
	a.count += n
	a.sum += sum
	return err
}

func (a *countSum) avg() float64 {
	if a.count == 0 {
		return math.NaN()
	}
	return a.sum / float64(a.count)
}

// decodeDist decodes one stored distribution.
func decodeDist(b []byte) (window.Dist, error) {
	var a distAcc
	if err := a.add(b); err != nil {
		return window.Dist{}, err
	}
	return a.dist()
}
