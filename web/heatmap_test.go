package web

import (
	"encoding/json"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/pastmon/pastmon/capture/window"
)

// TestHeatmap ingests known response times and checks that every window's
// rows hold its values: up to each row bound, the rows count the values at
// most that bound, give or take the values within a sketch bin of it.
func TestHeatmap(t *testing.T) {
	e := newEnv(t, testAdminPW)
	c, _ := e.loggedIn()
	base := window.Start(e.clock.Now()).Add(-time.Hour)
	values := map[time.Time][]float64{
		base:                       append(seq(100, 3, 200), seq(20000, 500, 50)...),
		base.Add(window.Width):     seq(150, 1, 300),
		base.Add(3 * window.Width): append([]float64{0, 0}, seq(5, 7, 40)...),
	}
	var sums []window.Summary
	for start, v := range values {
		sums = append(sums, summary(serverA, start, 1, nil, v))
	}
	e.ingest(batch("heat-1", "s1", sums...))

	for _, rows := range []int{0, 10, 100} {
		q := url.Values{"server": {serverA}, "metric": {"response_time"}, "from": {base.Format(time.RFC3339)}, "to": {base.Add(time.Hour).Format(time.RFC3339)}}
		if rows > 0 {
			q.Set("rows", strconv.Itoa(rows))
		}
		r := e.do(c, "GET", "/api/v1/heatmap?"+q.Encode(), nil)
		if r.status != http.StatusOK {
			t.Fatalf("heatmap: %d %s", r.status, r.body)
		}
		var h heatmapJSON
		if err := json.Unmarshal([]byte(r.body), &h); err != nil {
			t.Fatal(err)
		}
		want := rows
		if want == 0 {
			want = defaultHeatRows
		}
		if len(h.Bounds) != want+1 || len(h.Windows) != len(values) {
			t.Fatalf("rows=%d: %d bounds, %d windows; want %d and %d", rows, len(h.Bounds), len(h.Windows), want+1, len(values))
		}
		for _, hw := range h.Windows {
			vals := values[hw.T]
			if hw.Count != uint64(len(vals)) || len(hw.Counts) != want {
				t.Fatalf("window %s: count %d, %d rows; want %d values", hw.T, hw.Count, len(hw.Counts), len(vals))
			}
			var cum uint64
			for k := 0; k <= want; k++ {
				b := h.Bounds[k]
				var below, near uint64
				for _, v := range vals {
					if v <= b {
						below++
					}
					if v > b/1.03 && v < b*1.03 {
						near++
					}
				}
				// Row 0 starts at the lowest bin and holds the zeros too.
				if d := int64(cum) - int64(below); k > 0 && uint64(max(d, -d)) > near {
					t.Errorf("rows=%d window %s: %d values in the rows below %g µs, %d values are at most it (%d near it)", rows, hw.T, cum, b, below, near)
				}
				if k < want {
					cum += hw.Counts[k]
				}
			}
			if cum != uint64(len(vals)) {
				t.Errorf("window %s: rows hold %d values, want %d", hw.T, cum, len(vals))
			}
		}
		for k := 1; k < len(h.Bounds); k++ {
			if !(h.Bounds[k] > h.Bounds[k-1]) || math.IsNaN(h.Bounds[k]) {
				t.Fatalf("bounds not increasing: %v", h.Bounds)
			}
		}
	}
	for _, bad := range []url.Values{{"rows": {"0"}}, {"rows": {"101"}}, {"rows": {"x"}}, {"metric": {"nope"}}, {"server": {"x"}}} {
		if bad.Get("server") == "" {
			bad.Set("server", serverA)
		}
		if r := e.do(c, "GET", "/api/v1/heatmap?"+bad.Encode(), nil); r.status != http.StatusBadRequest {
			t.Errorf("heatmap %s: %d, want 400", bad, r.status)
		}
	}
	r := e.do(c, "GET", "/api/v1/heatmap?server=10.9.9.9:1", nil)
	if r.status != http.StatusOK || !json.Valid([]byte(r.body)) {
		t.Fatalf("unknown server: %d %s", r.status, r.body)
	}
	var h heatmapJSON
	_ = json.Unmarshal([]byte(r.body), &h)
	if len(h.Windows) != 0 || len(h.Bounds) != 0 {
		t.Errorf("unknown server: %+v, want no windows", h)
	}
}
