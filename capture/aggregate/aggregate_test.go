package aggregate

import (
	"math"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/pastmon/pastmon/capture/tcp"
	"github.com/pastmon/pastmon/capture/window"
)

var (
	srvA = tcp.Endpoint{Addr: [16]byte{10, 0, 0, 1}, Port: 80}
	srvB = tcp.Endpoint{Addr: [16]byte{0xfd, 15: 2}, Port: 443, V6: true}
	base = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC) // a window start
)

func ns(d time.Duration) int64 { return base.Add(d).UnixNano() }

func TestWindowsCloseAfterGrace(t *testing.T) {
	var got []window.Summary
	a := New(func(s window.Summary) { got = append(got, s) })
	a.Count(srvA, ns(time.Minute), window.Connections, 1)
	a.Sample(srvA, ns(2*time.Minute), window.RTT, 1500)
	a.Count(srvB, ns(4*time.Minute), window.Transactions, 2)
	a.Count(srvA, ns(6*time.Minute), window.Connections, 1) // next window

	tests := []struct {
		now  time.Duration
		want int // summaries handed on so far
	}{
		{5 * time.Minute, 0},
		{5*time.Minute + Grace - 1, 0},
		{5*time.Minute + Grace, 2},
		{10*time.Minute + Grace - 1, 2},
		{10*time.Minute + Grace, 3},
	}
	for _, tt := range tests {
		a.Advance(ns(tt.now))
		if len(got) != tt.want {
			t.Fatalf("at +%s: %d summaries, want %d", tt.now, len(got), tt.want)
		}
	}
	// Sorted by window, then server.
	if got[0].Server != srvA.AddrPort() || got[1].Server != srvB.AddrPort() || !got[0].Start.Equal(base) {
		t.Errorf("first window: %s@%s, %s@%s", got[0].Server, got[0].Start, got[1].Server, got[1].Start)
	}
	if got[0].Connections != 1 || got[0].Metrics[window.RTT].Count != 1 || got[0].Metrics[window.RTT].Sum != 1500 {
		t.Errorf("server A first window: %+v", got[0])
	}
	if got[1].Transactions != 2 {
		t.Errorf("server B: %+v", got[1].Counters)
	}
	if !got[2].Start.Equal(base.Add(window.Width)) || got[2].Connections != 1 {
		t.Errorf("second window: %s %+v", got[2].Start, got[2].Counters)
	}
	if a.Open() != 0 {
		t.Errorf("%d still open", a.Open())
	}
}

// TestLateSample: a sample for a window already handed on makes a second
// partial summary of it; merged, nothing is lost.
func TestLateSample(t *testing.T) {
	var got []window.Summary
	a := New(func(s window.Summary) { got = append(got, s) })
	a.Count(srvA, ns(time.Minute), window.BytesToServer, 100)
	a.Advance(ns(6 * time.Minute))
	a.Count(srvA, ns(2*time.Minute), window.BytesToServer, 50)
	a.Advance(ns(6*time.Minute + time.Second))
	if len(got) != 2 {
		t.Fatalf("%d summaries, want 2", len(got))
	}
	if err := got[0].Merge(&got[1]); err != nil {
		t.Fatal(err)
	}
	if got[0].BytesToServer != 150 {
		t.Errorf("merged bytes %d, want 150", got[0].BytesToServer)
	}
}

func TestFlushHandsOwnership(t *testing.T) {
	var got []window.Summary
	a := New(func(s window.Summary) { got = append(got, s) })
	a.Sample(srvA, ns(time.Second), window.ResponseTime, 10)
	a.Flush()
	a.Sample(srvA, ns(2*time.Second), window.ResponseTime, 30)
	a.Flush()
	if len(got) != 2 {
		t.Fatalf("%d summaries", len(got))
	}
	// The first summary must not see the second sample.
	if d := got[0].Metrics[window.ResponseTime]; d.Count != 1 || d.Max != 10 {
		t.Errorf("first flush changed afterwards: count %d max %v", d.Count, d.Max)
	}
	if d := got[1].Metrics[window.ResponseTime]; d.Count != 1 || d.Max != 30 {
		t.Errorf("second flush: count %d max %v", d.Count, d.Max)
	}
}

func TestAbsurdSamplesDropped(t *testing.T) {
	var got []window.Summary
	a := New(func(s window.Summary) { got = append(got, s) })
	for _, v := range []float64{-1, math.NaN(), math.Inf(1), window.MaxMicros * 2, 42} {
		a.Sample(srvA, ns(0), window.RTT, v)
	}
	a.Flush()
	if len(got) != 1 || got[0].Metrics[window.RTT].Count != 1 {
		t.Fatalf("got %+v, want only the 42 µs sample", got)
	}
	if err := got[0].Validate(base.Add(time.Hour)); err != nil {
		t.Errorf("summary does not validate: %v", err)
	}
}

