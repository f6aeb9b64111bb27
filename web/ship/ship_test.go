package ship

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pastmon/pastmon/capture/window"
	"github.com/pastmon/pastmon/store"
	"github.com/pastmon/pastmon/web"
)

const testToken = "ship-test-token"

// webNode is a real web node (handler and SQLite store) on loopback.
func webNode(t testing.TB) (url string, db *store.DB) {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "web.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	srv, err := web.New(web.Config{DB: db, Token: testToken, Version: "test", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	return ts.URL, db
}

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

// TestHeartbeat: a heartbeat stores the sensor's health, spool depth
// included, and no windows.
func TestHeartbeat(t *testing.T) {
	url, db := webNode(t)
	ctx := context.Background()
	spool, err := store.OpenSpool(ctx, filepath.Join(t.TempDir(), "spool.db"), 100)
	if err != nil {
		t.Fatal(err)
	}
	defer spool.Close()
	spooled := syntheticWindows(3)
	if err := spool.Put(ctx, spooled); err != nil {
		t.Fatal(err)
	}
	sh := New(Config{Name: "hb-sensor", Version: "v-test", Spool: spool, Dest: NewHTTP(url, testToken)})
	sh.SetStats(func(info *window.SensorInfo) {
		info.Packets, info.Drops, info.Flows, info.Interfaces = 7000, 12, 345, []string{"eth0", "veth1"}
	})
	if err := sh.Heartbeat(ctx); err != nil {
		t.Fatal(err)
	}
	sensors, err := db.Sensors(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(sensors) != 1 {
		t.Fatalf("%d sensors stored, want 1: %+v", len(sensors), sensors)
	}
	got := sensors[0].SensorInfo
	want := window.SensorInfo{Name: "hb-sensor", Version: "v-test", Interfaces: []string{"eth0", "veth1"},
		Packets: 7000, Drops: 12, Flows: 345, SpoolDepth: uint64(len(spooled))}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("stored sensor %+v, want %+v", got, want)
	}
	servers, err := db.Servers(ctx, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	if err != nil || len(servers) != 0 {
		t.Errorf("a heartbeat stored %d servers (%v), want none", len(servers), err)
	}
}

// flaky fails the first n sends, then passes them to dest; it records the
// time of every attempt.
type flaky struct {
	dest Destination
	n    atomic.Int64
	mu   sync.Mutex
	at   []time.Time
}

func (f *flaky) Send(ctx context.Context, b *window.Batch) (Reply, error) {
	f.mu.Lock()
	f.at = append(f.at, time.Now())
	f.mu.Unlock()
	if f.n.Add(-1) >= 0 {
		return Reply{}, errors.New("unavailable")
	}
	return f.dest.Send(ctx, b)
}

func (f *flaky) Where() string { return f.dest.Where() }

// recorder acknowledges every batch and keeps what it got.
type recorder struct {
	mu      sync.Mutex
	ids     []string
	windows int
}

func (r *recorder) Send(_ context.Context, b *window.Batch) (Reply, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(b.Summaries) > 0 {
		r.ids = append(r.ids, b.ID)
		r.windows += len(b.Summaries)
	}
	return Reply{}, nil
}

func (r *recorder) Where() string { return "recorder" }

// TestRetryWithBackoff: a destination that fails keeps the windows
// spooled; delivery retries with growing, jittered waits (on a fake
// clock) and delivers each window once when it recovers. This is the web
// node's own sensor too: before, it dropped windows its store refused.
func TestRetryWithBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &recorder{}
		dest := &flaky{dest: rec}
		const failures = 12
		dest.n.Store(failures)
		sh := New(Config{Name: "s", Spool: NewMemory(1000), Dest: dest, QueueMax: 1000})
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() { defer close(done); sh.Run(ctx) }()
		start := time.Now()
		for _, s := range syntheticWindows(700) {
			sh.Add(s)
		}
		if err := sh.WaitEmpty(ctx); err != nil {
			t.Fatal(err)
		}
		cancel()
		<-done
		if rec.windows != 700 || sh.Delivered() != 700 || sh.Lost() != 0 {
			t.Errorf("delivered %d windows (counted %d, lost %d), want 700", rec.windows, sh.Delivered(), sh.Lost())
		}
		if len(dest.at) != failures+len(rec.ids) { // the queue may spool in more batches than two
			t.Fatalf("%d attempts, want %d failed + %d delivered", len(dest.at), failures, len(rec.ids))
		}
		ceil := backoffMin
		var total time.Duration
		for i := 1; i <= failures; i++ {
			d := dest.at[i].Sub(dest.at[i-1])
			if d < backoffMin/10 || d > ceil {
				t.Errorf("wait before attempt %d: %s, want within [%s, %s]", i+1, d, backoffMin/10, ceil)
			}
			total += d
			ceil = min(2*ceil, backoffMax)
		}
		if elapsed := time.Since(start); elapsed < total {
			t.Errorf("took %s of fake time, less than the waits (%s)", elapsed, total)
		}
	})
}

