package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"

	"github.com/pastmon/pastmon/capture"
	"github.com/pastmon/pastmon/capture/live"
	"github.com/pastmon/pastmon/discovery"
	"github.com/pastmon/pastmon/internal/cli"
	"github.com/pastmon/pastmon/web/ship"
)

// ownStatus is what keeps the web node's own sensor from capturing, for
// the pages to show; "" while it captures.
type ownStatus struct{ v atomic.Value }

func (o *ownStatus) set(s string) { o.v.Store(s) }

func (o *ownStatus) problem() string { s, _ := o.v.Load().(string); return s }

// startCluster starts what the web node runs beside its HTTP server: its own sensor and its etcd registration.
func startCluster(ctx context.Context, cfg *webConfig, db ship.Ingester, own *ownStatus) (stop func(), err error) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	stop = func() { cancel(); wg.Wait() }
	if cfg.NoSensor {
		own.set("This web node runs without its own sensor (--no-sensor): its data comes from sensors on other hosts only.")
	} else {
		run, err := ownSensor(ctx, cfg, db, own)
		switch {
		case errors.Is(err, live.ErrPermission):
			slog.Warn("own sensor off: serving without it", "err", err)
			own.set(fmt.Sprintf("The web node's own sensor cannot capture on %s: %v. Run pastmon web as root, or give it the capture capabilities "+
				"(sudo setcap cap_net_raw+ep on the pastmon binary, or AmbientCapabilities=CAP_NET_RAW in its systemd unit); "+
				"or start it with --no-sensor and run pastmon sensor on the hosts to watch.", cfg.Interface, err))
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
		etcd := cfg.Etcd
		etcd.Token = cfg.Token // signs the registration for the sensors
		wg.Go(func() {
			if err := discovery.Register(ctx, etcd, discovery.Value{URL: url, Version: Version}); err != nil {
				slog.Warn("etcd registration ended", "err", err)
			}
		})
	}
	return stop, nil
}

// ownSensor opens the web node's own live capture and returns what runs
// it: capture into a shipper that delivers to the web node's store, with
// the same queue, retries and heartbeats as a remote sensor.
func ownSensor(ctx context.Context, cfg *webConfig, db ship.Ingester, own *ownStatus) (run func(), err error) {
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
		ccfg := capture.Config{FlushInterval: cfg.Flush}
		capErr, closeErr := ship.RunLocal(ctx, src, cfg.Interface, ccfg, db, name, Version, shutdownTimeout)
		if capErr != nil {
			slog.Error("own sensor stopped", "err", capErr)
			own.set("The web node's own sensor stopped: " + capErr.Error() + ". See the web node's log; restart it once fixed.")
		}
		if closeErr != nil {
			slog.Error("own sensor", "err", closeErr)
		}
	}, nil
}
