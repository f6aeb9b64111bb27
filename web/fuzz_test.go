package web

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/pastmon/pastmon/capture/window"
)

// FuzzIngestBody feeds arbitrary bodies through every check the ingest
// handler runs before the store: none may panic, and whatever passes must
// survive a round trip through the wire encoding unchanged.
func FuzzIngestBody(f *testing.F) {
	now := time.Date(2026, 3, 4, 10, 7, 0, 0, time.UTC)
	good := batch("seed", "s1", summary("10.0.0.1:80", window.Start(now), 3, []float64{1, 2, 300}, []float64{4000}))
	f.Add(must(json.Marshal(good)))
	f.Add([]byte(`{"id":"x","sensor":{"name":"s"},"windows":[]}`))
	f.Add([]byte(`{"id":"x","sensor":{"name":"s"},"windows":[{"server":"[::1]:1","start":"2026-03-04T10:00:00Z","metrics":{"rtt":{"count":1,"sum_us":5,"min_us":5,"max_us":5,"sketch":"AAAA"}}}]}`))
	f.Add([]byte(`{"id":"x","sensor":{"name":"s"},"windows":[{"server":"1.2.3.4:5","start":"2026-03-04T10:00:00Z","connections":-1}]}`))
	f.Add([]byte(`{"id":1}`))
	f.Add([]byte(`[]`))
	f.Add([]byte(``))
	f.Fuzz(func(t *testing.T, body []byte) {
		var b window.Batch
		if _, _, status, _ := decodeBatch(bytes.NewReader(body), &b); status != 0 {
			return
		}
		if b.Validate() != nil || checkBatchBounds(&b) != nil {
			return
		}
		for i := range b.Summaries {
			if b.Summaries[i].Validate(now) != nil {
				return
			}
		}
		again, err := json.Marshal(&b)
		if err != nil {
			t.Fatalf("accepted batch does not encode: %v", err)
		}
		var b2 window.Batch
		if _, rej, status, msg := decodeBatch(bytes.NewReader(again), &b2); status != 0 || len(rej) != 0 {
			t.Fatalf("accepted batch does not decode again: %d %s %v\n%s", status, msg, rej, again)
		}
		if len(b2.Summaries) != len(b.Summaries) || b2.ID != b.ID {
			t.Fatalf("round trip changed the batch")
		}
		for i := range b.Summaries {
			if b.Summaries[i].Counters != b2.Summaries[i].Counters || b.Summaries[i].Server != b2.Summaries[i].Server {
				t.Fatalf("round trip changed window %d", i)
			}
		}
	})
}

// FuzzSeriesQuery checks that no query string makes the series parameter
// parsing panic, and that what it accepts is a sane range.
func FuzzSeriesQuery(f *testing.F) {
	f.Add("server=10.0.0.1:80&metric=rtt&from=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00Z")
	f.Add("server=[::1]:443&metric=response_time&sensor=a")
	f.Add("server=%zz&from=9999-99-99")
	f.Add("from=2026-01-01T00:00:00%2B14:00&to=2026-01-01T00:00:00-12:00&server=1.1.1.1:1")
	s := &Server{cfg: Config{Now: func() time.Time { return time.Date(2026, 3, 4, 10, 7, 0, 0, time.UTC) }}}
	f.Fuzz(func(t *testing.T, query string) {
		r := &http.Request{Method: "GET", URL: &url.URL{Path: "/api/v1/series", RawQuery: query}}
		q, err := s.seriesQuery(r)
		if err != nil {
			return
		}
		if !q.From.Before(q.To) || q.To.Sub(q.From) > maxRange || !q.Server.IsValid() || q.Metric >= window.NumMetrics {
			t.Fatalf("accepted a bad query %q: %+v", query, q)
		}
	})
}
