package web

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/pastmon/pastmon/capture/window"
	"github.com/pastmon/pastmon/store"
)

// BenchmarkIngest measures the ingest route end to end (JSON decoding,
// checks, SQLite transaction) with batches of 100 windows, as a sensor
// watching 100 servers sends every 5 minutes.
func BenchmarkIngest(b *testing.B) {
	db, err := store.Open(context.Background(), filepath.Join(b.TempDir(), "bench.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	now := time.Now().UTC()
	srv, err := New(Config{DB: db, Token: testToken, Now: func() time.Time { return now }})
	if err != nil {
		b.Fatal(err)
	}
	start := window.Start(now).Add(-window.Width)
	var sums []window.Summary
	for i := 0; i < 100; i++ {
		sums = append(sums, summary(fmt.Sprintf("10.0.%d.%d:443", i/250, i%250+1), start, 50, seq(500, 3, 200), seq(3000, 20, 150)))
	}
	bodies := make([][]byte, 0, 64)
	for i := 0; i < cap(bodies); i++ {
		bt := batch(fmt.Sprintf("bench-%d", i), fmt.Sprintf("sensor-%d", i), sums...)
		bodies = append(bodies, must(json.Marshal(bt)))
	}
	b.SetBytes(int64(len(bodies[0])))
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		// New sensor names keep every batch new; windows merge into the
		// same rows after the first 64.
		body := bodies[i%len(bodies)]
		if i >= len(bodies) {
			body = bytes.Replace(body, []byte(`"id":"bench-`), []byte(fmt.Sprintf(`"id":"b%d-`, i)), 1)
		}
		req := httptest.NewRequest(http.MethodPost, IngestPath, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+testToken)
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("%d %s", rec.Code, rec.Body)
		}
		i++
	}
	b.ReportMetric(float64(100*b.N)/b.Elapsed().Seconds(), "windows/s")
}
