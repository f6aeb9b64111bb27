package window

import (
	"encoding/base64"
	"encoding/json"
	"math"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
)

// exactQuantile is the lower q-quantile of sorted values, the definition
// DDSketch's guarantee is stated for.
func exactQuantile(sorted []float64, q float64) float64 {
	return sorted[int(q*float64(len(sorted)-1))]
}

func TestDistMergeKeepsRelativeError(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var all []float64
	var merged Dist
	// 3 sensors × 288 windows (a day) of log-normal latencies, merged.
	for part := 0; part < 3*288; part++ {
		var d Dist
		for i := 0; i < 20; i++ {
			v := math.Exp(rng.NormFloat64()*1.5 + 7) // µs, around 1 ms
			d.Add(v)
			all = append(all, v)
		}
		merged.Merge(&d)
	}
	slices.Sort(all)
	if merged.Count != uint64(len(all)) {
		t.Fatalf("count %d, want %d", merged.Count, len(all))
	}
	if merged.Min != all[0] || merged.Max != all[len(all)-1] {
		t.Fatalf("min/max %v/%v, want %v/%v", merged.Min, merged.Max, all[0], all[len(all)-1])
	}
	var sum float64
	for _, v := range all {
		sum += v
	}
	if math.Abs(merged.Sum-sum) > 1e-6*sum {
		t.Fatalf("sum %v, want %v", merged.Sum, sum)
	}
	for _, q := range []float64{0.5, 0.95, 0.99} {
		got, want := merged.Quantile(q), exactQuantile(all, q)
		if rel := math.Abs(got-want) / want; rel > 0.02 {
			t.Errorf("p%v = %v, exact %v: relative error %.4f > 2%%", q*100, got, want, rel)
		}
	}
}

func TestDistEncodingsRoundTrip(t *testing.T) {
	var d Dist
	for _, v := range []float64{0, 12.5, 100, 2500.25, 1e6} {
		d.Add(v)
	}
	bin, err := d.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var fromBin Dist
	if err := fromBin.UnmarshalBinary(bin); err != nil {
		t.Fatal(err)
	}
	js, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	var fromJSON Dist
	if err := json.Unmarshal(js, &fromJSON); err != nil {
		t.Fatal(err)
	}
	for name, got := range map[string]*Dist{"binary": &fromBin, "json": &fromJSON} {
		if got.Count != 5 || got.Sum != d.Sum || got.Min != 0 || got.Max != 1e6 {
			t.Errorf("%s: %+v", name, got.Stats())
		}
		if got.Quantile(0.5) != d.Quantile(0.5) {
			t.Errorf("%s: p50 %v, want %v", name, got.Quantile(0.5), d.Quantile(0.5))
		}
	}
	var empty Dist
	bin, _ = empty.MarshalBinary()
	if err := fromBin.UnmarshalBinary(bin); err != nil || fromBin.Count != 0 {
		t.Errorf("empty round trip: %v %+v", err, fromBin)
	}
}

func TestDistRejectsBadInput(t *testing.T) {
	var good Dist
	good.Add(10)
	good.Add(20)
	sketch := good.Sketch()
	for name, in := range map[string]string{
		"negative":       `{"count":1,"sum_us":-1,"min_us":-1,"max_us":-1}`,
		"absurd":         `{"count":1,"sum_us":1e12,"min_us":1e12,"max_us":1e12}`,
		"min above max":  `{"count":2,"sum_us":30,"min_us":20,"max_us":10}`,
		"sum off":        `{"count":2,"sum_us":3000,"min_us":10,"max_us":20}`,
		"unknown field":  `{"count":0,"bogus":1}`,
		"no sketch":      `{"count":2,"sum_us":30,"min_us":10,"max_us":20}`,
		"count mismatch": `{"count":3,"sum_us":40,"min_us":10,"max_us":20,"sketch":"` + b64(sketch) + `"}`,
		"garbage sketch": `{"count":2,"sum_us":30,"min_us":10,"max_us":20,"sketch":"AAAA"}`,
		"empty nonzero":  `{"count":0,"sum_us":5}`,
	} {
		var d Dist
		if err := json.Unmarshal([]byte(in), &d); err == nil {
			t.Errorf("%s: accepted %s", name, in)
		}
	}
}

func TestSummaryValidate(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 3, 0, 0, time.UTC)
	ok := Summary{Server: netip.MustParseAddrPort("10.0.0.1:80"), Start: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
	if err := ok.Validate(now); err != nil {
		t.Fatalf("valid summary: %v", err)
	}
	for name, mutate := range map[string]func(*Summary){
		"no address": func(s *Summary) { s.Server = netip.AddrPort{} },
		"unaligned":  func(s *Summary) { s.Start = s.Start.Add(time.Minute) },
		"future":     func(s *Summary) { s.Start = s.Start.Add(MaxSkew + Width) },
		"zero start": func(s *Summary) { s.Start = time.Time{} },
	} {
		s := ok
		mutate(&s)
		if err := s.Validate(now); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestBatchJSONRoundTrip(t *testing.T) {
	s := Summary{Server: netip.MustParseAddrPort("[2001:db8::1]:443"), Start: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
	s.Connections, s.Transactions = 3, 7
	s.Metrics[ResponseTime].Add(1500)
	b := Batch{ID: "b1", Sensor: SensorInfo{Name: "n1"}, Summaries: []Summary{s}}
	js, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(js), `"response_time"`) || strings.Contains(string(js), `"rtt"`) {
		t.Errorf("metrics encoding: %s", js)
	}
	var back Batch
	if err := json.Unmarshal(js, &back); err != nil {
		t.Fatal(err)
	}
	if err := back.Validate(); err != nil {
	}
	if err := back.Summaries[0].Validate(s.Start); err != nil {
		t.Fatal(err)
		t.Fatal(err)
	}
	got := back.Summaries[0]
	if got.Server != s.Server || !got.Start.Equal(s.Start) || got.Transactions != 7 || got.Metrics[ResponseTime].Max != 1500 {
		t.Errorf("round trip: %+v", got)
	}
}
func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
