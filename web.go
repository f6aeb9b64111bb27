package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"strings"
	"time"

	"github.com/pastmon/pastmon/discovery"
	"github.com/pastmon/pastmon/internal/cli"
	"github.com/pastmon/pastmon/store"
	"github.com/pastmon/pastmon/web"
	"github.com/pastmon/pastmon/web/otlp"
	"github.com/pastmon/pastmon/web/promexport"
)

// webCommand is "pastmon web": the store, the HTTP server and, beside it,
// a local sensor and the etcd registration (startCluster).
type webCommand struct{ stdout, stderr io.Writer }

// webConfig is the parsed command line of "pastmon web".
type webConfig struct {
	Listen, DB, Token, AdminPassword, MetricsToken, TLSCert, TLSKey, Interface string
	NoSensor                                                                   bool
	Snaplen, MetricsMaxServers                                                 int
	Etcd                                                                       discovery.Config
	AdvertiseURL                                                               string
	Retention                                                                  time.Duration
	Flush                                                                      time.Duration // partial windows of the own sensor
	Filter                                                                     string        // remaining args: a tcpdump filter expression
	TokenFile, AdminPasswordFile, TrustedProxies                               string
	trusted                                                                    []netip.Prefix
	OTLP                                                                       otlp.Config
}

const (
	// hourlyRetention keeps the hourly rollups (30-day and longer charts)
	// well beyond the 5-minute rows.
	hourlyRetention = 400 * 24 * time.Hour
	maintainEvery   = 5 * time.Minute
	// writableEvery is how often a database opened read-only on a full
	// disk is tried for writing again.
	writableEvery   = 30 * time.Second
	shutdownTimeout = 10 * time.Second
)

func (c *webCommand) Run(ctx context.Context, args []string) error {
	cfg, check, err := parseWebFlags(args, c.stderr)
	if err != nil {
		return err
	}
	if err := cfg.validate(); err != nil {
		return fmt.Errorf("web: %w: %w", err, cli.ErrUsage)
	}
	if check {
		fmt.Fprintln(c.stdout, "web: configuration ok")
		return nil
	}
	return runWeb(ctx, cfg)
}

func parseWebFlags(args []string, stderr io.Writer) (*webConfig, bool, error) {
	cfg := &webConfig{}
	fs := cli.NewFlagSet("web", stderr)
	fs.StringVar(&cfg.Listen, "listen", ":8080", "HTTP(S) listen address")
	fs.StringVar(&cfg.DB, "db", "pastmon.db", "SQLite database file")
	fs.StringVar(&cfg.Token, "token", "", "token sensors must send to the ingest API (empty: remote sensors are refused)")
	fs.StringVar(&cfg.AdminPassword, "admin-password", "", "password of the admin user created at first start (default admin/admin, to be changed at first login)")
	fs.StringVar(&cfg.TokenFile, "token-file", "", "file holding --token (keeps it out of ps)")
	fs.StringVar(&cfg.AdminPasswordFile, "admin-password-file", "", "file holding --admin-password")
	fs.StringVar(&cfg.TrustedProxies, "trusted-proxies", "", "comma-separated CIDRs of reverse proxies whose X-Forwarded-For names the client")
	fs.StringVar(&cfg.MetricsToken, "metrics-token", "", "bearer token that may read /metrics without a user")
	fs.IntVar(&cfg.MetricsMaxServers, "metrics-max-servers", promexport.DefaultMaxServers, "most servers /metrics exports by name (the others are summed under server=\"other\")")
	fs.DurationVar(&cfg.Retention, "retention", 840*time.Hour, "how long 5-minute windows are kept (hourly rollups are kept 400 days)")
	fs.StringVar(&cfg.TLSCert, "tls-cert", "", "TLS certificate (PEM): serve HTTPS")
	fs.StringVar(&cfg.TLSKey, "tls-key", "", "TLS private key (PEM)")
	fs.StringVar(&cfg.Interface, "interface", "any", "interface the local sensor captures on")
	fs.BoolVar(&cfg.NoSensor, "no-sensor", false, "run no local sensor")
	fs.DurationVar(&cfg.Flush, "flush-interval", time.Minute, "the local sensor also ships partial windows every this much packet time, so a new node shows data within a minute (0: only closed 5-minute windows)")
	cli.SnaplenFlag(fs, &cfg.Snaplen, "bytes captured per packet by the local sensor")
	cli.EtcdFlags(fs, &cfg.Etcd)
	fs.StringVar(&cfg.AdvertiseURL, "advertise-url", "", "URL sensors reach this node at (default from --listen)")
	cli.OTLPFlags(fs, &cfg.OTLP)
	check := fs.Bool("check", false, "validate the flags and exit")
	if err := cli.Parse(fs, args); err != nil {
		return nil, false, err
	}
	cfg.Filter = strings.Join(fs.Args(), " ")
	return cfg, *check, nil
}

