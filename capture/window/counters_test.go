package window

import (
	"encoding/json"
	"math"
	"testing"
)

// TestCounterList checks the Counter list against Counters as encoding/json
// sees it: every field has its Counter, in order, under its name.
func TestCounterList(t *testing.T) {
	var c Counters
	for k := range NumCounters {
		*c.Field(k) = uint64(k) + 1
	}
	b, err := json.Marshal(&c)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]uint64
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if len(m) != int(NumCounters) {
		t.Errorf("Counters encodes %d fields, the list has %d: %s", len(m), NumCounters, b)
	}
	for k := range NumCounters {
		if m[k.String()] != uint64(k)+1 {
			t.Errorf("%s: JSON has %d, want %d (%s)", k, m[k.String()], uint64(k)+1, b)
		}
		if got, ok := ParseCounter(k.String()); !ok || got != k {
			t.Errorf("ParseCounter(%q) = %v, %v", k.String(), got, ok)
		}
	}
	if _, ok := ParseCounter("bogus"); ok {
		t.Error(`ParseCounter("bogus") succeeded`)
	}
	if s := NumCounters.String(); s == "" || s == counterNames[NumCounters-1] {
		t.Errorf("NumCounters.String() = %q, want a placeholder", s)
	}
}

func TestCountersSaturate(t *testing.T) {
	var a, b Counters
	for k := range NumCounters {
		*a.Field(k) = uint64(k)
		*b.Field(k) = 100
	}
	*a.Field(Resets) = math.MaxUint64 - 1
	a.Add(&b)
	for k := range NumCounters {
		want := uint64(k) + 100
		if k == Resets {
			want = math.MaxUint64
		}
		if got := *a.Field(k); got != want {
			t.Errorf("%s after Add = %d, want %d", k, got, want)
		}
	}
	a.AddCount(BytesToServer, math.MaxUint64)
	if a.BytesToServer != math.MaxUint64 {
		t.Errorf("AddCount wrapped: %d", a.BytesToServer)
	}
	a.AddCount(Connections, 1)
	if a.Connections != 101 {
		t.Errorf("AddCount(Connections, 1): %d, want 101", a.Connections)
	}
}
