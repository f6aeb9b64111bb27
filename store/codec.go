package store

import (
	"math"

	"github.com/pastmon/pastmon/capture/window"
)

// A stored distribution is one BLOB per metric, NULL when empty, in
// window.Dist.MarshalBinary's layout. Merging reads it with
// window.ParseBinary and window.Dist.MergeEncoded, so many stored
// distributions merge without building a window.Dist for each.

// encodeDist encodes d, nil when empty.
func encodeDist(d *window.Dist) []byte {
	if d.Count == 0 {
		return nil
	}
	b, _ := d.MarshalBinary() // cannot fail
	return b
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
	e, err := window.ParseBinary(b)
	if err != nil || e.Count == 0 {
		return err
	}
	if err := e.Check(); err != nil {
		return err
	}
	return a.d.MergeChecked(e)
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
	e, err := window.ParseBinary(b)
	a.count += e.Count
	a.sum += e.Sum
	return err
}

func (a *countSum) addEncoded(e window.Encoded) {
	a.count += e.Count
	a.sum += e.Sum
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