func TestServerAddress(t *testing.T) {
	var got []window.Summary
	a := New(func(s window.Summary) { got = append(got, s) })
	a.Count(srvB, ns(0), window.Connections, 1)
	a.Flush()
	if want := netip.MustParseAddrPort("[fd00::2]:443"); got[0].Server != want {
		t.Errorf("server %s, want %s", got[0].Server, want)
	}
}

// TestBounded: beyond the limit, new servers are dropped and counted;
// servers already open keep counting.
func TestBounded(t *testing.T) {
	var got []window.Summary
	a := New(func(s window.Summary) { got = append(got, s) })
	a.limit = 3
	for port := range uint16(10) {
		a.Count(tcp.Endpoint{Addr: [16]byte{10, 0, 0, 9}, Port: 1000 + port}, ns(0), window.Unanswered, 1)
	}
	a.Count(tcp.Endpoint{Addr: [16]byte{10, 0, 0, 9}, Port: 1000}, ns(0), window.Unanswered, 1)
	if a.Open() != 3 || a.Dropped() != 7 {
		t.Errorf("open %d dropped %d, want 3 and 7", a.Open(), a.Dropped())
	}
	a.Flush()
	if len(got) != 3 || got[0].Unanswered != 2 {
		t.Errorf("got %d summaries, first %+v", len(got), got[0].Counters)
	}
}

// TestHandlesMatchEndpoints drives one aggregator through server handles
// and another through endpoints with the same random events, windows
// closing, late samples, flushes and handles given back and reused, and the
// limit reached: they must hand on the same summaries and drop the same.
func TestHandlesMatchEndpoints(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	var byID, byEP []window.Summary
	a := New(func(s window.Summary) { byID = append(byID, s) })
	b := New(func(s window.Summary) { byEP = append(byEP, s) })
	a.limit, b.limit = 40, 40
	servers := make([]tcp.Endpoint, 30)
	for i := range servers {
		servers[i] = tcp.Endpoint{Addr: [16]byte{10, 0, 1, byte(i)}, Port: 80}
	}
	held := map[int][]uint32{} // server → handles held
	now := ns(0)
	for step := range 20000 {
		i := rng.IntN(len(servers))
		switch r := rng.IntN(100); {
		case r < 5:
			held[i] = append(held[i], a.Acquire(servers[i]))
		case r < 10 && len(held[i]) > 0:
			a.Release(held[i][0])
			held[i] = held[i][1:]
		case r < 11:
			a.Advance(now)
			b.Advance(now)
		case r < 12 && step%7 == 0:
			a.Flush()
			b.Flush()
		default:
			if len(held[i]) == 0 {
				held[i] = append(held[i], a.Acquire(servers[i]))
			}
			id := held[i][rng.IntN(len(held[i]))]
			ts := now - int64(rng.IntN(int(2*time.Minute))) // late at times
			if rng.IntN(2) == 0 {
				a.CountID(id, ts, window.Transactions, 1)
				b.Count(servers[i], ts, window.Transactions, 1)
			} else {
				v := rng.Float64() * 1000
				a.SampleID(id, ts, window.RTT, v)
				b.Sample(servers[i], ts, window.RTT, v)
			}
		}
		now += int64(rng.IntN(int(time.Second)))
	}
	a.Flush()
	b.Flush()
	if len(byID) != len(byEP) || a.Dropped() != b.Dropped() {
		t.Fatalf("%d summaries and %d dropped by handle, %d and %d by endpoint", len(byID), a.Dropped(), len(byEP), b.Dropped())
	}
	for i := range byID {
		x, y := &byID[i], &byEP[i]
		if x.Server != y.Server || !x.Start.Equal(y.Start) || x.Counters != y.Counters ||
			x.Metrics[window.RTT].Count != y.Metrics[window.RTT].Count || x.Metrics[window.RTT].Sum != y.Metrics[window.RTT].Sum ||
			!sameStats(x.Metrics[window.RTT].Stats(), y.Metrics[window.RTT].Stats()) {
			t.Fatalf("summary %d: by handle %s@%s %+v, by endpoint %s@%s %+v", i, x.Server, x.Start, x.Counters, y.Server, y.Start, y.Counters)
		}
	}
	if b.Dropped() == 0 {
		t.Error("the limit was never reached: the test misses a case")
	}
	// Every handle given back leaves nothing behind.
	for _, ids := range held {
		for _, id := range ids {
			a.Release(id)
		}
	}
	if len(a.ids) != 0 || len(a.free) != len(a.slots) {
		t.Errorf("%d servers still known, %d of %d slots free", len(a.ids), len(a.free), len(a.slots))
	}
}

func sameStats(x, y window.Stats) bool {
	eq := func(a, b *float64) bool { return (a == nil) == (b == nil) && (a == nil || *a == *b) }
	return x.Count == y.Count && eq(x.Avg, y.Avg) && eq(x.Min, y.Min) && eq(x.Max, y.Max) &&
		eq(x.P50, y.P50) && eq(x.P95, y.P95) && eq(x.P99, y.P99)
}
