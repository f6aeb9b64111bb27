package filter

import (
	"fmt"
	"testing"

	"github.com/pastmon/pastmon/capture/packet"
)

const benchExpr = "tcp and (port 8080 or port 6379) and not net 192.168.0.0/16"

// TestMatchAllocs holds the per-packet path to zero allocations once the
// program for the link type is compiled.
func TestMatchAllocs(t *testing.T) {
	m, err := NewMatcher(benchExpr)
	if err != nil {
		t.Fatal(err)
	}
	frames := [][]byte{
		frameOrDie(t, packet.LinkEthernet, testPackets(t)["tcp4"]),
		frameOrDie(t, packet.LinkEthernet, testPackets(t)["tcp6"]),
	}
	raw := frameOrDie(t, packet.LinkRaw, testPackets(t)["udp4"])
	if _, err := m.Match(packet.LinkRaw, raw); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Match(2, raw); err == nil {
		t.Fatal("link type 2: no error")
	}
	allocs := testing.AllocsPerRun(1000, func() {
		for _, f := range frames {
			_, _ = m.Match(packet.LinkEthernet, f)
		}
		_, _ = m.Match(packet.LinkRaw, raw)
		_, _ = m.Match(2, raw)
	})
	if allocs != 0 {
		t.Errorf("Match allocates %.1f times per run", allocs)
	}
}

// BenchmarkMatch is the cost per packet of one Matcher over a synthetic
// IPv4 TCP frame.
func BenchmarkMatch(b *testing.B) {
	m, err := NewMatcher(benchExpr)
	if err != nil {
		b.Fatal(err)
	}
	f := frameOrDie(b, packet.LinkEthernet, testPackets(b)["tcp4"])
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Match(packet.LinkEthernet, f); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMatchCorpus runs the Matcher over the frames of the corpus, all
// link types, and reports the cost per frame.
func BenchmarkMatchCorpus(b *testing.B) {
	byLink, _ := corpusFrames(b)
	var frames []frame
	for _, fs := range byLink {
		frames = append(frames, fs...)
	}
	m, err := NewMatcher(benchExpr)
	if err != nil {
		b.Fatal(err)
	}
	for _, fr := range frames {
		_, _ = m.Match(fr.link, fr.data)
	}
	b.ReportAllocs()
	b.ResetTimer()
	n := 0
	for b.Loop() {
		fr := frames[n%len(frames)]
		n++
		_, _ = m.Match(fr.link, fr.data)
	}
}

// TestMatchConcurrent compiles for several link types from several
// goroutines at once; run with -race.
func TestMatchConcurrent(t *testing.T) {
	m, err := NewMatcher("tcp port 80 or vlan")
	if err != nil {
		t.Fatal(err)
	}
	pkts := testPackets(t)
	done := make(chan error)
	for g := 0; g < 4; g++ {
		go func() {
			var err error
			for i := 0; i < 50 && err == nil; i++ {
				for _, link := range allLinks {
					f, ok := frameFor(link, pkts["tcp4"], false)
					if !ok {
						continue
					}
					got, merr := m.Match(link, f)
					switch {
					case link == packet.LinkEthernet && (merr != nil || !got):
						err = fmt.Errorf("Ethernet: %v, %v", got, merr)
					case link != packet.LinkEthernet && merr == nil:
						err = fmt.Errorf("link type %d: vlan compiled", link)
					}
				}
			}
			done <- err
		}()
	}
	for g := 0; g < 4; g++ {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}
