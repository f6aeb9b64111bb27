package capture

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pastmon/pastmon/capture/packet"
	"github.com/pastmon/pastmon/capture/tcp/synth"
	"github.com/pastmon/pastmon/capture/window"
)

// The tracker's rules are tested beside it, in capture/tcp; these tests are
// of what the pipeline adds: partial flushes and live sources.

// Every scenario starts at t0, one minute into a 5-minute window.
var t0 = time.Date(2026, 1, 1, 0, 1, 0, 0, time.UTC)

func at(d time.Duration) time.Time { return t0.Add(d) }

func ms(f float64) time.Duration { return time.Duration(f * float64(time.Millisecond)) }

// writeSynth writes c to a pcap file and opens it.
func writeSynth(t *testing.T, c *synth.Capture) Source {
	t.Helper()
	path := filepath.Join(t.TempDir(), "synth.pcap")
	if err := c.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	src, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	return src
}

// runTotal runs c through the pipeline and merges every summary of server
// into one, with the start of the first.
func runTotal(t *testing.T, c *synth.Capture, cfg Config, server string) (total window.Summary, summaries int) {
	t.Helper()
	total.Server = netip.MustParseAddrPort(server)
	cfg.OnWindow = func(s window.Summary) {
		if s.Server != total.Server {
			return
		}
		summaries++
		total.Counters.Add(&s.Counters)
		for i := range total.Metrics {
			total.Metrics[i].Merge(&s.Metrics[i])
		}
	}
	if _, err := Run(context.Background(), writeSynth(t, c), cfg); err != nil {
		t.Fatalf("Run: %v", err)
	}
	return total, summaries
}

// exchange plays a handshake at base, then that many request/response turns.
func exchange(k *synth.Conn, base time.Duration, turns int) {
	k.Send(at(base), synth.Client, packet.SYN, 0)
	k.Send(at(base+ms(0.3)), synth.Server, packet.SYN|packet.ACK, 0)
	k.Send(at(base+ms(20.3)), synth.Client, packet.ACK, 0)
	for j := range turns {
		d := base + ms(30) + time.Duration(j)*300*time.Millisecond
		k.Send(at(d), synth.Client, packet.PSH|packet.ACK, 100)
		k.Send(at(d+ms(1)), synth.Server, packet.ACK, 0)
		k.Send(at(d+ms(5)), synth.Server, packet.PSH|packet.ACK, 1000)
		k.Send(at(d+ms(25)), synth.Client, packet.ACK, 0)
	}
}

// TestFlushInterval: partial flushes hand on every count and sample once.
func TestFlushInterval(t *testing.T) {
	build := func() *synth.Capture {
		var c synth.Capture
		for i := range 20 {
			k := c.Conn(fmt.Sprintf("10.0.0.1:%d", 40000+i), "10.0.0.2:80")
			k.TS = i%2 == 0
			base := time.Duration(i) * 700 * time.Millisecond
			exchange(k, base, 5)
			k.Send(at(base+2*time.Second), synth.Client, packet.FIN|packet.ACK, 0)
			k.Send(at(base+2*time.Second+ms(1)), synth.Server, packet.FIN|packet.ACK, 0)
		}
		return &c
	}
	a, whole := runTotal(t, build(), Config{}, "10.0.0.2:80")
	b, parts := runTotal(t, build(), Config{FlushInterval: time.Second}, "10.0.0.2:80")
	if parts <= whole {
		t.Fatalf("%d partial summaries, %d whole: no partial flush happened", parts, whole)
	}
	if a.Counters != b.Counters {
		t.Errorf("counters\n partial %+v\n   whole %+v", b.Counters, a.Counters)
	}
	for m := range a.Metrics {
		if a.Metrics[m].Count != b.Metrics[m].Count || math.Abs(a.Metrics[m].Sum-b.Metrics[m].Sum) > 1e-6 {
			t.Errorf("%s: %d/%v partial, %d/%v whole", window.Metric(m), b.Metrics[m].Count, b.Metrics[m].Sum, a.Metrics[m].Count, a.Metrics[m].Sum)
		}
	}
	if a.Transactions != 100 {
		t.Errorf("transactions %d, want 100", a.Transactions)
	}
}

// replaySource delivers a capture's frames, then reports ErrIdle until its
// context ends, as a quiet live source does.
type replaySource struct {
	ctx    context.Context
	src    Source
	idle   chan struct{}
	idled  bool
	closed bool
}

func (s *replaySource) ReadFrame(f *Frame) error {
	err := s.src.ReadFrame(f)
	if !errors.Is(err, io.EOF) {
		return err
	}
	if !s.idled {
		s.idled = true
		close(s.idle)
	}
	select {
	case <-s.ctx.Done():
		return s.ctx.Err()
	case <-time.After(5 * time.Millisecond):
		return ErrIdle
	}
}

func (s *replaySource) Close() error { return s.src.Close() }

// TestLiveIdle: a quiet live source moves the packet clock to the wall
// clock, so windows close without new packets; cancelling returns.
func TestLiveIdle(t *testing.T) {
	var c synth.Capture
	k := c.Conn("10.0.0.1:40000", "10.0.0.2:80")
	exchange(k, 0, 1)
	k.Send(at(ms(400)), synth.Client, packet.FIN|packet.ACK, 0)
	k.Send(at(ms(401)), synth.Server, packet.FIN|packet.ACK, 0)
	// A connection still open when the capture stops.
	k = c.Conn("10.0.0.1:40001", "10.0.0.2:80")
	exchange(k, time.Second, 0)
	k.Send(at(time.Second+ms(40)), synth.Client, packet.PSH|packet.ACK, 100)
	f := writeSynth(t, &c)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	src := &replaySource{ctx: ctx, src: f, idle: make(chan struct{})}
	got := make(chan window.Summary, 16)
	var live LiveStats
	done := make(chan error, 1)
	go func() {
		_, err := Run(ctx, src, Config{Live: true, Stats: &live, OnWindow: func(s window.Summary) { got <- s }})
		done <- err
	}()
	select {
	case s := <-got:
		if s.Connections != 2 || s.Transactions != 1 {
			t.Errorf("summary before cancel: %+v", s.Counters)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no window closed while the source was idle")
	}
	if st := live.Snapshot(); st.Packets != uint64(len(c.Frames)) || st.Decoded != st.Packets {
		t.Errorf("live stats %+v, want %d packets", st, len(c.Frames))
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Run returned %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

func TestFilterError(t *testing.T) {
	_, err := Run(context.Background(), nil, Config{Filter: "port port"})
	if err == nil || !strings.Contains(err.Error(), "filter") {
		t.Errorf("Run with a bad filter: %v", err)
	}
}
