package window

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"testing"
)

// TestSketchCountsExact refuses every distribution whose sketch does not
// hold exactly its count of values in integral bins, through each way a
// distribution comes in: JSON, the stored binary form, and MergeEncoded.
// A merge of two such distributions would give one that reads back as
// damaged (the bins no longer add up to the count).
func TestSketchCountsExact(t *testing.T) {
	idx := index(1000) // a bin of 1 ms, as µs/1e6 values index
	tests := []struct {
		name  string
		count uint64
		b     []byte
	}{
		{"fractional bins", 1, encodeBins(0, idx, 0.6, 0.6)},
		{"fractional zero count", 2, encodeBins(0.5, idx, 1)},
		{"fraction below half", 3, encodeBins(0, idx, 3.4)},
		{"count near 2^64", math.MaxUint64, encodeBins(0, idx, math.MaxUint64)},
		{"count above MaxCount", MaxCount + 2, encodeBins(0, idx, MaxCount, 2)},
		{"bins that round to the count", MaxCount, encodeBins(0, idx, MaxCount, 1)},
		{"huge zero count", MaxCount, encodeBins(math.MaxUint64, idx, 1)},
	}
	for _, tc := range tests {
		sum := 1000 * float64(tc.count)
		d := Dist{Count: tc.count, Sum: sum, Min: 1000, Max: 1000}
		if err := d.SetSketch(tc.b); err == nil {
			t.Errorf("%s: SetSketch accepted", tc.name)
		}
		var m Dist
		if err := m.MergeEncoded(tc.count, sum, 1000, 1000, tc.b); err == nil {
			t.Errorf("%s: MergeEncoded accepted", tc.name)
		}
		js := fmt.Sprintf(`{"count":%d,"sum_us":%g,"min_us":1000,"max_us":1000,"sketch":%q}`, tc.count, sum, base64.StdEncoding.EncodeToString(tc.b))
		if err := json.Unmarshal([]byte(js), &d); err == nil {
			t.Errorf("%s: UnmarshalJSON accepted", tc.name)
		}
	}
}

// TestMergeOverflow refuses a merge past MaxCount and leaves the target as
// it was.
func TestMergeOverflow(t *testing.T) {
	idx := index(1000)
	half := uint64(MaxCount/2 + 1)
	b := encodeBins(0, idx, float64(half))
	var d Dist
	if err := d.MergeEncoded(half, 1000*float64(half), 1000, 1000, b); err != nil {
		t.Fatal(err)
	}
	before := d.Sketch()
	if err := d.MergeEncoded(half, 1000*float64(half), 1000, 1000, b); !errors.Is(err, ErrOverflow) {
		t.Fatalf("second merge: %v, want ErrOverflow", err)
	}
	if d.Count != half || string(d.Sketch()) != string(before) {
		t.Errorf("failed merge changed the distribution: count %d", d.Count)
	}
	o := Dist{Count: half}
	if err := d.CanMerge(&o); !errors.Is(err, ErrOverflow) {
		t.Errorf("CanMerge: %v, want ErrOverflow", err)
	}
}
