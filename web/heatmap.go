package web

import (
	"errors"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/pastmon/pastmon/capture/window"
	"github.com/pastmon/pastmon/store"
)

// Heatmap rows: the sketches' bins (about 35 per octave) are coarsened to
// at most maxHeatRows log-spaced rows, so the answer stays small whatever
// the range of values.
const (
	defaultHeatRows = 40
	maxHeatRows     = 100
)

// heatmapJSON is GET /api/v1/heatmap: per window (t is its start), the
// count of values in each row; row i holds values from bounds_us[i] to
// bounds_us[i+1] (row 0 also those of 0 µs).
type heatmapJSON struct {
	Server string `json:"server"`
	Metric string `json:"metric"`
	// Operation is set when the values are the operation's own.
	Operation string           `json:"operation,omitempty"`
	Sensor    string           `json:"sensor,omitempty"`
	From      time.Time        `json:"from"`
	To        time.Time        `json:"to"`
	Step      int64            `json:"step_s"`
	Bounds    []float64        `json:"bounds_us"`
	Windows   []heatWindowJSON `json:"windows"`
}

type heatWindowJSON struct {
	T      time.Time `json:"t"`
	Count  uint64    `json:"count"`
	Counts []uint64  `json:"counts"`
}

func (s *Server) apiHeatmap(w http.ResponseWriter, r *http.Request) {
	q, err := s.seriesQuery(r)
	if err != nil {
		writeJSONError(w, http.StatusBadRequest, err.Error())
		return
	}
	rows := defaultHeatRows
	if v := r.URL.Query().Get("rows"); v != "" {
		if rows, err = strconv.Atoi(v); err != nil || rows < 1 || rows > maxHeatRows {
			writeJSONError(w, http.StatusBadRequest, "rows: want a number from 1 to "+strconv.Itoa(maxHeatRows)+", got "+strconv.Quote(v))
			return
		}
	}
	series, err := s.db.Series(r.Context(), q)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		s.fail(w, r, "read heatmap", err)
		return
	}
	out := heatmap(series.Points, rows)
	out.Server, out.Metric, out.Sensor, out.From, out.To = q.Server.String(), q.Metric.String(), q.Sensor, q.From, q.To
	out.Step = int64(series.Step / time.Second)
	if q.Operation != "" && q.Metric == window.ResponseTime {
		out.Operation = q.Operation
	}
	writeJSON(w, http.StatusOK, out)
}

// heatmap coarsens the points' bins to at most rows log-spaced rows
// spanning the smallest to the largest bin of all points, fewer when the
// values span fewer bins. Each bin counts in the row of its geometric
// middle.
func heatmap(points []store.SeriesPoint, rows int) heatmapJSON {
	lo, hi, distinct := math.Inf(1), 0.0, map[float64]bool{}
	bins := make([][]window.Bin, len(points))
	zeros := make([]uint64, len(points))
	var anyZero bool
	for i := range points {
		bins[i], zeros[i] = points[i].Dist.Bins(nil)
		for _, b := range bins[i] {
			lo, hi = math.Min(lo, b.Lower), math.Max(hi, b.Upper)
			distinct[b.Lower] = true
		}
		anyZero = anyZero || zeros[i] > 0
	}
	out := heatmapJSON{Bounds: []float64{}, Windows: make([]heatWindowJSON, 0, len(points))}
	switch {
	case len(distinct) > 0:
	case anyZero: // only values of 0 µs: one row
		lo, hi = 0, 1
	default:
		return out
	}
	rows = max(1, min(rows, len(distinct)))
	row := func(v float64) int {
		if v <= lo || lo == 0 {
			return 0
		}
		return min(rows-1, int(float64(rows)*math.Log(v/lo)/math.Log(hi/lo)))
	}
	for k := 0; k <= rows; k++ {
		b := hi * float64(k) / float64(rows)
		if lo > 0 {
			b = lo * math.Pow(hi/lo, float64(k)/float64(rows))
		}
		out.Bounds = append(out.Bounds, math.Round(b*1000)/1000)
	}
	for i := range points {
		p := &points[i]
		hw := heatWindowJSON{T: p.T.UTC(), Count: p.Dist.Count, Counts: make([]uint64, rows)}
		hw.Counts[0] = zeros[i]
		for _, b := range bins[i] {
			hw.Counts[row(math.Sqrt(b.Lower*b.Upper))] += b.Count
		}
		out.Windows = append(out.Windows, hw)
	}
	return out
}
