package window

import (
	"net/netip"
	"testing"
	"time"
)

func TestClosedPortsValidate(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 3, 0, 0, time.UTC)
	bucket := Summary{Server: netip.MustParseAddrPort("10.0.0.1:0"), Start: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
	bucket.Connections, bucket.Refused, bucket.Unanswered, bucket.SynRetries = 5, 3, 2, 4
	if err := bucket.Validate(now); err != nil {
		t.Fatalf("closed-ports bucket: %v", err)
	}
	v6 := bucket
	v6.Server, v6.Transport = netip.MustParseAddrPort("[fd00::1]:0"), "tcp"
	if err := v6.Validate(now); err != nil {
		t.Fatalf("IPv6 closed-ports bucket: %v", err)
	}
	mutations := map[string]func(*Summary){
		"udp":      func(s *Summary) { s.Transport = "udp" },
		"protocol": func(s *Summary) { s.Protocol = "http" },
		"statuses": func(s *Summary) { s.Statuses = map[string]uint64{"200": 1} },
		"timing":   func(s *Summary) { s.Metrics[ConnectTime].Add(100) },
	}
	for k := range NumCounters {
		if !closedPortCounters[k] {
			mutations[k.String()] = func(s *Summary) { *s.Counters.Field(k) = 1 }
		}
	}
	for name, mutate := range mutations {
		s := bucket
		mutate(&s)
		if err := s.Validate(now); err == nil {
			t.Errorf("bucket with %s: accepted", name)
		}
	}
}

func TestServerName(t *testing.T) {
	for in, want := range map[string]string{
		"10.0.0.1:0":   "10.0.0.1:*",
		"[fd00::1]:0":  "[fd00::1]:*",
		"10.0.0.1:80":  "10.0.0.1:80",
		"[fd00::1]:53": "[fd00::1]:53",
	} {
		if got := ServerName(netip.MustParseAddrPort(in)); got != want {
			t.Errorf("ServerName(%s) = %q, want %q", in, got, want)
		}
	}
}
