package store

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/pastmon/pastmon/capture/window"
)

// TestServerListFilter: q matches a server by address, by a sensor that saw
// it, by its protocol, or by the ports the caller names for q; a matching
// server keeps all its windows in the range, not only the matching ones.
func TestServerListFilter(t *testing.T) {
	db := openTest(t)
	now := time.Now().UTC()
	start := window.Start(now).Add(-time.Hour)
	pg := netip.MustParseAddrPort("10.9.0.1:5432")
	redis := netip.MustParseAddrPort("10.9.0.2:6379")
	dns := netip.MustParseAddrPort("[2001:db8::53]:53")
	mustIngest(t, db, batch("f1", "edge-east", window.Summary{Server: pg, Start: start, Protocol: "postgres", Counters: window.Counters{Connections: 3}}), now)
	mustIngest(t, db, batch("f2", "core", window.Summary{Server: pg, Start: start.Add(5 * time.Minute), Counters: window.Counters{Connections: 4}},
		window.Summary{Server: redis, Start: start, Counters: window.Counters{Connections: 1}},
		window.Summary{Server: dns, Start: start, Transport: "udp", Protocol: "dns", Counters: window.Counters{Connections: 2}}), now)
	tests := []struct {
		q     string
		ports []uint16
		want  []netip.AddrPort
	}{
		{"", nil, []netip.AddrPort{pg, redis, dns}},
		{"10.9.0.2", nil, []netip.AddrPort{redis}},
		{"EDGE-e", nil, []netip.AddrPort{pg}},
		{"core", nil, []netip.AddrPort{pg, redis, dns}},
		{"postgres", nil, []netip.AddrPort{pg}},
		{"dns", nil, []netip.AddrPort{dns}},
		{"redis", []uint16{6379}, []netip.AddrPort{redis}},
		{"domain", []uint16{53}, []netip.AddrPort{dns}},
		{"redis", nil, nil},
		{"50%", nil, nil},
	}
	for _, tc := range tests {
		list, err := db.ServerList(t.Context(), ServersQuery{From: start, To: now, Sort: SortServer, Q: tc.q, QPorts: tc.ports, Limit: 10})
		if err != nil {
			t.Fatalf("q %q: %v", tc.q, err)
		}
		var got []netip.AddrPort
		for _, s := range list.Servers {
			got = append(got, s.Server)
			if s.Server == pg && s.Connections != 7 {
				t.Errorf("q %q: %s has %d connections, want both windows' 7", tc.q, pg, s.Connections)
			}
		}
		if !slices.Equal(got, tc.want) || list.Matched != len(tc.want) {
			t.Errorf("q %q ports %v: %v (matched %d), want %v", tc.q, tc.ports, got, list.Matched, tc.want)
		}
	}
}
