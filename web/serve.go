package web

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/pastmon/pastmon/store"
)

// IngestPath is the route sensors post batches to: ship.IngestPath, which
// web/ship's tests keep from being imported here (TestClientAgainstServer
// fails if they differ).
const IngestPath = "/api/v1/ingest"

// Listen binds addr (so that a port in use fails before anything else
// starts); with certFile and keyFile it serves HTTPS.
func Listen(addr, certFile, keyFile string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	if certFile == "" {
		return ln, nil
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("load TLS key pair %s, %s: %w", certFile, keyFile, err)
	}
	return tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}), nil
}

// Serve serves h on ln until ctx is done, then shuts down gracefully
// within timeout. It returns an error only if serving failed.
func Serve(ctx context.Context, ln net.Listener, h http.Handler, timeout time.Duration, log *slog.Logger) error {
	hs := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       2 * time.Minute,
		WriteTimeout:      2 * time.Minute,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	var err error
	select {
	case <-ctx.Done():
	case err = <-served:
		err = fmt.Errorf("serve: %w", err)
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	if serr := hs.Shutdown(sctx); serr != nil {
		log.Warn("http shutdown", "err", serr)
	}
	return err
}

// Maintain rolls windows up into hours and applies retention (5-minute
// windows kept for retention, hourly rollups for hourly), at once and then
// every interval until ctx is done.
func Maintain(ctx context.Context, db *store.DB, every, retention, hourly time.Duration, log *slog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if err := db.Maintain(ctx, time.Now(), retention, max(retention, hourly)); err != nil && ctx.Err() == nil {
			log.Error("database maintenance", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// WatchWritable, while db is read-only (opened on a full disk), tries
// every interval to make it writable again, until it is or ctx is done.
func WatchWritable(ctx context.Context, db *store.DB, every time.Duration, log *slog.Logger) {
	if !db.ReadOnly() {
		return
	}
	log.Warn("the disk is full: the database is read-only and ingest refused until there is room", "err", db.WriteFailure())
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := db.Recover(ctx); err == nil {
			log.Info("the database is writable again")
			return
		}
	}
}

// EnsureAdmin creates the admin user at first start, with password or,
// when it is empty, admin (to be changed at first login), and says so.
func EnsureAdmin(ctx context.Context, db *store.DB, password string, log *slog.Logger) error {
	created, err := db.EnsureAdmin(ctx, password)
	if err != nil {
		return err
	}
	switch {
	case created && password == "":
		log.Warn("created user admin with password admin: it must be changed at first login (or start with --admin-password)")
	case created:
		log.Info("created user admin with the password given by --admin-password")
	}
	return nil
}

// ParseProxies parses --trusted-proxies: comma-separated CIDRs of the
// reverse proxies whose X-Forwarded-For names the client.
func ParseProxies(list string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, p := range strings.Split(list, ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		pfx, err := netip.ParsePrefix(p)
		if err != nil {
			return nil, fmt.Errorf("--trusted-proxies %q: want CIDRs such as 10.0.0.0/8: %v", p, err)
		}
		out = append(out, pfx.Masked())
	}
	return out, nil
}
