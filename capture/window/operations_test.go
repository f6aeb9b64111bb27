package window

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func opSummary(ops map[string]uint64, statuses map[string]uint64) Summary {
	s := Summary{Server: netip.MustParseAddrPort("10.0.0.1:80"), Start: time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC), Protocol: "http"}
	for name, n := range ops {
		o := Operation{Name: name, Count: n, OK: n}
		for i := uint64(0); i < n; i++ {
			o.ResponseTime.Add(float64(100 + i))
		}
		s.Operations = append(s.Operations, o)
	}
	s.Operations = BoundOperations(s.Operations)
	s.Statuses = statuses
	return s
}

func TestMergeOperationsByName(t *testing.T) {
	a := opSummary(map[string]uint64{"GET /a": 3, "POST /b": 1}, map[string]uint64{"200": 3, "500": 1})
	b := opSummary(map[string]uint64{"GET /a": 2, "GET /c": 5}, map[string]uint64{"200": 7})
	a.Protocol = ""
	if err := a.Merge(&b); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, o := range a.Operations {
		got = append(got, fmt.Sprintf("%s=%d/%d/%d", o.Name, o.Count, o.OK, o.ResponseTime.Count))
	}
	if want := "GET /a=5/5/5 GET /c=5/5/5 POST /b=1/1/1"; strings.Join(got, " ") != want {
		t.Errorf("merged operations %s, want %s", strings.Join(got, " "), want)
	}
	if a.Statuses["200"] != 10 || a.Statuses["500"] != 1 || len(a.Statuses) != 2 {
		t.Errorf("merged statuses %v", a.Statuses)
	}
	if a.Protocol != "http" {
		t.Errorf("protocol %q after merging into an unknown one", a.Protocol)
	}
}

// TestMergeOperationsBounded: 150 operations from two sensors keep the 100
// most frequent by name; the rest, and any "other" already there, are one
// "other" that loses no count.
func TestMergeOperationsBounded(t *testing.T) {
	ops1, ops2 := map[string]uint64{}, map[string]uint64{OtherOperation: 4}
	var total uint64 = 4
	for i := 0; i < 150; i++ {
		n := uint64(i%7 + 1)
		if i < 20 {
			n = 100 // clearly among the most frequent
		}
		if i%2 == 0 {
			ops1[fmt.Sprintf("op%03d", i)] = n
		} else {
			ops2[fmt.Sprintf("op%03d", i)] = n
		}
		total += n
	}
	a, b := opSummary(ops1, nil), opSummary(ops2, nil)
	if err := a.Merge(&b); err != nil {
		t.Fatal(err)
	}
	if len(a.Operations) != MaxOperations+1 || a.Operations[MaxOperations].Name != OtherOperation {
		t.Fatalf("%d operations, last %q", len(a.Operations), a.Operations[len(a.Operations)-1].Name)
	}
	var sum uint64
	for i, o := range a.Operations {
		sum += o.Count
		if i > 0 && i < MaxOperations && o.Count > a.Operations[i-1].Count {
			t.Fatalf("not most frequent first at %d: %d after %d", i, o.Count, a.Operations[i-1].Count)
		}
		if o.ResponseTime.Count != o.Count {
			t.Fatalf("%s: %d response times for %d", o.Name, o.ResponseTime.Count, o.Count)
		}
	}
	if sum != total {
		t.Errorf("counts add up to %d, want %d", sum, total)
	}
	for i := 0; i < 20; i++ {
		if a.Operations[i].Count != 100 {
			t.Errorf("operation %d: %s=%d, want one of the 100s", i, a.Operations[i].Name, a.Operations[i].Count)
		}
	}
	if err := a.Validate(a.Start); err != nil {
		t.Errorf("merged summary invalid: %v", err)
	}
}

func TestMergeStatusesBounded(t *testing.T) {
	a, b := opSummary(nil, map[string]uint64{}), opSummary(nil, map[string]uint64{})
	for i := 0; i < MaxStatuses; i++ {
		a.Statuses[fmt.Sprint(i)] = 1
		b.Statuses[fmt.Sprint(i+MaxStatuses)] = 2
	}
	b.Statuses["0"] = 5
	if err := a.Merge(&b); err != nil {
		t.Fatal(err)
	}
	// 199 named fit beside "other": "199" and all of b's but "0" are other.
	if a.Statuses["0"] != 6 || a.Statuses[OtherStatus] != 1+2*MaxStatuses || len(a.Statuses) != MaxStatuses {
		t.Errorf("statuses: 0=%d other=%d, %d keys", a.Statuses["0"], a.Statuses[OtherStatus], len(a.Statuses))
	}
}

