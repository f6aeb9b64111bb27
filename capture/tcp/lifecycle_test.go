package tcp_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/pastmon/pastmon/capture"
	"github.com/pastmon/pastmon/capture/tcp/synth"
)

// TestSynFlood: with the table full of half-open connections, established
// connections keep being measured.
func TestSynFlood(t *testing.T) {
	const server = "10.0.0.2:80"
	var c synth.Capture
	var conns []*synth.Conn
	for i := range 10 {
		k := c.Conn(fmt.Sprintf("10.0.0.1:%d", 40000+i), server)
		handshake(k, 0)
		conns = append(conns, k)
	}
	for i := range 1000 {
		k := c.Conn(fmt.Sprintf("192.0.2.%d:%d", 1+i%200, 1024+i), server)
		k.Send(at(ms(100)+time.Duration(i)*time.Microsecond), synth.Client, syn, 0)
	}
	for i, k := range conns {
		d := ms(200) + time.Duration(i)*ms(1)
		k.Send(at(d), synth.Client, psh, 100)
		k.Send(at(d+ms(5)), synth.Server, psh, 100)
		k.Send(at(d+ms(25)), synth.Client, fin, 0)
	}
	r := runSynth(t, &c, capture.Config{MaxFlows: 64})
	s := r.total(t, server)
	if s.Transactions != 10 || s.Established != 10 || s.Connections != 1010 || s.Unanswered != 1000 {
		t.Errorf("counters %+v, want 10 transactions, 10 established, 1010 connections, 1000 unanswered", s.Counters)
	}
	if r.stats.Evicted < 1000-54 {
		t.Errorf("evicted %d, want at least %d", r.stats.Evicted, 1000-54)
	}
}
