package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/pastmon/pastmon/capture"
	"github.com/pastmon/pastmon/capture/live"
	"github.com/pastmon/pastmon/capture/window"
	"github.com/pastmon/pastmon/discovery"
	"github.com/pastmon/pastmon/store"
	"github.com/pastmon/pastmon/web"
)

const defaultEtcdKey = "/services/website/pastmon-web@1"

// sensorCommand is "pastmon sensor": capture (live or from a file), spool
// closed windows locally, and deliver them to the web node.
type sensorCommand struct{ stdout, stderr io.Writer }

type sensorConfig struct {
	Interface, Read, Filter        string
	Web, Token, Spool, Name        string
	Etcd                           discovery.Config
	SpoolMax, Snaplen, MaxFlows    int
	Heartbeat, ShutdownWait, Flush time.Duration
	Check                          bool
}

func (c *sensorCommand) flags(cfg *sensorConfig) *flag.FlagSet {
	fs := newFlagSet("sensor", c.stderr)
	fs.Usage = func() {
		fmt.Fprint(c.stderr, "Usage: pastmon sensor [flags] [tcpdump filter expression ...]\n\n")
		fs.PrintDefaults()
	}
	fs.StringVar(&cfg.Interface, "interface", "any", "interfaces to capture, comma-separated, or any")
	fs.StringVar(&cfg.Read, "read", "", "replay this capture file (pcap, pcapng, .gz) instead of capturing, and exit once it is delivered")
	fs.StringVar(&cfg.Web, "web", "", "web node `URL` (when no etcd is given)")
	fs.StringVar(&cfg.Token, "token", "", "ingest token of the web node")
	fs.StringVar(&cfg.Spool, "spool", "sensor-spool.db", "local spool file (SQLite) for windows not yet delivered")
	fs.StringVar(&cfg.Name, "name", "", "sensor name (default: the host name)")
	fs.IntVar(&cfg.SpoolMax, "spool-max", 100000, "most windows kept in the spool; the oldest are dropped first")
	fs.IntVar(&cfg.Snaplen, "snaplen", 256, "bytes captured per packet")
	fs.IntVar(&cfg.MaxFlows, "max-flows", 1000000, "most TCP connections tracked at once")
	fs.DurationVar(&cfg.Heartbeat, "heartbeat", time.Minute, "interval of health reports to the web node")
	fs.DurationVar(&cfg.ShutdownWait, "shutdown-wait", 10*time.Second, "at exit (and after --read), how long to keep delivering before leaving windows spooled")
	fs.DurationVar(&cfg.Flush, "flush-interval", 0, "also ship partial windows every this much packet time (0: only closed 5-minute windows); the web node merges the parts")
	fs.Var(endpoints{&cfg.Etcd.Endpoints}, "etcd-endpoints", "comma-separated etcd `endpoints` (h:2379,...) to find the web node in (instead of --web)")
	fs.StringVar(&cfg.Etcd.Key, "etcd-key", defaultEtcdKey, "etcd key the web node registers under")
	fs.StringVar(&cfg.Etcd.CACert, "etcd-cacert", "", "CA certificate for etcd TLS")
	fs.StringVar(&cfg.Etcd.Cert, "etcd-cert", "", "client certificate for etcd TLS")
	fs.StringVar(&cfg.Etcd.CertKey, "etcd-cert-key", "", "client key for etcd TLS")
	fs.BoolVar(&cfg.Check, "check", false, "validate the flags and exit")
	return fs
}

// endpoints is a comma-separated list flag.
type endpoints struct{ list *[]string }

func (e endpoints) String() string {
	if e.list == nil {
		return ""
	}
	return strings.Join(*e.list, ",")
}

func (e endpoints) Set(s string) error {
	*e.list = nil
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*e.list = append(*e.list, p)
		}
	}
	return nil
}