func TestAddStatusFoldsFullMap(t *testing.T) {
	m := map[string]uint64{}
	for i := 0; i < MaxStatuses; i++ {
		m[fmt.Sprint(i)] = uint64(10 + i)
	}
	m = AddStatus(m, "new", 1)
	if len(m) != MaxStatuses || m[OtherStatus] != 11 || m["0"] != 0 {
		t.Errorf("%d keys, other %d, 0 %d", len(m), m[OtherStatus], m["0"])
	}
}

func TestMergeKeepsTransportsApart(t *testing.T) {
	a, b := opSummary(nil, nil), opSummary(nil, nil)
	b.Transport = "udp"
	if err := a.Merge(&b); err == nil {
		t.Fatal("merged a tcp and a udp summary")
	}
	a.Transport = "tcp" // "" and "tcp" are the same transport
	b.Transport = ""
	if err := a.Merge(&b); err != nil {
		t.Fatal(err)
	}
}

func TestValidateBreakdown(t *testing.T) {
	good := opSummary(map[string]uint64{"GET /a": 2}, map[string]uint64{"200": 2})
	if err := good.Validate(good.Start); err != nil {
		t.Fatalf("good summary: %v", err)
	}
	many := make(map[string]uint64)
	for i := 0; i <= MaxStatuses; i++ {
		many[fmt.Sprint(i)] = 1
	}
	tests := []struct {
		name string
		mod  func(s *Summary)
	}{
		{"protocol upper case", func(s *Summary) { s.Protocol = "HTTP" }},
		{"protocol too long", func(s *Summary) { s.Protocol = strings.Repeat("a", 17) }},
		{"transport", func(s *Summary) { s.Transport = "sctp" }},
		{"empty operation", func(s *Summary) { s.Operations[0].Name = "" }},
		{"long operation", func(s *Summary) { s.Operations[0].Name = strings.Repeat("x", MaxOperationLen+1) }},
		{"operation not UTF-8", func(s *Summary) { s.Operations[0].Name = "GET /\xff" }},
		{"operation twice", func(s *Summary) { s.Operations = append(s.Operations, s.Operations[0]) }},
		{"too many operations", func(s *Summary) {
			for i := 0; i <= MaxOperations; i++ {
				s.Operations = append(s.Operations, Operation{Name: fmt.Sprint(i)})
			}
		}},
		{"results above count", func(s *Summary) { s.Operations[0].ServerError = 1 }},
		{"results overflow", func(s *Summary) { s.Operations[0].ClientError = ^uint64(0) }},
		{"response times above count", func(s *Summary) { s.Operations[0].Count, s.Operations[0].OK = 1, 1 }},
		{"bad response time", func(s *Summary) { s.Operations[0].ResponseTime.Min = -1 }},
		{"long status", func(s *Summary) { s.Statuses[strings.Repeat("9", MaxStatusLen+1)] = 1 }},
		{"empty status", func(s *Summary) { s.Statuses[""] = 1 }},
		{"too many statuses", func(s *Summary) { s.Statuses = many }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := opSummary(map[string]uint64{"GET /a": 2}, map[string]uint64{"200": 2})
			tt.mod(&s)
			if err := s.Validate(s.Start); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

func TestBreakdownJSONRoundTrip(t *testing.T) {
	s := opSummary(map[string]uint64{"GET /users/:id": 3, "HEAD /": 1}, map[string]uint64{"200": 3, "404": 1})
	s.Transport = "udp"
	b, err := json.Marshal(&s)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"protocol":"http"`, `"transport":"udp"`, `"operations":[{"operation":"GET /users/:id","count":3,"ok":3,"client_error":0,"server_error":0,"response_time":{`, `"statuses":{"200":3,"404":1}`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("JSON lacks %s:\n%s", want, b)
		}
	}
	var back Summary
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if err := back.Validate(back.Start); err != nil {
		t.Fatal(err)
	}
	if len(back.Operations) != 2 || back.Operations[0].ResponseTime.Quantile(0.5) != s.Operations[0].ResponseTime.Quantile(0.5) || back.Statuses["404"] != 1 {
		t.Errorf("round trip: %+v", back)
	}
	plain := Summary{Server: s.Server, Start: s.Start}
	b, _ = json.Marshal(&plain)
	for _, k := range []string{"protocol", "transport", "operations", "statuses"} {
		if strings.Contains(string(b), k) {
			t.Errorf("tcp summary carries %s: %s", k, b)
		}
	}
}
