package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/pastmon/pastmon/capture"
	"github.com/pastmon/pastmon/capture/live"
	"github.com/pastmon/pastmon/capture/window"
	"github.com/pastmon/pastmon/discovery"
	"github.com/pastmon/pastmon/store"
)

// startCluster starts what the web node runs beside its HTTP server: its own sensor and its etcd registration.
func startCluster(ctx context.Context, cfg *webConfig, db *store.DB) (stop func(), err error) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	stop = func() { cancel(); wg.Wait() }
	if !cfg.NoSensor {
		ls, err := openLocalSensor(ctx, cfg, db)
		switch {
		case errors.Is(err, live.ErrPermission):
			slog.Warn("own sensor off: serving without it", "err", err)
		case err != nil:
			cancel()
			return nil, err
		default:
			wg.Go(func() { ls.run(ctx) })
		}
	}
	if cfg.EtcdEndpoints != "" {
		dcfg := discovery.Config{
			Endpoints: discovery.SplitEndpoints(cfg.EtcdEndpoints),
			Key:       cfg.EtcdKey,
			CACert:    cfg.EtcdCACert, Cert: cfg.EtcdCert, CertKey: cfg.EtcdCertKey,
		}
		if err := dcfg.Validate(); err != nil {
			stop()
			return nil, err
		}
		url := cfg.AdvertiseURL
		if url == "" {
			if url, err = advertiseURL(cfg.Listen, cfg.TLSCert != ""); err != nil {
				stop()
				return nil, err
			}
		}
		slog.Info("registering in etcd", "key", dcfg.Key, "url", url)
		wg.Go(func() {
			if err := discovery.Register(ctx, dcfg, discovery.Value{URL: url, Version: Version}); err != nil {
				slog.Warn("etcd registration ended", "err", err)
			}
		})
	}
	return stop, nil
}

// advertiseURL is the URL sensors reach this node at: the listen address,
// or the first non-loopback address of the host when listening on all.
func advertiseURL(listen string, tls bool) (string, error) {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "", fmt.Errorf("--listen %q: %w", listen, err)
	}
	scheme := "http"
	if tls {
		scheme = "https"
	}
	if a, err := netip.ParseAddr(host); err == nil && !a.IsUnspecified() {
		return scheme + "://" + net.JoinHostPort(host, port), nil
	}
	if host != "" && net.ParseIP(host) == nil {
		return scheme + "://" + net.JoinHostPort(host, port), nil // a name
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return "", fmt.Errorf("find an address to advertise (set --advertise-url): %w", err)
	}
	var v6 string
	for _, a := range addrs {
		p, err := netip.ParsePrefix(a.String())
		if err != nil || p.Addr().IsLoopback() || !p.Addr().IsGlobalUnicast() {
			continue
		}
		if p.Addr().Is4() {
			return scheme + "://" + net.JoinHostPort(p.Addr().String(), port), nil
		}
		if v6 == "" {
			v6 = p.Addr().String()
		}
	}
	if v6 != "" {
		return scheme + "://" + net.JoinHostPort(v6, port), nil
	}
	return "", errors.New("no non-loopback address to advertise in etcd: set --advertise-url")
}

// localSensor is the web node's own sensor: live capture straight into the
// database, without spool or HTTP.
type localSensor struct {
	src  *live.Source
	db   *store.DB
	name string
	cfg  capture.Config
	live capture.LiveStats

	mu      sync.Mutex
	pending []window.Summary
	wake    chan struct{}
}

func openLocalSensor(ctx context.Context, cfg *webConfig, db *store.DB) (*localSensor, error) {
	var ifaces []string
	if cfg.Interface != "any" && cfg.Interface != "" {
		ifaces = strings.Split(cfg.Interface, ",")
	}
	src, err := live.Open(ctx, live.Config{Interfaces: ifaces, Snaplen: cfg.Snaplen, Filter: cfg.Filter})
	if err != nil {
		return nil, fmt.Errorf("own sensor: %w", err)
	}
	name, err := os.Hostname()
	if err != nil || name == "" {
		name = "web"
	}
	ls := &localSensor{src: src, db: db, name: name, wake: make(chan struct{}, 1)}
	ls.cfg = capture.Config{Live: true, OnWindow: ls.add, Stats: &ls.live}
	slog.Info("own sensor capturing", "interfaces", cfg.Interface, "filter", cfg.Filter, "name", name)
	return ls, nil
}

func (ls *localSensor) add(s window.Summary) {
	ls.mu.Lock()
	ls.pending = append(ls.pending, s)
	ls.mu.Unlock()
	poke(ls.wake)
}

// run captures until ctx is done, storing windows as they close and a
// heartbeat every minute; at the end it stores the flushed open windows.
func (ls *localSensor) run(ctx context.Context) {
	defer ls.src.Close()
	bg := context.WithoutCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if _, err := capture.Run(ctx, ls.src, ls.cfg); err != nil && ctx.Err() == nil {
			slog.Error("own sensor stopped", "err", err)
		}
	}()
	tick := time.NewTicker(time.Minute)
	defer tick.Stop()
	for {
		select {
		case <-done:
			ls.store(bg, true)
			return
		case <-ls.wake:
			ls.store(bg, false)
		case <-tick.C:
			ls.store(bg, true)
		}
	}
}

// store ingests the pending windows (and, if heartbeat, the sensor's
// health even without windows).
func (ls *localSensor) store(ctx context.Context, heartbeat bool) {
	ls.mu.Lock()
	sums := ls.pending
	ls.pending = nil
	ls.mu.Unlock()
	if len(sums) == 0 && !heartbeat {
		return
	}
	st := ls.src.Stats()
	info := window.SensorInfo{Name: ls.name, Version: Version, Interfaces: ls.src.Interfaces(), Packets: st.Packets, Drops: st.Drops, Flows: ls.live.Snapshot().Flows}
	for first := true; first || len(sums) > 0; first = false {
		n := min(len(sums), spoolChunk)
		b := &window.Batch{ID: "local-" + randomID(), Sensor: info, Summaries: sums[:n]}
		if _, err := ls.db.Ingest(ctx, b, time.Now()); err != nil {
			slog.Error("own sensor: store windows", "windows", n, "err", err)
		}
		sums = sums[n:]
	}
}