func (cfg *sensorConfig) validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if cfg.Read == "" && cfg.Interface == "" {
		bad("need --interface or --read")
	}
	if cfg.Web == "" && len(cfg.Etcd.Endpoints) == 0 {
		bad("need --web URL or --etcd-endpoints to reach the web node")
	}
	if cfg.Web != "" {
		if u, err := url.Parse(cfg.Web); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("--web %q: want http://host:port or https://host:port", cfg.Web)
		}
	}
	if len(cfg.Etcd.Endpoints) > 0 {
		if err := cfg.Etcd.Validate(); err != nil {
			bad("%v", err)
		}
	}
	if cfg.Spool == "" {
		bad("--spool must not be empty")
	}
	if cfg.SpoolMax < 1 {
		bad("--spool-max %d: want at least 1", cfg.SpoolMax)
	}
	if cfg.Snaplen < 64 || cfg.Snaplen > 262144 {
		bad("--snaplen %d: want 64 to 262144", cfg.Snaplen)
	}
	if cfg.MaxFlows < 1 {
		bad("--max-flows %d: want at least 1", cfg.MaxFlows)
	}
	if cfg.Heartbeat < time.Second {
		bad("--heartbeat %s: want at least 1s", cfg.Heartbeat)
	}
	if cfg.ShutdownWait < 0 {
		bad("--shutdown-wait %s: must not be negative", cfg.ShutdownWait)
	}
	if cfg.Flush != 0 && cfg.Flush < time.Second {
		bad("--flush-interval %s: want 0 or at least 1s", cfg.Flush)
	}
	if cfg.Read != "" {
		if _, err := os.Stat(cfg.Read); err != nil && cfg.Read != "-" {
			bad("--read: %v", err)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("sensor: %w: %w", errors.Join(errs...), errUsage)
	}
	return nil
}

func (c *sensorCommand) Run(ctx context.Context, args []string) error {
	var cfg sensorConfig
	fs := c.flags(&cfg)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg.Filter = strings.Join(fs.Args(), " ")
	if cfg.Name == "" {
		host, err := os.Hostname()
		if err != nil {
			return fmt.Errorf("sensor: no --name and no host name: %w", err)
		}
		cfg.Name = host
	}
	if err := cfg.validate(); err != nil {
		return err
	}
	if cfg.Check {
		return nil
	}
	return runSensor(ctx, &cfg)
}

// runSensor captures until ctx is done (or the file ends), then delivers
// what is spooled for at most cfg.ShutdownWait.
func runSensor(ctx context.Context, cfg *sensorConfig) error {
	// The spool and delivery outlive ctx: at shutdown they keep going for
	// the shutdown wait.
	bg := context.WithoutCancel(ctx)
	spool, err := store.OpenSpool(bg, cfg.Spool, cfg.SpoolMax)
	if err != nil {
		return fmt.Errorf("open spool %s: %w", cfg.Spool, err)
	}
	defer spool.Close()
	if n, err := spool.Depth(bg); err == nil && n > 0 {
		slog.Info("spool holds windows from before", "spool", cfg.Spool, "windows", n)
	}

	ship := newShipper(spool, web.NewClient(cfg.Web, cfg.Token), cfg.Name)
	writer := newSpoolWriter(spool, ship, cfg.SpoolMax)

	deliverCtx, stopDelivery := context.WithCancel(bg)
	var wg sync.WaitGroup
	defer func() { stopDelivery(); wg.Wait() }()
	wg.Go(func() { ship.Run(deliverCtx) })
	wg.Go(func() { writer.Run(deliverCtx) })
	if len(cfg.Etcd.Endpoints) > 0 {
		if cfg.Web != "" {
			slog.Info("finding the web node in etcd: --web is only used without --etcd-endpoints", "web", cfg.Web)
		}
		wg.Go(func() { watchWebNode(deliverCtx, cfg.Etcd, ship) })
	} else {
		ship.SetURL(cfg.Web)
	}
	if cfg.Read == "" {
		wg.Go(func() { ship.RunHeartbeat(deliverCtx, cfg.Heartbeat) })
	}

	started, capErr := captureInto(ctx, cfg, ship, writer.Add)
	if !started {
		return capErr // nothing captured: no reason to wait for delivery
	}
	if err := writer.Flush(bg); err != nil {
		capErr = errors.Join(capErr, fmt.Errorf("windows lost at exit: %w", err))
	}
	ship.Wake()
	ship.RetryNow()
	if capErr != nil {
		slog.Error("capture stopped: delivering what was captured", "err", capErr)
	}
	// What was captured is delivered even after a capture error.
	err = drain(bg, cfg, ship)
	loss := lossError(ship)
	if cfg.Read == "" {
		// A live sensor asked to stop: what is left goes at the next
		// start, and losses were reported all along in the heartbeats.
		if err != nil {
			slog.Warn("stopping with windows still spooled", "err", err)
		}
		if loss != nil {
			slog.Warn("windows were lost while running", "err", loss)
		}
		err, loss = nil, nil
		hctx, cancel := context.WithTimeout(bg, 2*time.Second)
		_ = ship.Heartbeat(hctx) // the web node sees the final figures
		cancel()
	}
	return errors.Join(capErr, err, loss)
}