// minToken is the shortest ingest token accepted: anything shorter can be
// guessed.
const minToken = 16

// validateSecrets reads the secret files and checks the secrets.
func (cfg *webConfig) validateSecrets() []error {
	errs := append(cli.Secret(&cfg.Token, cfg.TokenFile, "token", minToken),
		cli.Secret(&cfg.AdminPassword, cfg.AdminPasswordFile, "admin-password", store.MinPasswordLen)...)
	var err error
	if cfg.trusted, err = web.ParseProxies(cfg.TrustedProxies); err != nil {
		errs = append(errs, err)
	}
	return errs
}

func (cfg *webConfig) validate() error {
	errs := cfg.validateSecrets()
	errs = append(errs, cli.ValidListen("listen", cfg.Listen), cli.ValidFlush(cfg.Flush),
		cli.ValidSnaplen(cfg.Snaplen), cli.ValidOTLP(&cfg.OTLP))
	if cfg.DB == "" {
		errs = append(errs, errors.New("--db: want a file name"))
	}
	errs = append(errs, cli.ValidTLS(cfg.TLSCert, cfg.TLSKey), cli.ValidEtcd(&cfg.Etcd), cli.ValidHTTPURL("advertise-url", cfg.AdvertiseURL))
	if cfg.MetricsMaxServers < 1 {
		errs = append(errs, fmt.Errorf("--metrics-max-servers %d: want at least 1", cfg.MetricsMaxServers))
	}
	if cfg.Retention < time.Hour {
		errs = append(errs, fmt.Errorf("--retention %s: want at least 1h (e.g. 840h for 35 days)", cfg.Retention))
	}
	if !cfg.NoSensor && cfg.Interface == "" {
		errs = append(errs, errors.New("--interface: want an interface name or any (or --no-sensor)"))
	}
	return errors.Join(errs...)
}

// runWeb serves until ctx is cancelled, then shuts down in order: HTTP
// server, cluster (sensor, registration), background maintenance, store.
func runWeb(ctx context.Context, cfg *webConfig) error {
	log := slog.Default()
	db, err := store.Open(ctx, cfg.DB)
	if err != nil {
		return fmt.Errorf("web: %w", err)
	}
	defer db.Close()
	if err := web.EnsureAdmin(ctx, db, cfg.AdminPassword, log); err != nil {
		return fmt.Errorf("web: %w", err)
	}
	if cfg.Token == "" {
		log.Warn("no --token: the ingest API refuses every sensor but the local one")
	}
	own := new(ownStatus)
	exp, err := otlp.StartIf(ctx, cfg.OTLP)
	if err != nil {
		return fmt.Errorf("web: %w", err)
	}
	defer exp.CloseWithin(context.WithoutCancel(ctx), shutdownTimeout)
	srv, err := web.New(web.Config{DB: db, Token: cfg.Token, MetricsToken: cfg.MetricsToken, MetricsMaxServers: cfg.MetricsMaxServers,
		TLS: cfg.TLSCert != "", Version: Version, Logger: log, LocalSensor: own.problem, TrustedProxies: cfg.trusted,
		OnWindows: exp.Windows()})
	if err != nil {
		return fmt.Errorf("web: %w", err)
	}
	ln, err := web.Listen(cfg.Listen, cfg.TLSCert, cfg.TLSKey)
	if err != nil {
		return fmt.Errorf("web: %w", err)
	}
	scheme := "http"
	if cfg.TLSCert != "" {
		scheme = "https"
	}
	log.Info("listening", "addr", ln.Addr().String(), "url", scheme+"://"+ln.Addr().String(), "db", cfg.DB)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stopCluster, err := startCluster(ctx, cfg, srv, own)
	if err != nil {
		ln.Close()
		return fmt.Errorf("web: start cluster: %w", err)
	}
	go web.WatchWritable(ctx, db, writableEvery, log)
	maintained := make(chan struct{})
	go func() {
		defer close(maintained)
		web.Maintain(ctx, db, maintainEvery, cfg.Retention, hourlyRetention, log)
	}()
	if err = web.Serve(ctx, ln, srv, shutdownTimeout, log); err != nil {
		err = fmt.Errorf("web: %w", err)
	}
	stopCluster()
	cancel()
	<-maintained
	if cerr := db.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("web: close database: %w", cerr)
	}
	log.Info("stopped")
	return err
}
