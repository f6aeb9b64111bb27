// Command serversdb writes a pastmon database holding many servers in the
// last hour (what a port scan used to leave behind), for
// bench/servers-rss.sh: one 5-minute window per server, with RTT and
// response time distributions and counters.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"os"
	"time"

	"github.com/pastmon/pastmon/capture/window"
	"github.com/pastmon/pastmon/store"
)

func main() {
	path := flag.String("db", "servers.db", "database to create")
	n := flag.Int("servers", 170_000, "servers to store")
	flag.Parse()
	if err := run(*path, *n); err != nil {
		slog.Error("serversdb", "err", err)
		os.Exit(1)
	}
}

func run(path string, n int) error {
	ctx := context.Background()
	db, err := store.Open(ctx, path)
	if err != nil {
		return err
	}
	defer db.Close()
	now := time.Now()
	start := window.Start(now).Add(-10 * time.Minute)
	rng := rand.New(rand.NewPCG(1, 2))
	for b := 0; b*window.MaxBatchWindows < n; b++ {
		batch := window.Batch{ID: fmt.Sprintf("servers-%d", b), Sensor: window.SensorInfo{Name: "bench", Version: "bench"}}
		for i := b * window.MaxBatchWindows; i < min(n, (b+1)*window.MaxBatchWindows); i++ {
			s := window.Summary{Start: start,
				Server: netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), uint16(1+rng.IntN(65535)))}
			s.Connections, s.Established, s.Transactions = 3, 3, 3
			for range 3 {
				s.Metrics[window.RTT].Add(100 + rng.Float64()*1000)
				s.Metrics[window.ResponseTime].Add(1000 + rng.Float64()*100000)
			}
			batch.Summaries = append(batch.Summaries, s)
		}
		res, err := db.IngestWindows(ctx, &batch, now)
		if err != nil {
			return err
		}
		if len(res.Rejected) > 0 {
			return fmt.Errorf("batch %d: %d windows refused: %s", b, len(res.Rejected), res.Rejected[0].Reason)
		}
	}
	fmt.Println(n)
	return nil
}
