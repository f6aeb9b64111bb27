package report

import (
	"bytes"
	"encoding/json"
	"math"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/pastmon/pastmon/capture"
	"github.com/pastmon/pastmon/capture/udp"
	"github.com/pastmon/pastmon/capture/window"
)

func TestHumanUnits(t *testing.T) {
	tests := []struct {
		us   float64
		want string
	}{
		{math.NaN(), "-"}, {12.345, "12.3µs"}, {1234, "1.23ms"}, {2_500_000, "2.5s"},
	}
	for _, tt := range tests {
		if got := HumanMicros(tt.us); got != tt.want {
			t.Errorf("HumanMicros(%v) = %q, want %q", tt.us, got, tt.want)
		}
	}
	if got := capture.HumanBytes(1_234_567); got != "1.23MB" {
		t.Errorf("HumanBytes = %q", got)
	}
}

// TestWriteJSONStreams: the servers written one at a time make the document
// json.Encoder makes of them all at once, with none or several servers.
func TestWriteJSONStreams(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, n := range []int{0, 1, 3} {
		tot := Totals{}
		for i := range n {
			s := window.Summary{Server: netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, 0, byte(i)}), uint16(80*i)), Start: start}
			s.Connections = uint64(10 - i)
			s.Metrics[window.RTT].Add(float64(100 * (i + 1)))
			tot.Add(s)
		}
		var got, want bytes.Buffer
		if err := tot.WriteJSON(&got); err != nil {
			t.Fatal(err)
		}
		servers := []serverJSON{}
		for _, s := range tot.sorted() {
			servers = append(servers, toJSON(s))
		}
		enc := json.NewEncoder(&want)
		enc.SetIndent("", "  ")
		if err := enc.Encode(struct {
			Servers []serverJSON `json:"servers"`
		}{servers}); err != nil {
			t.Fatal(err)
		}
		if got.String() != want.String() {
			t.Errorf("%d servers: streamed\n%s\nwant\n%s", n, got.String(), want.String())
		}
	}
}

func TestSkippedReportsDNSBounds(t *testing.T) {
	var b strings.Builder
	s := capture.Stats{UDP: udp.Stats{FlowsDropped: 3, PendingDropped: 4}}
	Skipped(&b, &s)
	if got := b.String(); !strings.Contains(got, "dropped 3 DNS datagrams") || !strings.Contains(got, "left 4 DNS queries untimed") {
		t.Errorf("Skipped wrote %q", got)
	}
	b.Reset()
	Skipped(&b, &capture.Stats{})
	if b.Len() != 0 {
		t.Errorf("nothing to report, wrote %q", b.String())
	}
}

func TestUDPServerNamed(t *testing.T) {
	tot := Totals{}
	for _, tr := range []string{"", "udp"} {
		s := window.Summary{Server: netip.MustParseAddrPort("10.0.0.2:53"), Transport: tr}
		s.Counters.Transactions = 1
		tot.Add(s)
	}
	var table, js strings.Builder
	if err := tot.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	if err := tot.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(table.String(), "10.0.0.2:53/udp") || strings.Count(table.String(), "10.0.0.2:53") != 2 {
		t.Errorf("table:\n%s", table.String())
	}
	if strings.Count(js.String(), `"transport": "udp"`) != 1 || strings.Count(js.String(), `"server": "10.0.0.2:53"`) != 2 {
		t.Errorf("json:\n%s", js.String())
	}
}
