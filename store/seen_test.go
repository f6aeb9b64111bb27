package store

import (
	"testing"
	"time"

	"github.com/pastmon/pastmon/capture/window"
)

// TestServerSeen: first and latest window of a server, from the 5-minute
// rows and, once retention pruned those, from the hourly ones.
func TestServerSeen(t *testing.T) {
	db := openTest(t)
	ctx := t.Context()
	now := time.Now().UTC()
	base := window.Start(now).Add(-72 * time.Hour)
	g := newGen(7)
	a, b := addr(1), addr(2)
	var sums []window.Summary
	for _, d := range []time.Duration{0, time.Hour, 70 * time.Hour} {
		s, _ := g.summary(a, base.Add(d), 5)
		sums = append(sums, s)
	}
	mustIngest(t, db, batch("seen-1", "s1", sums...), now)
	first, last, found, err := db.ServerSeen(ctx, a, "")
	if err != nil || !found || !first.Equal(base) || !last.Equal(base.Add(70*time.Hour)) {
		t.Fatalf("ServerSeen(%s) = %s, %s, %v, %v; want %s, %s", a, first, last, found, err, base, base.Add(70*time.Hour))
	}
	if _, _, found, err := db.ServerSeen(ctx, b, ""); found || err != nil {
		t.Errorf("ServerSeen(never seen) = %v, %v", found, err)
	}
	if _, _, found, err := db.ServerSeen(ctx, a, "udp"); found || err != nil {
		t.Errorf("ServerSeen(%s over UDP, seen over TCP only) = %v, %v", a, found, err)
	}
	// Keep 5-minute rows for 24 hours only: the older windows live on as hours.
	if err := db.Maintain(ctx, now, 24*time.Hour, 400*24*time.Hour); err != nil {
		t.Fatal(err)
	}
	first, last, found, err = db.ServerSeen(ctx, a, "")
	if err != nil || !found || !first.Equal(base.Truncate(time.Hour)) || !last.Equal(base.Add(70*time.Hour)) {
		t.Errorf("after retention: %s, %s, %v, %v; want %s, %s", first, last, found, err, base.Truncate(time.Hour), base.Add(70*time.Hour))
	}
}

// TestServerSensorsTransport: the sensors of a UDP server are those that
// saw it over UDP, not over TCP at the same address.
func TestServerSensorsTransport(t *testing.T) {
	db := openTest(t)
	now := time.Now().UTC()
	start := window.Start(now).Add(-time.Hour)
	a := addr(3)
	mustIngest(t, db, batch("sens-tcp", "tcp-sensor", window.Summary{Server: a, Start: start}), now)
	mustIngest(t, db, batch("sens-udp", "udp-sensor", window.Summary{Server: a, Start: start, Transport: "udp"}), now)
	for _, tc := range []struct{ transport, want string }{{"", "tcp-sensor"}, {"tcp", "tcp-sensor"}, {"udp", "udp-sensor"}} {
		got, err := db.ServerSensors(t.Context(), a, tc.transport, start, now)
		if err != nil || len(got) != 1 || got[0] != tc.want {
			t.Errorf("ServerSensors(%s, %q) = %v, %v; want [%s]", a, tc.transport, got, err, tc.want)
		}
	}
}
