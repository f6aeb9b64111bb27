// Command livecap is the pastmon side of the live-capture benchmark
// (bench/live.sh): it captures one interface with capture/live, runs every
// frame through the full analysis pipeline (decode, TCP tracking, 5-minute
// aggregation) until SIGINT or SIGTERM, then prints what it saw, the
// kernel's counters and its own CPU time as key=value lines.
//
// It ships nothing and stores nothing; it is not the sensor.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/pastmon/pastmon/capture"
	"github.com/pastmon/pastmon/capture/live"
	"github.com/pastmon/pastmon/capture/window"
	"golang.org/x/sys/unix"
)

func main() {
	iface := flag.String("i", "any", "interface(s) to capture, comma-separated, or any")
	snaplen := flag.Int("s", live.DefaultSnaplen, "snap length")
	blocks := flag.Int("blocks", live.DefaultNumBlocks, "ring blocks")
	blockSize := flag.Int("block-size", live.DefaultBlockSize, "ring block size in bytes")
	blockTimeout := flag.Duration("block-timeout", live.DefaultBlockTimeout, "ring block timeout")
	countOnly := flag.Bool("count", false, "only read frames from the ring, no analysis")
	profile := flag.String("cpuprofile", "", "write a CPU profile to this file")
	flag.Parse()
	if *profile != "" {
		f, err := os.Create(*profile)
		// Some 20 times pprof's default rate: a benchmark run takes well
		// under a second of CPU. (pprof warns that the rate is set.)
		runtime.SetCPUProfileRate(2000)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "livecap:", err)
			os.Exit(1)
		}
		defer pprof.StopCPUProfile()
	}
	if err := run(live.Config{Interfaces: []string{*iface}, Snaplen: *snaplen, NumBlocks: *blocks, BlockSize: *blockSize, BlockTimeout: *blockTimeout}, *countOnly); err != nil {
		fmt.Fprintln(os.Stderr, "livecap:", err)
		pprof.StopCPUProfile()
		os.Exit(1)
	}
}

func run(lc live.Config, countOnly bool) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	src, err := live.Open(ctx, lc)
	if err != nil {
		return err
	}
	defer src.Close()
	fmt.Println("ready")
	windows := 0
	cfg := capture.Config{Live: true, OnWindow: func(window.Summary) { windows++ }}
	start := time.Now()
	run := capture.Run
	if countOnly {
		run = count
	}
	st, err := run(ctx, src, cfg)
	if err != nil && ctx.Err() == nil {
		return fmt.Errorf("capture: %w", err)
	}
	ks := src.Stats()
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		return fmt.Errorf("getrusage: %w", err)
	}
	fmt.Printf("frames=%d\ndecoded=%d\nflows=%d\nwindows=%d\n", st.Packets, st.Decoded, st.Flows, windows)
	fmt.Printf("kernel_packets=%d\nkernel_drops=%d\nkernel_freezes=%d\n", ks.Packets, ks.Drops, ks.FreezeQueue)
	fmt.Printf("cpu_user_s=%.3f\ncpu_sys_s=%.3f\nwall_s=%.3f\n",
		seconds(ru.Utime), seconds(ru.Stime), time.Since(start).Seconds())
	return nil
}

// count reads frames without analysing them, to tell the ring's share of
// the CPU time from the pipeline's.
func count(ctx context.Context, src capture.Source, _ capture.Config) (capture.Stats, error) {
	var st capture.Stats
	var f capture.Frame
	for {
		err := src.ReadFrame(&f)
		switch {
		case err == nil:
			st.Packets++
			st.Bytes += uint64(f.WireLen)
		case errors.Is(err, capture.ErrIdle):
		default:
			return st, err
		}
	}
}

func seconds(tv unix.Timeval) float64 { return float64(tv.Sec) + float64(tv.Usec)/1e6 }
