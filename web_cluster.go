package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"

	"github.com/pastmon/pastmon/capture"
	"github.com/pastmon/pastmon/capture/live"
	"github.com/pastmon/pastmon/discovery"
	"github.com/pastmon/pastmon/internal/cli"
	"github.com/pastmon/pastmon/store"
	"github.com/pastmon/pastmon/web/ship"
)

// startCluster starts what the web node runs beside its HTTP server: its own sensor and its etcd registration.
func startCluster(ctx context.Context, cfg *webConfig, db *store.DB) (stop func(), err error) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	stop = func() { cancel(); wg.Wait() }
	if !cfg.NoSensor {
		run, err := ownSensor(ctx, cfg, db)
		switch {
		case errors.Is(err, live.ErrPermission):
			slog.Warn("own sensor off: serving without it", "err", err)
		case err != nil:
			cancel()
			return nil, err
		default:
			wg.Go(run)
		}
	}
	if len(cfg.Etcd.Endpoints) > 0 {
		url := cfg.AdvertiseURL
		if url == "" {
			if url, err = discovery.AdvertiseURL(cfg.Listen, cfg.TLSCert != ""); err != nil {
				stop()
				return nil, err
			}
		}
		slog.Info("registering in etcd", "key", cfg.Etcd.Key, "url", url)
		wg.Go(func() {
			if err := discovery.Register(ctx, cfg.Etcd, discovery.Value{URL: url, Version: Version}); err != nil {
				slog.Warn("etcd registration ended", "err", err)
			}
		})
	}
	return stop, nil
}

// ownSensor opens the web node's own live capture and returns what runs
// it: capture into a shipper that delivers to the web node's store, with
// the same queue, retries and heartbeats as a remote sensor.
func ownSensor(ctx context.Context, cfg *webConfig, db *store.DB) (run func(), err error) {
	src, err := live.Open(ctx, live.Config{Interfaces: cli.Interfaces(cfg.Interface), Snaplen: cfg.Snaplen, Filter: cfg.Filter})
	if err != nil {
		return nil, fmt.Errorf("own sensor: %w", err)
	}
	name, err := os.Hostname()
	if err != nil || name == "" {
		name = "web"
	}
	slog.Info("own sensor capturing", "interfaces", cfg.Interface, "filter", cfg.Filter, "name", name)
	return func() {
		defer src.Close()
		sensor := ship.StartLocal(ctx, db, name, Version)
		ccfg := capture.Config{OnWindow: sensor.Add, Stats: new(capture.LiveStats)}
		if err := captureLive(ctx, src, cfg.Interface, ccfg, sensor.Shipper); err != nil {
			slog.Error("own sensor stopped", "err", err)
		}
		if err := sensor.Close(context.WithoutCancel(ctx), shutdownTimeout, true); err != nil {
			slog.Error("own sensor", "err", err)
		}
	}, nil
}
