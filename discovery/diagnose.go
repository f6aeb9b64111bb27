package discovery

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"
)

// diagnose explains why etcd did not answer, which gRPC reports only as a
// deadline: it dials each endpoint and, under TLS, shakes hands with it.
// It returns nil when every endpoint seems fine at that level.
func diagnose(ctx context.Context, cfg Config) error {
	tlsCfg, err := cfg.tlsConfig()
	if err != nil {
		return err
	}
	var errs []error
	for _, ep := range cfg.Endpoints {
		if err := probe(ctx, ep, tlsCfg, cfg.timeout()); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", ep, err))
		}
	}
	return errors.Join(errs...)
}

func probe(ctx context.Context, ep string, tlsCfg *tls.Config, timeout time.Duration) error {
	scheme, addr, found := strings.Cut(ep, "://")
	if !found {
		scheme, addr = "", ep
	}
	switch scheme {
	case "unix", "unixs":
		return nil
	case "https":
		if tlsCfg == nil {
			tlsCfg = &tls.Config{}
		}
	case "http":
		tlsCfg = nil
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	if tlsCfg == nil {
		return nil
	}
	cfg := tlsCfg.Clone()
	if host, _, err := net.SplitHostPort(addr); err == nil && cfg.ServerName == "" {
		cfg.ServerName = host
	}
	tc := tls.Client(conn, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		return fmt.Errorf("TLS: %w", err)
	}
	// Under TLS 1.3 a server that refuses our client certificate says so
	// only after the handshake, in an alert.
	tc.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	var b [1]byte
	if _, err := tc.Read(b[:]); err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return nil
		}
		return fmt.Errorf("TLS: %w", err)
	}
	return nil
}
