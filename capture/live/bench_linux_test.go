package live

import (
	"context"
	"errors"
	"net"
	"sync/atomic"
	"testing"

	"github.com/pastmon/pastmon/capture"
)

// BenchmarkReadFrame reads b.N frames from a real ring while a goroutine
// floods loopback with small UDP datagrams in a namespace of its own. It
// reports allocations per frame (0 expected) and the kernel's drops.
func BenchmarkReadFrame(b *testing.B) {
	requireNetns(b)
	ns := newNetns(b)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	src := openIn(b, ctx, ns, Config{})

	var conn net.Conn
	var sink net.PacketConn
	err := inNetns(b, ns, func() (err error) {
		if sink, err = net.ListenPacket("udp4", "127.0.0.1:0"); err != nil {
			return err
		}
		conn, err = net.Dial("udp4", sink.LocalAddr().String())
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	defer sink.Close()
	var stop atomic.Bool
	flooded := make(chan struct{})
	go func() {
		defer close(flooded)
		payload := make([]byte, 64)
		for !stop.Load() {
			conn.Write(payload) // a full socket buffer only drops
		}
	}()

	var f capture.Frame
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; {
		err := src.ReadFrame(&f)
		if errors.Is(err, capture.ErrIdle) {
			continue
		}
		if err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.StopTimer()
	stop.Store(true)
	<-flooded
	conn.Close()
	st := src.Stats()
	b.ReportMetric(float64(st.Drops), "kernel-drops")
}
