package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/pastmon/pastmon/capture"
	"github.com/pastmon/pastmon/capture/live"
	"github.com/pastmon/pastmon/capture/tcp"
	"github.com/pastmon/pastmon/capture/window"
	"github.com/pastmon/pastmon/internal/cli"
	"github.com/pastmon/pastmon/web/otlp"
	"github.com/pastmon/pastmon/web/sensorhttp"
	"github.com/pastmon/pastmon/web/ship"
)

// sensorCommand is "pastmon sensor": capture (live or from a file), spool
// closed windows locally, and deliver them to the web node.
type sensorCommand struct{ stdout, stderr io.Writer }

type sensorConfig struct {
	ship.SensorConfig
	Interface, Read, Filter string
	MetricsListen           string // "": no /metrics or /healthz
	MetricsToken            string
	OTLP                    otlp.Config
	Snaplen, MaxFlows       int
	ShutdownWait, Flush     time.Duration
	Check                   bool
}

func (c *sensorCommand) flags(cfg *sensorConfig) *flag.FlagSet {
	fs := cli.NewFlagSet("sensor", c.stderr)
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
	cli.SnaplenFlag(fs, &cfg.Snaplen, "bytes captured per packet")
	fs.IntVar(&cfg.MaxFlows, "max-flows", tcp.DefaultMaxFlows, "most TCP connections tracked at once")
	fs.DurationVar(&cfg.Heartbeat, "heartbeat", time.Minute, "interval of health reports to the web node")
	fs.DurationVar(&cfg.ShutdownWait, "shutdown-wait", 10*time.Second, "at exit (and after --read), how long to keep delivering before leaving windows spooled")
	fs.DurationVar(&cfg.Flush, "flush-interval", 0, "also ship partial windows every this much packet time (0: only closed 5-minute windows); the web node merges the parts")
	cli.EtcdFlags(fs, &cfg.Etcd)
	fs.StringVar(&cfg.MetricsListen, "metrics-listen", "", "serve GET /metrics (Prometheus: this sensor's windows and health) and GET /healthz at this `address` (empty: off)")
	fs.StringVar(&cfg.MetricsToken, "metrics-token", "", "bearer token scrapers must send to --metrics-listen's /metrics")
	cli.OTLPFlags(fs, &cfg.OTLP)
	fs.BoolVar(&cfg.Check, "check", false, "validate the flags and exit")
	return fs
}

func (cfg *sensorConfig) validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if cfg.Read == "" && cfg.Interface == "" {
		bad("need --interface or --read")
	}
	errs = append(errs, cfg.SensorConfig.Validate(), cli.ValidSnaplen(cfg.Snaplen), cli.ValidOTLP(&cfg.OTLP))
	if cfg.MaxFlows < 1 {
		bad("--max-flows %d: want at least 1", cfg.MaxFlows)
	}
	if cfg.ShutdownWait < 0 {
		bad("--shutdown-wait %s: must not be negative", cfg.ShutdownWait)
	}
	errs = append(errs, cli.ValidFlush(cfg.Flush))
	if cfg.MetricsListen != "" {
		errs = append(errs, cli.ValidListen("metrics-listen", cfg.MetricsListen))
		if cfg.MetricsToken == "" {
			bad("--metrics-listen needs --metrics-token (the bearer token scrapers send)")
		}
	}
	errs = append(errs, cli.ValidInput("read", cfg.Read))
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("sensor: %w: %w", err, cli.ErrUsage)
	}
	return nil
}

func (c *sensorCommand) Run(ctx context.Context, args []string) error {
	var cfg sensorConfig
	fs := c.flags(&cfg)
	if err := cli.Parse(fs, args); err != nil {
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
	if cfg.Read != "" {
		cfg.Heartbeat = 0 // a replay reports in its batches
		cfg.Replay = cfg.Read
	}
	cfg.Version = Version
	sensor, err := ship.StartSensor(ctx, cfg.SensorConfig)
	if err != nil {
		return err
	}
	var metrics *sensorhttp.Server // nil: off
	if cfg.MetricsListen != "" {
		metrics, err = sensorhttp.Start(sensorhttp.Config{Addr: cfg.MetricsListen, Token: cfg.MetricsToken, Name: cfg.Name, Health: sensor.Shipper})
		if err != nil {
			sensor.Abort()
			return err
		}
	}
	defer func() {
		if err := metrics.Close(); err != nil {
			slog.Warn("stop /metrics listener", "err", err)
		}
	}()
	// Delivery outlives ctx: at shutdown it goes on for the shutdown wait.
	bg := context.WithoutCancel(ctx)
	exp, err := otlp.StartIf(ctx, cfg.OTLP)
	if err != nil {
		sensor.Abort()
		return fmt.Errorf("sensor: %w", err)
	}
	defer exp.CloseWithin(bg, cfg.ShutdownWait)
	onWindow := exp.Tee(otlp.Sensor{Name: cfg.Name, Version: Version}, metrics.OnWindow(sensor.Add))
	metrics.SetRunning(true)
	started, capErr := captureInto(ctx, cfg, sensor.Shipper, onWindow)
	metrics.SetRunning(false)
	if !started {
		sensor.Abort()
		return capErr // nothing captured: no reason to wait for delivery
	}
	if capErr != nil {
		slog.Error("capture stopped: delivering what was captured", "err", capErr)
	}
	// What was captured is delivered even after a capture error.
	return errors.Join(capErr, sensor.Close(bg, cfg.ShutdownWait, cfg.Read == ""))
}

// captureInto runs the capture pipeline until the file ends or ctx is done,
// handing every closed window to onWindow.
// It reports started=false when the capture could not even begin.
func captureInto(ctx context.Context, cfg *sensorConfig, sh *ship.Shipper, onWindow func(window.Summary)) (started bool, err error) {
	ccfg := capture.Config{MaxFlows: cfg.MaxFlows, OnWindow: onWindow, FlushInterval: cfg.Flush, Filter: cfg.Filter}
	if cfg.Read != "" {
		return ship.CaptureFile(ctx, cfg.Read, ccfg, sh)
	}
	src, err := live.Open(ctx, live.Config{Interfaces: cli.Interfaces(cfg.Interface), Snaplen: cfg.Snaplen, Filter: cfg.Filter})
	if err != nil {
		return false, err // says which interfaces and why
	}
	defer src.Close()
	slog.Info("capturing", "interfaces", cfg.Interface, "filter", cfg.Filter, "name", cfg.Name)
	ccfg.Filter = "" // in the socket's filter
	return true, ship.CaptureLive(ctx, src, cfg.Interface, ccfg, sh)
}
