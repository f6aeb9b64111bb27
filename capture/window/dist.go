package window

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
)

// RelativeAccuracy of every quantile sketch: (γ-1)/(γ+1) for bins of
// ratio γ = 2^(1/32), 1.08%. Merging the bins is exact, so quantiles stay
// within this bound however many windows and sensors are merged
// (DESIGN.md asks for 2%).
const RelativeAccuracy = 0.0108

// MaxMicros bounds a single timing value (one day): anything larger is
// absurd input, not a measurement.
const MaxMicros = 86400e6

// MaxCount bounds the count of a distribution, merged ones included: below
// 2^53 every count and every sum of sketch bins is exact in a float64 and
// survives the sketch encoding's varfloats (which add 1 before encoding),
// so a sketch's bins always add up to its count.
const MaxCount = 1 << 52

// ErrOverflow is returned by merges whose result would exceed MaxCount.
var ErrOverflow = errors.New("merged distribution would exceed the largest count")

// Dist is a mergeable distribution of timings in microseconds: exact count,
// sum, min and max, plus an exponential histogram (Prometheus's schema 5,
// see Bins) for quantiles, encoded as a DDSketch. The zero value is empty
// and ready to use.
type Dist struct {
	Count uint64
	Sum   float64
	Min   float64
	Max   float64
	sk    *sketch
}

// Add records one value in microseconds. Negative values count as 0.
func (d *Dist) Add(us float64) {
	sk, us := d.addFigures(us)
	sk.count(us)
}

// addFigures sanitises us and adds it to the exact figures; it returns the
// sketch, made if needed, and the value for the caller to count in it.
func (d *Dist) addFigures(us float64) (*sketch, float64) {
	if us < 0 || math.IsNaN(us) {
		us = 0
	}
	if d.sk == nil {
		d.sk = new(sketch)
	}
	if d.Count == 0 || us < d.Min {
		d.Min = us
	}
	if d.Count == 0 || us > d.Max {
		d.Max = us
	}
	d.Count++
	d.Sum += us
	return d.sk, us
}

// Merge adds every value of o into d.
func (d *Dist) Merge(o *Dist) {
	if o.Count == 0 {
		return
	}
	if d.sk == nil {
		d.sk = new(sketch)
	}
	if o.sk != nil {
		d.sk.merge(o.sk)
	}
	d.mergeFigures(o)
}

// mergeFigures merges the exact figures of a non-empty o into d.
func (d *Dist) mergeFigures(o *Dist) {
	if d.Count == 0 || o.Min < d.Min {
		d.Min = o.Min
	}
	if d.Count == 0 || o.Max > d.Max {
		d.Max = o.Max
	}
	d.Count += o.Count
	d.Sum += o.Sum
}

// Reset empties d, keeping its sketch's memory.
func (d *Dist) Reset() {
	sk := d.sk
	*d = Dist{}
	if sk != nil {
		sk.clear()
		d.sk = sk
	}
}

// Avg is the mean, NaN when empty.
func (d *Dist) Avg() float64 {
	if d.Count == 0 {
		return math.NaN()
	}
	return d.Sum / float64(d.Count)
}

// Quantile returns the q-quantile (0..1) within RelativeAccuracy, clamped to
// [Min, Max]; NaN when empty.
func (d *Dist) Quantile(q float64) float64 {
	if d.Count == 0 || d.sk == nil {
		return math.NaN()
	}
	v := d.sk.quantile(q)
	if math.IsNaN(v) {
		return v
	}
	return math.Min(math.Max(v, d.Min), d.Max)
}

// Stats is the printable digest of a Dist, as DESIGN.md names its fields.
// Values are nil when the distribution is empty.
type Stats struct {
	Count uint64   `json:"count"`
	Avg   *float64 `json:"avg_us"`
	Min   *float64 `json:"min_us"`
	Max   *float64 `json:"max_us"`
	P50   *float64 `json:"p50_us"`
	P95   *float64 `json:"p95_us"`
	P99   *float64 `json:"p99_us"`
}

