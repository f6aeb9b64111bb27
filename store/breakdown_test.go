package store

import (
	"context"
	"encoding/json"
	"net/netip"
	"testing"
	"time"

	"github.com/pastmon/pastmon/capture/window"
)

func withOps(s window.Summary, ops map[string]uint64, statuses map[string]uint64) window.Summary {
	s.Protocol = "http"
	for name, n := range ops {
		o := window.Operation{Name: name, Count: n, ServerError: n}
		for i := uint64(0); i < n; i++ {
			o.ResponseTime.Add(float64(1000 + i))
		}
		s.Operations = append(s.Operations, o)
	}
	s.Operations = window.BoundOperations(s.Operations)
	s.Statuses = statuses
	return s
}

func storedBreakdown(t *testing.T, db *DB, table, addr string, start int64) breakdown {
	t.Helper()
	var raw []byte
	err := db.r.QueryRow("SELECT "+table+".breakdown FROM "+table+" JOIN servers ON servers.id = "+table+".server WHERE servers.addr = ? AND start = ?",
		addr, start).Scan(&raw)
	if err != nil {
		t.Fatalf("%s row of %s: %v", table, addr, err)
	}
	var bd breakdown
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &bd); err != nil {
			t.Fatal(err)
		}
	}
	return bd
}

// TestBreakdownKeptAndMerged: a window arriving in two parts keeps the
// breakdown of both, merged by operation; the hourly rollup keeps it too,
// and a UDP server is a server of its own.
func TestBreakdownKeptAndMerged(t *testing.T) {
	db := openTest(t)
	srv := netip.MustParseAddrPort("10.1.0.1:8080")
	a := withOps(window.Summary{Server: srv, Start: t0}, map[string]uint64{"GET /a": 2, "POST /b": 1}, map[string]uint64{"500": 3})
	a.ServerErrors = 3
	b := withOps(window.Summary{Server: srv, Start: t0}, map[string]uint64{"GET /a": 5}, map[string]uint64{"500": 5})
	b.ServerErrors = 5
	udp := window.Summary{Server: srv, Start: t0, Transport: "udp", Protocol: "dns", Statuses: map[string]uint64{"NOERROR": 1}}
	now := t0.Add(10 * time.Minute)
	mustIngest(t, db, batch("b1", "s1", a), now)
	mustIngest(t, db, batch("b2", "s1", b, udp), now)

	check := func(table string, start int64) {
		bd := storedBreakdown(t, db, table, srv.String(), start)
		if bd.Protocol != "http" || len(bd.Operations) != 2 || bd.Statuses["500"] != 8 {
			t.Fatalf("%s breakdown %+v", table, bd)
		}
		if o := bd.Operations[0]; o.Name != "GET /a" || o.Count != 7 || o.ServerError != 7 || o.ResponseTime.Count != 7 || o.ResponseTime.Max != 1004 {
			t.Errorf("%s: first operation %+v", table, o)
		}
		var errs int64
		if err := db.r.QueryRow("SELECT sum(server_errors) FROM " + table).Scan(&errs); err != nil || errs != 8 {
			t.Errorf("%s server_errors %d (%v), want 8", table, errs, err)
		}
	}
	check("windows", t0.Unix())
	if bd := storedBreakdown(t, db, "windows", srv.String()+"/udp", t0.Unix()); bd.Protocol != "dns" || bd.Statuses["NOERROR"] != 1 {
		t.Errorf("udp server breakdown %+v", bd)
	}
	if err := db.Maintain(context.Background(), t0.Add(3*time.Hour), 30*24*time.Hour, 365*24*time.Hour); err != nil {
		t.Fatal(err)
	}
	check("hours", t0.Truncate(time.Hour).Unix())
}
