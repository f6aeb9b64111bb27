package web

import (
	"encoding/json"
	"net/http"
	"slices"
	"testing"

	"github.com/pastmon/pastmon/capture/window"
)

// TestServersSortWorstErrors checks that sort=worst weighs the error rate
// with the p95 response time: a server failing many of its transactions
// comes before a clean one with a similar (even a somewhat higher) p95;
// among failing servers the higher error rate comes first; a few errors
// do not outrank a slower server.
func TestServersSortWorstErrors(t *testing.T) {
	e := newEnv(t, testAdminPW)
	start := window.Start(e.clock.Now()).Add(-window.Width)
	responses := func(us float64) []float64 {
		v := make([]float64, 200)
		for i := range v {
			v[i] = us * (0.5 + float64(i)/400)
		}
		return v
	}
	servers := []struct {
		addr           string
		p95            float64
		client, failed uint64 // of 200 transactions
	}{
		{"192.0.2.1:80", 12000, 0, 0},   // clean, slowest
		{"192.0.2.2:80", 10000, 0, 100}, // half its transactions failed
		{"192.0.2.3:80", 11000, 1, 1},   // 1% errors
		{"192.0.2.4:80", 5000, 40, 120}, // 80% errors, fast
		{"192.0.2.5:80", 11500, 0, 0},   // clean
	}
	want := []string{"192.0.2.4:80", "192.0.2.2:80", "192.0.2.1:80", "192.0.2.5:80", "192.0.2.3:80"}
	var sums []window.Summary
	for _, s := range servers {
		sum := summary(s.addr, start, 10, nil, responses(s.p95))
		sum.ClientErrors, sum.ServerErrors = s.client, s.failed
		sums = append(sums, sum)
	}
	e.ingest(batch("b1", "s1", sums...))
	c, _ := e.loggedIn()
	r := e.get(c, "/api/v1/servers?sort=worst")
	if r.status != http.StatusOK {
		t.Fatalf("GET /api/v1/servers?sort=worst: %d %s", r.status, r.body)
	}
	var got struct {
		Servers []struct {
			Server string `json:"server"`
		} `json:"servers"`
	}
	if err := json.Unmarshal([]byte(r.body), &got); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range got.Servers {
		names = append(names, s.Server)
	}
	if !slices.Equal(names, want) {
		t.Errorf("sort=worst: %v, want %v", names, want)
	}
}
