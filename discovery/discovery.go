// Package discovery lets pastmon sensors find the web node through etcd.
//
// The web node keeps its URL registered under one key with a 60 s lease kept
// alive while it runs (Register); sensors follow that key (Watch); scripts
// and ExecStartPre gates read it once (Lookup). The value is JSON,
// {"url":"http://host:8080","version":"...","sig":"..."}, where sig is an
// HMAC-SHA256 keyed by the sensors' token over the other fields: with a
// Config.Token, Register signs and Watch follows only values that verify,
// so whoever can write the key cannot point sensors (and their token)
// elsewhere. Without one, a bare http(s) URL written by hand (etcdctl put
// KEY http://host:8080) is accepted too.
//
// The package only talks to etcd: it never contacts the web node, does not
// decide what a sensor does while no web node is registered, and keeps no
// state outside etcd.
package discovery

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	grpcbackoff "google.golang.org/grpc/backoff"

	"github.com/pastmon/pastmon/internal/backoff"
)

// DefaultKey is the key the old fleet units used, so that an existing
// "etcdctl get /services/website/pastmon-web@1" gate keeps working.
const DefaultKey = "/services/website/pastmon-web@1"

// LeaseTTL is the lifetime in seconds of the web node's registration when it
// is no longer kept alive.
const LeaseTTL = 60

// defaultTimeout bounds each etcd request when Config.DialTimeout is zero.
const defaultTimeout = 5 * time.Second

// ErrNotFound is returned by Lookup when no web node is registered.
var ErrNotFound = errors.New("no web node registered")

// Config says where etcd is and which key holds the web node's URL.
type Config struct {
	// Endpoints are etcd client URLs or host:port pairs.
	Endpoints []string
	// Key holds the web node's Value.
	Key string
	// CACert, Cert and CertKey are PEM files for TLS to etcd: the CA that
	// signed etcd's certificate, and a client certificate with its key when
	// etcd requires one. Empty means plain TLS-less gRPC (unless an endpoint
	// is https://, which then uses the system roots).
	CACert, Cert, CertKey string
	// DialTimeout bounds every single request to etcd (connect included);
	// zero means 5 s. Retries go on after it in Register and Watch.
	DialTimeout time.Duration
	// Token is the sensors' ingest token. It signs the registration
	// (Register) and verifies it (Watch, Lookup); empty: unsigned.
	Token string
}

// Value is what the web node registers.
type Value struct {
	URL     string `json:"url"`
	Version string `json:"version"`
	Sig     string `json:"sig,omitempty"` // hex HMAC-SHA256 over the other fields
}

// mac is the HMAC-SHA256, keyed by token, of the JSON of the fields but
// Sig.
func (v Value) mac(token string) []byte {
	b, _ := json.Marshal(struct {
		URL     string `json:"url"`
		Version string `json:"version"`
	}{v.URL, v.Version}) // strings only: cannot fail
	h := hmac.New(sha256.New, []byte(token))
	h.Write(b)
	return h.Sum(nil)
}

// Signed returns v with Sig set for token.
func (v Value) Signed(token string) Value {
	v.Sig = hex.EncodeToString(v.mac(token))
	return v
}

// Verify reports whether v was signed with token.
func (v Value) Verify(token string) bool {
	sig, err := hex.DecodeString(v.Sig)
	return err == nil && hmac.Equal(sig, v.mac(token))
}

// errUnsigned is a registration that does not verify with the token.
var errUnsigned = errors.New("registration not signed with the sensors' token: ignored, the token is never sent to it")

// parseVerified is ParseValue, then with a token Verify.
func parseVerified(b []byte, token string) (Value, error) {
	v, err := ParseValue(b)
	if err == nil && token != "" && !v.Verify(token) {
		return Value{}, errUnsigned
	}
	return v, err
}

// SplitEndpoints turns a comma-separated flag value ("h1:2379, h2:2379")
// into endpoints, dropping empty items.
func SplitEndpoints(s string) []string {
	var eps []string
	for _, ep := range strings.Split(s, ",") {
		if ep = strings.TrimSpace(ep); ep != "" {
			eps = append(eps, ep)
		}
	}
	return eps
}

// Validate reports a configuration that cannot work whatever etcd does.
func (c Config) Validate() error {
	if len(c.Endpoints) == 0 {
		return errors.New("etcd: no endpoints")
	}
	for _, ep := range c.Endpoints {
		if strings.TrimSpace(ep) == "" || strings.ContainsAny(ep, " ,") {
			return fmt.Errorf("etcd: bad endpoint %q", ep)
		}
	}
	if c.Key == "" {
		return errors.New("etcd: empty key")
	}
	if (c.Cert == "") != (c.CertKey == "") {
		return errors.New("etcd TLS: a client certificate and its key go together (--etcd-cert and --etcd-cert-key)")
	}
	if c.DialTimeout < 0 {
		return fmt.Errorf("etcd: negative dial timeout %v", c.DialTimeout)
	}
	return nil
}

