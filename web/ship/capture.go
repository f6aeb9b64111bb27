package ship

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/pastmon/pastmon/capture"
	"github.com/pastmon/pastmon/capture/live"
	"github.com/pastmon/pastmon/capture/window"
)

// CaptureFile replays the capture file path through the pipeline (ccfg;
// its OnWindow hands windows to sh) until it ends or ctx is done, with its
// figures in sh's sensor info. It reports started=false when the file
// could not even be opened.
func CaptureFile(ctx context.Context, path string, ccfg capture.Config, sh *Shipper) (started bool, err error) {
	src, err := capture.OpenFile(path)
	if err != nil {
		return false, fmt.Errorf("read %s: %w", path, err)
	}
	defer src.Close()
	stats := new(capture.LiveStats)
	ccfg.Stats = stats
	sh.SetStats(func(info *window.SensorInfo) {
		st := stats.Snapshot()
		info.Packets, info.Flows = st.Packets, st.Flows
	})
	if _, err := capture.Run(ctx, src, ccfg); err != nil {
		return true, fmt.Errorf("read %s: %w", path, err)
	}
	return true, nil
}

// CaptureLive captures from src until ctx is done, through the pipeline
// (ccfg; its OnWindow hands windows to sh), with the capture's figures in
// sh's sensor info: for a sensor and for the web node's own. where names
// the interfaces in errors.
func CaptureLive(ctx context.Context, src *live.Source, where string, ccfg capture.Config, sh *Shipper) error {
	ccfg.Live = true
	stats := new(capture.LiveStats)
	ccfg.Stats = stats
	var (
		mu     sync.Mutex
		ifaces []string // the last list seen: a closed source has none
	)
	sh.SetStats(func(info *window.SensorInfo) {
		st := src.Stats()
		mu.Lock()
		defer mu.Unlock()
		if now := src.Interfaces(); len(now) > 0 {
			ifaces = now
		}
		info.Packets, info.Drops, info.Flows, info.Interfaces = st.Packets, st.Drops, stats.Snapshot().Flows, ifaces
	})
	if _, err := capture.Run(ctx, src, ccfg); err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("capture on %s: %w", where, err)
	}
	return nil
}

// RunLocal is the web node's own sensor: it captures src into db, with the
// queue, retries and heartbeats of a remote sensor, until ctx ends, then
// delivers what is left for at most wait. capErr says why the capture
// stopped early, closeErr what could not be delivered.
func RunLocal(ctx context.Context, src *live.Source, where string, ccfg capture.Config, db Ingester, name, version string, wait time.Duration) (capErr, closeErr error) {
	defer src.Close()
	sensor := StartLocal(ctx, db, name, version)
	ccfg.OnWindow = sensor.Add
	capErr = CaptureLive(ctx, src, where, ccfg, sensor.Shipper)
	return capErr, sensor.Close(context.WithoutCancel(ctx), wait, true)
}
