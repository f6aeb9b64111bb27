package web

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pastmon/pastmon/capture/window"
)

// opsSummary is a window of serverA with the given operations: name →
// {count, client errors, server errors}, each response 1000+i µs.
func opsSummary(start time.Time, ops map[string][3]uint64) window.Summary {
	s := summary(serverA, start, 3, []float64{100}, nil)
	s.Protocol = "http"
	s.Statuses = map[string]uint64{}
	for name, n := range ops {
		o := window.Operation{Name: name, Count: n[0], ClientError: n[1], ServerError: n[2], OK: n[0] - n[1] - n[2]}
		for i := range n[0] {
			o.ResponseTime.Add(float64(1000 + i))
			s.Metrics[window.ResponseTime].Add(float64(1000 + i))
		}
		s.Transactions += n[0]
		s.ClientErrors += n[1]
		s.ServerErrors += n[2]
		s.Statuses["200"] += n[0] - n[1] - n[2]
		s.Statuses["404"] += n[1]
		s.Statuses["500"] += n[2]
		s.Operations = append(s.Operations, o)
	}
	s.Operations = window.BoundOperations(s.Operations)
	return s
}

// TestOperationsAPI: the breakdown merged over sensors and windows, from
// 5-minute rows and from hourly rollups alike; series narrowed to one
// operation.
func TestOperationsAPI(t *testing.T) {
	e := newEnv(t, testAdminPW)
	c, _ := e.loggedIn()
	base := window.Start(e.clock.Now()).Add(-2 * time.Hour).Truncate(time.Hour)
	e.ingest(batch("ops-1", "s1",
		opsSummary(base, map[string][3]uint64{"GET /a": {10, 1, 0}, "POST /b": {4, 0, 2}}),
		opsSummary(base.Add(window.Width), map[string][3]uint64{"GET /a": {6, 0, 1}})))
	e.ingest(batch("ops-2", "s2", opsSummary(base, map[string][3]uint64{"GET /a": {3, 0, 0}, "DELETE /c": {1, 1, 0}})))
	want := map[string][3]uint64{"GET /a": {19, 1, 1}, "POST /b": {4, 0, 2}, "DELETE /c": {1, 1, 0}}

	check := func(label string, q url.Values) {
		t.Helper()
		r := e.do(c, "GET", "/api/v1/operations?"+q.Encode(), nil)
		if r.status != http.StatusOK {
			t.Fatalf("%s: %d %s", label, r.status, r.body)
		}
		var got operationsJSON
		if err := json.Unmarshal([]byte(r.body), &got); err != nil {
			t.Fatal(err)
		}
		if len(got.Operations) != len(want) || got.Operations[0].Name != "GET /a" || got.Protocol != "http" {
			t.Fatalf("%s: %+v, want %d operations, GET /a first", label, got, len(want))
		}
		for _, o := range got.Operations {
			w := want[o.Name]
			if o.Count != w[0] || o.ClientError != w[1] || o.ServerError != w[2] || o.OK != w[0]-w[1]-w[2] || o.ResponseTime.Count != w[0] {
				t.Errorf("%s: %s = %+v, want count %d, errors %d/%d", label, o.Name, o, w[0], w[1], w[2])
			}
		}
		if got.Statuses["200"] != 19 || got.Statuses["404"] != 2 || got.Statuses["500"] != 3 || got.Transactions != 24 || got.ServerErrors != 3 {
			t.Errorf("%s: statuses %v, transactions %d, server errors %d", label, got.Statuses, got.Transactions, got.ServerErrors)
		}
	}
	rng := url.Values{"server": {serverA}, "from": {base.Add(-time.Hour).Format(time.RFC3339)}, "to": {base.Add(time.Hour).Format(time.RFC3339)}}
	check("5-minute rows", rng)

	// The server listing and the overview name the protocol.
	var list struct {
		Servers []struct{ Server, Transport, Protocol string } `json:"servers"`
	}
	r := e.do(c, "GET", "/api/v1/servers?"+url.Values{"from": rng["from"], "to": rng["to"]}.Encode(), nil)
	if err := json.Unmarshal([]byte(r.body), &list); err != nil || len(list.Servers) != 1 || list.Servers[0].Protocol != "http" || list.Servers[0].Transport != "tcp" {
		t.Errorf("servers: %s", r.body)
	}
	if page := e.get(c, "/?"+url.Values{"from": rng["from"], "to": rng["to"]}.Encode()); !strings.Contains(page.body, `<small class="proto">http</small>`) {
		t.Errorf("overview does not name the protocol:\n%s", page.body)
	}

	// One operation's series: its count and response times, per window.
	q := url.Values{"server": {serverA}, "metric": {"response_time"}, "operation": {"GET /a"}, "from": rng["from"], "to": rng["to"]}
	var s struct {
		Operation string `json:"operation"`
		Points    []struct {
			T            time.Time `json:"t"`
			Count        uint64    `json:"count"`
			Transactions uint64    `json:"transactions"`
			ServerErrors uint64    `json:"server_errors"`
			Connections  uint64    `json:"connections"`
		} `json:"points"`
	}
	r = e.do(c, "GET", "/api/v1/series?"+q.Encode(), nil)
	if err := json.Unmarshal([]byte(r.body), &s); err != nil || r.status != 200 {
		t.Fatalf("series: %d %s", r.status, r.body)
	}
	if s.Operation != "GET /a" || len(s.Points) != 2 || s.Points[0].Count != 13 || s.Points[0].Transactions != 13 ||
		s.Points[1].Count != 6 || s.Points[1].ServerErrors != 1 || s.Points[0].Connections != 6 {
		t.Errorf("series of GET /a: %+v", s)
	}
	q.Set("metric", "rtt")
	s.Operation, s.Points = "", nil
	r = e.do(c, "GET", "/api/v1/series?"+q.Encode(), nil)
	if err := json.Unmarshal([]byte(r.body), &s); err != nil || s.Operation != "" || len(s.Points) != 2 || s.Points[0].Count != 2 {
		t.Errorf("rtt with an operation: the server's, without operation: %s", r.body)
	}
	q.Set("operation", string(make([]byte, 201)))
	if r := e.do(c, "GET", "/api/v1/series?"+q.Encode(), nil); r.status != http.StatusBadRequest {
		t.Errorf("operation of 201 bytes: %d", r.status)
	}

	// After the hourly rollup and retention of the 5-minute rows, a long
	// range reads hours and finds the same.
	if err := e.db.Maintain(t.Context(), e.clock.Now().Add(2*time.Hour), time.Hour, 400*24*time.Hour); err != nil {
		t.Fatal(err)
	}
	long := url.Values{"server": {serverA}, "from": {base.Add(-72 * time.Hour).Format(time.RFC3339)}, "to": {e.clock.Now().Format(time.RFC3339)}}
	check("hourly rows", long)
}