func (c Config) timeout() time.Duration {
	if c.DialTimeout > 0 {
		return c.DialTimeout
	}
	return defaultTimeout
}

func (c Config) tlsConfig() (*tls.Config, error) {
	if c.CACert == "" && c.Cert == "" {
		return nil, nil
	}
	info := transport.TLSInfo{CertFile: c.Cert, KeyFile: c.CertKey, TrustedCAFile: c.CACert}
	cfg, err := info.ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("etcd TLS (ca %q, cert %q): %w", c.CACert, c.Cert, err)
	}
	return cfg, nil
}

// newClient returns a client that does not wait for etcd: requests block up
// to their own deadline while etcd is unreachable, and the client reconnects
// on its own.
func (c Config) newClient() (*clientv3.Client, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	tlsCfg, err := c.tlsConfig()
	if err != nil {
		return nil, err
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   c.Endpoints,
		DialTimeout: c.timeout(),
		TLS:         tlsCfg,
		Logger:      zap.NewNop(), // state changes are logged here, with slog
		// gRPC's default reconnect backoff grows to 2 minutes; a web node or
		// sensor should notice etcd is back within seconds.
		DialOptions: []grpc.DialOption{grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           grpcbackoff.Config{BaseDelay: 250 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: backoffMax},
			MinConnectTimeout: c.timeout(),
		})},
	})
	if err != nil {
		return nil, fmt.Errorf("etcd client for %s: %w", strings.Join(c.Endpoints, ","), err)
	}
	return cli, nil
}

// ParseValue decodes a registration: JSON {"url":...,"version":...} or a
// bare http(s) URL. The URL must be absolute http or https with a host.
func ParseValue(b []byte) (Value, error) {
	b = bytes.TrimSpace(b)
	var v Value
	if len(b) > 0 && b[0] == '{' {
		if err := json.Unmarshal(b, &v); err != nil {
			return Value{}, fmt.Errorf("decode registration: %w", err)
		}
	} else {
		v.URL = string(b)
	}
	if err := v.check(); err != nil {
		return Value{}, err
	}
	return v, nil
}

func (v Value) check() error {
	if v.URL == "" {
		return errors.New("registration has no url")
	}
	u, err := url.Parse(v.URL)
	if err != nil {
		return fmt.Errorf("registration url: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("registration url %q: want http(s)://host[:port]", v.URL)
	}
	return nil
}

// Lookup reads the key once. It returns ErrNotFound when the key is absent,
// and another error when etcd cannot be reached within cfg.DialTimeout or
// the value is not a usable registration.
func Lookup(ctx context.Context, cfg Config) (Value, error) {
	cli, err := cfg.newClient()
	if err != nil {
		return Value{}, err
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(ctx, cfg.timeout())
	defer cancel()
	resp, err := cli.Get(ctx, cfg.Key)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			if why := diagnose(context.WithoutCancel(ctx), cfg); why != nil {
				err = fmt.Errorf("%w (%v)", err, why)
			}
		}
		return Value{}, fmt.Errorf("etcd %s: get %s: %w", strings.Join(cfg.Endpoints, ","), cfg.Key, err)
	}
	if len(resp.Kvs) == 0 {
		return Value{}, fmt.Errorf("%s: %w", cfg.Key, ErrNotFound)
	}
	v, err := parseVerified(resp.Kvs[0].Value, cfg.Token)
	if err != nil {
		return Value{}, fmt.Errorf("%s: %w", cfg.Key, err)
	}
	return v, nil
}

// Retry waits between failed etcd requests: from backoffMin, doubling up
// to backoffMax, jittered.
const (
	backoffMin = 250 * time.Millisecond
	backoffMax = 5 * time.Second
)

func newBackoff() backoff.Backoff { return backoff.Backoff{Min: backoffMin, Max: backoffMax} }

// sleep waits d or until ctx is done; it reports whether ctx is still live.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// Explain says in words why Lookup of cfg failed with err.
func Explain(cfg Config, err error) error {
	switch {
	case errors.Is(err, ErrNotFound):
		return fmt.Errorf("no web node registered at %s in etcd %s", cfg.Key, strings.Join(cfg.Endpoints, ","))
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("no answer within %v: %w", cfg.DialTimeout, err)
	}
	return err
}