// Stats digests d.
func (d *Dist) Stats() Stats {
	s := Stats{Count: d.Count}
	if d.Count == 0 {
		return s
	}
	f := func(v float64) *float64 { v = math.Round(v*1000) / 1000; return &v }
	s.Avg, s.Min, s.Max = f(d.Avg()), f(d.Min), f(d.Max)
	s.P50, s.P95, s.P99 = f(d.Quantile(0.5)), f(d.Quantile(0.95)), f(d.Quantile(0.99))
	return s
}

// Sketch returns the encoded quantile sketch (nil when empty).
func (d *Dist) Sketch() []byte {
	if d.Count == 0 || d.sk == nil {
		return nil
	}
	var b []byte
	d.sk.encode(&b)
	return b
}

// SetSketch replaces d's sketch by the encoded one b (as Sketch encodes
// it), decoded straight into d's sketch pages. It checks the encoding
// against hostile input (see decodeSketch: bounded bin indexes and bins,
// finite non-negative counts, no negative values) and that its total
// matches d.Count. On error d's sketch is unchanged.
func (d *Dist) SetSketch(b []byte) error {
	if d.Count == 0 {
		if len(b) != 0 {
			return errors.New("sketch given for an empty distribution")
		}
		d.sk = nil
		return nil
	}
	sk := new(sketch)
	total, err := decodeSketch(b, sk)
	if err != nil {
		return fmt.Errorf("decode sketch: %w", err)
	}
	if err := checkTotal(total, d.Count); err != nil {
		return err
	}
	d.sk = sk
	return nil
}

// MergeEncoded merges into d the distribution of count values with the
// given sum, min, max and encoded sketch (as Sketch encodes it), with the
// same checks as UnmarshalBinary: it is d.Merge of what SetSketch would
// decode, without building that Dist (the way to merge many stored
// distributions). A count of 0 merges nothing and needs an empty sketch.
// On error d is unchanged.
func (d *Dist) MergeEncoded(count uint64, sum, min, max float64, sk []byte) error {
	e := Encoded{Count: count, Sum: sum, Min: min, Max: max, Sketch: sk}
	if err := e.Check(); err != nil {
		return err
	}
	return d.MergeChecked(e)
}

// Check checks e completely: its figures as ParseBinary does, and that its
// sketch decodes, within bounds, to exactly e.Count values.
func (e *Encoded) Check() error {
	o := Dist{Count: e.Count, Sum: e.Sum, Min: e.Min, Max: e.Max}
	if err := o.validate(); err != nil {
		return err
	}
	if e.Count == 0 {
		if len(e.Sketch) != 0 {
			return errors.New("sketch given for an empty distribution")
		}
		return nil
	}
	total, err := decodeSketch(e.Sketch, nil)
	if err != nil {
		return fmt.Errorf("decode sketch: %w", err)
	}
	return checkTotal(total, e.Count)
}

// MergeChecked merges e, which Check accepted, into d. It fails only with
// ErrOverflow, and then leaves d unchanged. Checking every part first and
// merging after lets a caller merge all or nothing of a group of parts.
func (d *Dist) MergeChecked(e Encoded) error {
	if e.Count == 0 {
		return nil
	}
	if d.Count > MaxCount-e.Count {
		return ErrOverflow
	}
	if d.sk == nil {
		d.sk = new(sketch)
	}
	if _, err := decodeSketch(e.Sketch, d.sk); err != nil {
		panic("window: MergeChecked of a sketch Check refuses: " + err.Error())
	}
	d.mergeFigures(&Dist{Count: e.Count, Sum: e.Sum, Min: e.Min, Max: e.Max})
	return nil
}

// CanMerge reports whether o can be merged into d without exceeding
// MaxCount.
func (d *Dist) CanMerge(o *Dist) error {
	if d.Count > MaxCount || o.Count > MaxCount-d.Count {
		return ErrOverflow
	}
	return nil
}

// checkTotal requires the sketch's bins to add up to exactly count: with
// integral bins and counts up to MaxCount, float64 sums are exact, so any
// difference is damage that merging would only make worse.
func checkTotal(total float64, count uint64) error {
	if total != float64(count) {
		return fmt.Errorf("sketch holds %.0f values, count says %d", total, count)
	}
	return nil
}

