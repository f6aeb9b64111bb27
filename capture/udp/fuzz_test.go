package udp

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/gopacket/gopacket/layers"

	"github.com/pastmon/pastmon/capture/aggregate"
	"github.com/pastmon/pastmon/capture/tcp"
	"github.com/pastmon/pastmon/capture/window"
)

var updateSeeds = flag.Bool("update-seeds", false, "rewrite testdata/fuzz/FuzzTracker")

// A fuzz script is datagrams: a header byte (bit 0: from the server; bits
// 1-2: which of four clients; bits 3-7: milliseconds since the previous
// datagram, times 256 when bit 7 is set), a length byte and the payload.
func fuzzScript(t testing.TB) []byte {
	var b []byte
	add := func(h byte, p []byte) { b = append(append(b, h, byte(len(p))), p...) }
	add(0, dnsMsg(t, 1, layers.DNSTypeA, false, 0))
	add(1|1<<3, dnsMsg(t, 1, layers.DNSTypeA, true, 0))
	add(2, dnsMsg(t, 2, layers.DNSTypeAAAA, false, 0))
	add(2|0x80|20<<3, dnsMsg(t, 2, layers.DNSTypeAAAA, false, 0))
	add(3|1<<3, dnsMsg(t, 2, layers.DNSTypeAAAA, true, 2))
	add(4|0xf8, dnsMsg(t, 3, layers.DNSTypeMX, false, 0))
	return b
}

// FuzzTracker plays datagrams between four clients and a server through
// the tracker with small bounds, and checks that nothing panics and the
// tables stay within their bounds and consistent.
func FuzzTracker(f *testing.F) {
	f.Add(fuzzScript(f))
	f.Fuzz(func(t *testing.T, sc []byte) {
		agg := aggregate.New(func(window.Summary) {})
		var ended int
		tr := New(Config{MaxFlows: 3, MaxPending: 4, OnRecord: func(*tcp.Record) { ended++ }}, agg)
		ts := t0
		for len(sc) >= 2 {
			h, n := sc[0], min(int(sc[1]), len(sc)-2)
			data := sc[2 : 2+n]
			sc = sc[2+n:]
			step := int64(h>>3&0x0f) * ms
			if h&0x80 != 0 {
				step *= 256
			}
			ts += step
			cl := fmt.Sprintf("10.0.0.1:%d", 40000+int(h>>1&3))
			p := pkt(ts, cl, "10.0.0.2:53", data)
			if h&1 != 0 {
				p = pkt(ts, "10.0.0.2:53", cl, data)
			}
			tr.Packet(p)
			tr.Expire(ts)
			if st := tr.Stats(); st.Flows > 3 || st.Pending > 4 {
				t.Fatalf("stats %+v beyond the bounds", st)
			}
		}
		started := tr.Stats().Flows
		tr.Finish(true)
		if st := tr.Stats(); st.Flows != 0 || st.Pending != 0 || ended < started {
			t.Fatalf("after Finish: %+v, %d records for %d flows", st, ended, started)
		}
	})
}

// TestUpdateSeeds writes the committed seed (-update-seeds).
func TestUpdateSeeds(t *testing.T) {
	if !*updateSeeds {
		t.Skip("run with -update-seeds to rewrite testdata/fuzz/FuzzTracker")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzTracker")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", fuzzScript(t))
	if err := os.WriteFile(filepath.Join(dir, "script-00"), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}