// drain delivers until the spool is empty or the shutdown wait is over.
func drain(ctx context.Context, cfg *sensorConfig, ship *shipper) error {
	wctx, cancel := context.WithTimeout(ctx, cfg.ShutdownWait)
	defer cancel()
	if ship.WaitEmpty(wctx) == nil {
		slog.Info("everything delivered", "windows", ship.delivered.Load(), "url", ship.URL())
		return nil
	}
	n, _ := ship.spool.Depth(ctx)
	where := ship.URL()
	if where == "" {
		where = "the web node (not registered in etcd)"
	}
	msg := fmt.Sprintf("could not deliver to %s within %s: %d windows stay spooled in %s for the next start", where, cfg.ShutdownWait, n, cfg.Spool)
	if last := ship.LastError(); last != nil {
		return fmt.Errorf("%s: %w", msg, last)
	}
	return errors.New(msg)
}

// lossError reports windows that will never reach the web node.
func lossError(ship *shipper) error {
	var errs []error
	if n := ship.Lost(); n > 0 {
		errs = append(errs, fmt.Errorf("spool full: %d oldest windows dropped (raise --spool-max)", n))
	}
	if n := ship.rejected.Load(); n > 0 {
		errs = append(errs, fmt.Errorf("web node rejected %d windows for good", n))
	}
	return errors.Join(errs...)
}

// watchWebNode follows the web node's URL in etcd until ctx is done.
func watchWebNode(ctx context.Context, cfg discovery.Config, ship *shipper) {
	for ctx.Err() == nil {
		err := discovery.Watch(ctx, cfg, ship.SetURL)
		if ctx.Err() != nil {
			return
		}
		slog.Warn("etcd watch ended, restarting", "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

// captureInto runs the capture pipeline until the file ends or ctx is done,
// handing every closed window to add.
// It reports started=false when the capture could not even begin.
func captureInto(ctx context.Context, cfg *sensorConfig, ship *shipper, add func(window.Summary)) (started bool, err error) {
	stats := new(capture.LiveStats)
	ccfg := capture.Config{MaxFlows: cfg.MaxFlows, OnWindow: add, FlushInterval: cfg.Flush, Stats: stats}
	if cfg.Read != "" {
		src, err := capture.OpenFile(cfg.Read)
		if err != nil {
			return false, fmt.Errorf("read %s: %w", cfg.Read, err)
		}
		defer src.Close()
		ccfg.Filter = cfg.Filter
		ship.SetStats(func() (uint64, uint64, uint64, []string) {
			st := stats.Snapshot()
			return st.Packets, 0, st.Flows, nil
		})
		if _, err := capture.Run(ctx, src, ccfg); err != nil {
			return true, fmt.Errorf("read %s: %w", cfg.Read, err)
		}
		return true, nil
	}
	var names []string
	if cfg.Interface != "any" {
		names = strings.Split(cfg.Interface, ",")
	}
	src, err := live.Open(ctx, live.Config{Interfaces: names, Snaplen: cfg.Snaplen, Filter: cfg.Filter})
	if err != nil {
		return false, err // says which interfaces and why
	}
	defer src.Close()
	ccfg.Live = true
	slog.Info("capturing", "interfaces", cfg.Interface, "filter", cfg.Filter, "name", cfg.Name)
	var (
		mu     sync.Mutex
		ifaces []string // the last list seen: a closed source has none
	)
	ship.SetStats(func() (uint64, uint64, uint64, []string) {
		st := src.Stats()
		mu.Lock()
		defer mu.Unlock()
		if now := src.Interfaces(); len(now) > 0 {
			ifaces = now
		}
		return st.Packets, st.Drops, stats.Snapshot().Flows, ifaces
	})
	if _, err := capture.Run(ctx, src, ccfg); err != nil && !errors.Is(err, context.Canceled) {
		return true, fmt.Errorf("capture on %s: %w", cfg.Interface, err)
	}
	return true, nil
}
