package discovery

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pastmon/pastmon/discovery/etcdtest"
)

// TestTLS: against an etcd that requires client certificates from its own
// CA, the right CA + certificate work (with https:// or bare host:port
// endpoints); anything less fails with an error that is not ErrNotFound.
func TestTLS(t *testing.T) {
	t.Parallel()
	srv := etcdtest.StartTLS(t)
	u, err := url.Parse(srv.Endpoints[0])
	if err != nil {
		t.Fatal(err)
	}
	good := Config{
		Endpoints:   srv.Endpoints,
		Key:         DefaultKey,
		CACert:      srv.TLS.CA,
		Cert:        srv.TLS.ClientCert,
		CertKey:     srv.TLS.ClientKey,
		DialTimeout: 2 * time.Second,
	}
	v := Value{URL: "https://192.0.2.60:8443", Version: "tls"}
	w := startWatch(t, good, 0)
	w.next("", 10*time.Second)
	r := startRegister(t, good, v, 0)
	w.next(v.URL, 20*time.Second)

	other := etcdtest.NewFiles(t, t.TempDir())
	tests := []struct {
		name string
		edit func(*Config)
		ok   bool
		why  string // in the error when !ok
	}{
		{"ca and client cert", func(*Config) {}, true, ""},
		{"host:port endpoint", func(c *Config) { c.Endpoints = []string{u.Host} }, true, ""},
		{"no client cert", func(c *Config) { c.Cert, c.CertKey = "", "" }, false, "certificate required"},
		{"no TLS config for https", func(c *Config) { c.CACert, c.Cert, c.CertKey = "", "", "" }, false, "unknown authority"},
		{"other CA", func(c *Config) { c.CACert = other.CA }, false, "unknown authority"},
		{"client cert of another CA", func(c *Config) { c.Cert, c.CertKey = other.ClientCert, other.ClientKey }, false, "unknown certificate authority"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := good
			tt.edit(&cfg)
			got, err := Lookup(context.Background(), cfg)
			if tt.ok {
				if err != nil || got != v {
					t.Fatalf("Lookup = %+v, %v; want %+v", got, err, v)
				}
				return
			}
			if err == nil || errors.Is(err, ErrNotFound) {
				t.Fatalf("Lookup = %+v, %v; want a connection error", got, err)
			}
			if !strings.Contains(err.Error(), tt.why) {
				t.Fatalf("Lookup error %q does not say %q", err, tt.why)
			}
		})
	}

	if err := r.stop(); err != nil {
		t.Fatalf("Register: %v", err)
	}
	w.next("", 5*time.Second)
}
