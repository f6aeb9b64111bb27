package main

import (
	"context"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/pastmon/pastmon/capture/window"
	"github.com/pastmon/pastmon/store"
	"github.com/pastmon/pastmon/web"
)

// syntheticWindows makes n summaries of distinct servers in the current
// window, each with a few hundred timing samples in every metric.
func syntheticWindows(n int) []window.Summary {
	start := window.Start(time.Now())
	sums := make([]window.Summary, n)
	for i := range sums {
		s := &sums[i]
		s.Server = netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), 443)
		s.Start = start
		s.Connections, s.Established, s.Transactions = 100, 99, 300
		for m := range s.Metrics {
			for v := range 300 {
				s.Metrics[m].Add(float64(100 + v*37%5000))
			}
		}
	}
	return sums
}

// BenchmarkDelivery measures spool → web node delivery: b.N windows in the
// spool (a backlog, as after an outage) shipped in acknowledged batches to
// a real web node (the "pastmon web" command with its SQLite store) on
// loopback. Each window carries 300 samples in each of its 6 metrics.
func BenchmarkDelivery(b *testing.B) {
	dir := b.TempDir()
	w := startWeb(b, freeAddr(b), filepath.Join(dir, "web.db"))
	ctx := context.Background()
	spool, err := store.OpenSpool(ctx, filepath.Join(dir, "spool.db"), b.N+1)
	if err != nil {
		b.Fatal(err)
	}
	defer spool.Close()
	ship := newShipper(spool, web.NewClient(w.url, testToken), "bench")
	sums := syntheticWindows(min(b.N, 50000))
	// Only delivery is timed: spooling happens as windows close, spread
	// over time.
	for put := 0; put < b.N; {
		from := put % len(sums)
		n := min(b.N-put, spoolChunk, len(sums)-from)
		if err := spool.Put(ctx, sums[from:from+n]); err != nil {
			b.Fatal(err)
		}
		put += n
	}
	b.ResetTimer()
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); ship.Run(runCtx) }()
	ship.SetURL(w.url)
	waitCtx, stop := context.WithTimeout(ctx, 10*time.Minute)
	err = ship.WaitEmpty(waitCtx)
	stop()
	cancel()
	<-done
	b.StopTimer()
	if err != nil {
		b.Fatalf("not delivered: %v (last error %v)", err, ship.LastError())
	}
	if got := ship.delivered.Load(); got != uint64(b.N) {
		b.Fatalf("delivered %d windows, want %d", got, b.N)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "windows/s")
}
