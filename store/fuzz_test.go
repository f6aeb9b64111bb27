package store

import (
	"context"
	"encoding/json"
	"math"
	"path/filepath"
	"testing"
	"time"

	"github.com/pastmon/pastmon/capture/window"
)

// FuzzIngest feeds arbitrary batches (as the web node decodes them from
// JSON) to Ingest: never a panic, and whatever is accepted reads back.
func FuzzIngest(f *testing.F) {
	g := newGen(20)
	s1, _ := g.summary(addr(1), t0, 5)
	s2, _ := g.summary(addr(2), t0.Add(window.Width), 1)
	for _, b := range []*window.Batch{
		batch("seed-1", "alpha", s1),
		batch("seed-2", "bravo", s1, s2, s1),
		{ID: "heartbeat", Sensor: window.SensorInfo{Name: "x", Interfaces: []string{"eth0"}}},
	} {
		j, err := json.Marshal(b)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(j)
	}
	f.Add([]byte(`{"id":"a","sensor":{"name":"s"},"windows":[{"server":"[::1]:80","start":"2026-03-01T10:00:00Z","connections":18446744073709551615,"metrics":{}}]}`))
	db, err := Open(context.Background(), filepath.Join(f.TempDir(), "pastmon.db"))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { db.Close() })
	now := t0.Add(time.Hour)
	f.Fuzz(func(t *testing.T, data []byte) {
		var b window.Batch
		if json.Unmarshal(data, &b) != nil {
			return
		}
		ctx := context.Background()
		dup, err := db.Ingest(ctx, &b, now)
		if err != nil || dup {
			return
		}
		for _, s := range b.Summaries {
			got, err := db.Series(ctx, SeriesQuery{Server: s.Server, Metric: window.RTT, From: s.Start, To: s.Start.Add(window.Width)})
			if err != nil {
				t.Fatalf("series after ingest: %v", err)
			}
			if s.Metrics[window.RTT].Count > 0 && (len(got.Points) != 1 || got.Points[0].Dist.Count < s.Metrics[window.RTT].Count) {
				t.Fatalf("ingested %s@%s not read back: %+v", s.Server, s.Start, got.Points)
			}
		}
		if _, err := db.Servers(ctx, now.Add(-2*time.Hour), now); err != nil {
			t.Fatalf("servers after ingest: %v", err)
		}
	})
}

// FuzzStoredDist decodes arbitrary bytes as a stored distribution (a
// damaged database): an error or a valid distribution, never a panic.
func FuzzStoredDist(f *testing.F) {
	g := newGen(21)
	s, _ := g.summary(addr(1), t0, 30)
	for i := range s.Metrics {
		f.Add(encodeDist(&s.Metrics[i]))
	}
	f.Add([]byte{})
	f.Add([]byte{0})
	f.Add([]byte{5, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := decodeDist(b)
		if err == nil && d.Count > 0 {
			q := d.Quantile(0.5)
			if math.IsNaN(q) || q < d.Min || q > d.Max {
				t.Fatalf("decoded %+v has median %v", d, q)
			}
		}
		var a distAcc
		if err := a.add(b); err != nil {
			return
		}
		if err := a.add(b); err != nil {
			t.Fatalf("second add of the same bytes failed: %v", err)
		}
		_, _ = a.dist()
	})
}