// TestRetryNow: Retry ends a backoff wait at once (a new web node URL, or
// shutdown).
func TestRetryNow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &recorder{}
		dest := &flaky{dest: rec}
		dest.n.Store(9) // the 10th wait would be up to 30 s
		sh := New(Config{Name: "s", Spool: NewMemory(10), Dest: dest, QueueMax: 10})
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		go sh.Run(ctx)
		sh.Add(syntheticWindows(1)[0])
		for dest.n.Load() > 0 {
			time.Sleep(100 * time.Millisecond)
		}
		synctest.Wait() // the last failure is now in its backoff wait
		before := time.Now()
		sh.Retry()
		if err := sh.WaitEmpty(ctx); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(before); d > 100*time.Millisecond {
			t.Errorf("delivered %s after Retry, want at once", d)
		}
	})
}

// TestMemorySpoolBounded: the memory spool drops the oldest batches when
// full and counts them; what is left comes out oldest first.
func TestMemorySpoolBounded(t *testing.T) {
	ctx := context.Background()
	m := NewMemory(5)
	sums := syntheticWindows(8)
	for i := 0; i < len(sums); i += 2 {
		if err := m.PutBatch(ctx, fmt.Sprint("b", i), sums[i:i+2]); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.PutBatch(ctx, "b6", sums[:2]); err != nil { // already there: kept once
		t.Fatal(err)
	}
	if n, _ := m.Depth(ctx); n != 4 || m.Dropped() != 4 {
		t.Fatalf("depth %d, dropped %d; want 4 and 4", n, m.Dropped())
	}
	id, got, err := m.Next(ctx)
	if err != nil || got[0].Server != sums[4].Server {
		t.Fatalf("next: %v %v, want the batch of window 4", got, err)
	}
	if err := m.Ack(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, got, _ := m.Next(ctx); got[0].Server != sums[6].Server {
		t.Errorf("after ack: %v, want window 6", got[0].Server)
	}
	m.Ack(ctx, "gone") // acking what is gone is no error
	if n, _ := m.Depth(ctx); n != 2 {
		t.Errorf("depth %d, want 2", n)
	}
}

// TestStoreDestination: the web node's own sensor stores its windows in
// the database beside it, through the same shipper.
func TestStoreDestination(t *testing.T) {
	_, db := webNode(t)
	ctx, cancel := context.WithCancel(context.Background())
	sh := New(Config{Name: "own", Version: "test", Spool: NewMemory(100), Dest: Store{DB: db}, QueueMax: 100})
	done := make(chan struct{})
	go func() { defer close(done); sh.Run(ctx) }()
	for _, s := range syntheticWindows(3) {
		sh.Add(s)
	}
	wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
	defer wcancel()
	if err := sh.WaitEmpty(wctx); err != nil {
		t.Fatal(err)
	}
	cancel()
	<-done
	servers, err := db.Servers(context.Background(), time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	if err != nil || len(servers) != 3 {
		t.Errorf("%d servers stored (%v), want 3", len(servers), err)
	}
}

// BenchmarkDelivery measures spool → web node delivery: b.N windows in the
// spool (a backlog, as after an outage) shipped in acknowledged batches to
// a real web node (handler and SQLite store) on loopback. Each window
// carries 300 samples in each of its 6 metrics.
func BenchmarkDelivery(b *testing.B) {
	url, _ := webNode(b)
	ctx := context.Background()
	spool, err := store.OpenSpool(ctx, filepath.Join(b.TempDir(), "spool.db"), b.N+1)
	if err != nil {
		b.Fatal(err)
	}
	defer spool.Close()
	sh := New(Config{Name: "bench", Spool: spool, Dest: NewHTTP(url, testToken), QueueMax: b.N + 1})
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
	go func() { defer close(done); sh.Run(runCtx) }()
	waitCtx, stop := context.WithTimeout(ctx, 10*time.Minute)
	err = sh.WaitEmpty(waitCtx)
	stop()
	cancel()
	<-done
	b.StopTimer()
	if err != nil {
		b.Fatalf("not delivered: %v (last error %v)", err, sh.LastError())
	}
	if got := sh.Delivered(); got != uint64(b.N) {
		b.Fatalf("delivered %d windows, want %d", got, b.N)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "windows/s")
}

// TestRestartAfterLostAckCountsOnce: the web node stored a batch but its
// answer was lost, and the sensor stopped; started again on its spool,
// the sensor resends the batch under the same id and the web node counts
// it once.
func TestRestartAfterLostAckCountsOnce(t *testing.T) {
	webURL, db := webNode(t)
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "spool.db")
	spool, err := store.OpenSpool(ctx, path, 100)
	if err != nil {
		t.Fatal(err)
	}
	sums := syntheticWindows(5)
	if err := spool.Put(ctx, sums); err != nil {
		t.Fatal(err)
	}
	id, batch, err := spool.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The first run's send reached the store; its answer never came back.
	if _, err := NewHTTP(webURL, testToken).Send(ctx, &window.Batch{ID: id, Sensor: window.SensorInfo{Name: "s"}, Summaries: batch}); err != nil {
		t.Fatal(err)
	}
	spool.Close()

	spool, err = store.OpenSpool(ctx, path, 100)
	if err != nil {
		t.Fatal(err)
	}
	defer spool.Close()
	sh := New(Config{Name: "s", Spool: spool, Dest: NewHTTP(webURL, testToken), QueueMax: 100})
	runCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	go sh.Run(runCtx)
	if err := sh.WaitEmpty(runCtx); err != nil {
		t.Fatal(err)
	}
	servers, err := db.Servers(ctx, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	if err != nil || len(servers) != len(sums) {
		t.Fatalf("%d servers (%v), want %d", len(servers), err, len(sums))
	}
	for _, s := range servers {
		if s.Connections != 100 {
			t.Errorf("server %s: %d connections, want 100: counted twice", s.Server, s.Connections)
		}
	}
}

// TestRejectedWindowsDroppedAndReported: the web node refuses one window
// of a batch; the shipper drops exactly that one, stores the others, and
// its heartbeats report the refusal, its clock and the spool row it moved
// aside as unreadable.
func TestRejectedWindowsDroppedAndReported(t *testing.T) {
	webURL, db := webNode(t)
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "spool.db")
	spool, err := store.OpenSpool(ctx, path, 100)
	if err != nil {
		t.Fatal(err)
	}
	if err := spool.PutBatch(ctx, "rotten", syntheticWindows(1)); err != nil {
		t.Fatal(err)
	}
	spool.Close()
	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec("UPDATE spool SET data = 'not json' WHERE id = 'rotten'"); err != nil {
		t.Fatal(err)
	}
	raw.Close()
	spool, err = store.OpenSpool(ctx, path, 100)
	if err != nil {
		t.Fatal(err)
	}
	defer spool.Close()

	sh := New(Config{Name: "picky", Version: "test", Spool: spool, Dest: NewHTTP(webURL, testToken), QueueMax: 100})
	runCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	go sh.Run(runCtx)
	sums := syntheticWindows(5)
	sums[2].Start = sums[2].Start.Add(time.Second) // not on a 5-minute boundary
	for _, s := range sums {
		sh.Add(s)
	}
	if err := sh.WaitEmpty(runCtx); err != nil {
		t.Fatalf("not delivered: %v (%v)", err, sh.LastError())
	}
	if sh.Rejected() != 1 || sh.Delivered() != 4 {
		t.Errorf("rejected %d, delivered %d; want 1 and 4", sh.Rejected(), sh.Delivered())
	}
	servers, err := db.Servers(ctx, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	if err != nil || len(servers) != 4 {
		t.Fatalf("%d servers stored (%v), want the 4 valid ones", len(servers), err)
	}
	if err := sh.Heartbeat(ctx); err != nil {
		t.Fatal(err)
	}
	sensors, err := db.Sensors(ctx)
	if err != nil || len(sensors) != 1 {
		t.Fatalf("sensors %+v (%v)", sensors, err)
	}
	got := sensors[0]
	if got.WindowsRejected != 1 || got.SpoolCorrupt != 1 {
		t.Errorf("sensor reports %d windows rejected, %d spool rows corrupt; want 1 and 1", got.WindowsRejected, got.SpoolCorrupt)
	}
	if !got.HasSkew || got.ClockSkew < -time.Minute || got.ClockSkew > time.Minute {
		t.Errorf("clock skew %v (known %v), want about 0", got.ClockSkew, got.HasSkew)
	}
}