func (d *Dist) validate() error {
	if d.Count == 0 {
		if d.Sum != 0 || d.Min != 0 || d.Max != 0 {
			return errors.New("empty distribution with non-zero sum, min or max")
		}
		return nil
	}
	if d.Count > MaxCount {
		return fmt.Errorf("count %d is above %d", d.Count, uint64(MaxCount))
	}
	for _, v := range [...]float64{d.Sum, d.Min, d.Max} {
		if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
			return errors.New("negative or non-finite value")
		}
	}
	if d.Max > MaxMicros {
		return fmt.Errorf("max %.0f µs is absurd (over a day)", d.Max)
	}
	if d.Min > d.Max {
		return errors.New("min above max")
	}
	n := float64(d.Count)
	if d.Sum < n*d.Min*(1-1e-9)-1e-6 || d.Sum > n*d.Max*(1+1e-9)+1e-6 {
		return errors.New("sum outside count × [min, max]")
	}
	return nil
}

type distJSON struct {
	Count  uint64  `json:"count"`
	Sum    float64 `json:"sum_us,omitempty"`
	Min    float64 `json:"min_us,omitempty"`
	Max    float64 `json:"max_us,omitempty"`
	Sketch string  `json:"sketch,omitempty"`
}

// MarshalJSON encodes d for the wire: exact figures plus the sketch in base64.
func (d Dist) MarshalJSON() ([]byte, error) {
	return json.Marshal(distJSON{d.Count, d.Sum, d.Min, d.Max, base64.StdEncoding.EncodeToString(d.Sketch())})
}

// UnmarshalJSON decodes and checks a wire distribution.
func (d *Dist) UnmarshalJSON(b []byte) error {
	var j distJSON
	dec := json.NewDecoder(bytesReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err != nil {
		return err
	}
	raw, err := base64.StdEncoding.DecodeString(j.Sketch)
	if err != nil {
		return fmt.Errorf("sketch: %w", err)
	}
	*d = Dist{Count: j.Count, Sum: j.Sum, Min: j.Min, Max: j.Max}
	if err := d.validate(); err != nil {
		return err
	}
	return d.SetSketch(raw)
}

// MarshalBinary encodes d compactly (for the database and the spool).
func (d *Dist) MarshalBinary() ([]byte, error) {
	b := binary.AppendUvarint(nil, d.Count)
	if d.Count == 0 {
		return b, nil
	}
	for _, v := range [...]float64{d.Sum, d.Min, d.Max} {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(v))
	}
	return append(b, d.Sketch()...), nil
}

// UnmarshalBinary decodes what MarshalBinary wrote.
func (d *Dist) UnmarshalBinary(b []byte) error {
	h, err := ParseBinary(b)
	if err != nil {
		return err
	}
	*d = Dist{Count: h.Count, Sum: h.Sum, Min: h.Min, Max: h.Max}
	return d.SetSketch(h.Sketch)
}

// Encoded is a distribution as MarshalBinary wrote it: its exact figures,
// checked, and its sketch still encoded. Merging many stored distributions
// through MergeEncoded avoids decoding each into a Dist of its own.
type Encoded struct {
	Count         uint64
	Sum, Min, Max float64
	Sketch        []byte
}

// ParseBinary reads the figures MarshalBinary wrote and checks them as
// UnmarshalJSON does; the sketch is left for SetSketch or MergeEncoded.
func ParseBinary(b []byte) (Encoded, error) {
	n, k := binary.Uvarint(b)
	if k <= 0 {
		return Encoded{}, errors.New("dist: bad count")
	}
	b = b[k:]
	if n == 0 {
		return Encoded{}, nil
	}
	if len(b) < 24 {
		return Encoded{}, errors.New("dist: truncated")
	}
	d := Dist{Count: n,
		Sum: math.Float64frombits(binary.LittleEndian.Uint64(b)),
		Min: math.Float64frombits(binary.LittleEndian.Uint64(b[8:])),
		Max: math.Float64frombits(binary.LittleEndian.Uint64(b[16:])),
	}
	if err := d.validate(); err != nil {
		return Encoded{}, fmt.Errorf("dist: %w", err)
	}
	return Encoded{n, d.Sum, d.Min, d.Max, b[24:]}, nil
}
