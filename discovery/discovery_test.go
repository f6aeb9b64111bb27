package discovery

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/pastmon/pastmon/discovery/etcdtest"
)

func TestParseValue(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    Value
		wantErr string
	}{
		{"json", `{"url":"http://10.0.0.5:8080","version":"1.2.3"}`, Value{URL: "http://10.0.0.5:8080", Version: "1.2.3"}, ""},
		{"json https no version", ` {"url":"https://mon.example.org"} `, Value{URL: "https://mon.example.org"}, ""},
		{"bare url", "http://web:8080\n", Value{URL: "http://web:8080"}, ""},
		{"empty", "", Value{}, "no url"},
		{"json without url", `{"version":"1"}`, Value{}, "no url"},
		{"broken json", `{"url":`, Value{}, "decode"},
		{"host:port only", "10.0.0.5:8080", Value{}, "registration url"},
		{"hostname only", "web", Value{}, "want http(s)"},
		{"ftp", `{"url":"ftp://h/"}`, Value{}, "want http(s)"},
		{"no host", `{"url":"http:///x"}`, Value{}, "want http(s)"},
		{"bad url", "http://[::1", Value{}, "registration url"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseValue([]byte(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseValue(%q) = %+v, %v; want error containing %q", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseValue(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	ok := Config{Endpoints: []string{"127.0.0.1:2379"}, Key: DefaultKey}
	tests := []struct {
		name    string
		edit    func(*Config)
		wantErr string
	}{
		{"ok", func(*Config) {}, ""},
		{"tls", func(c *Config) { c.CACert, c.Cert, c.CertKey = "ca", "c", "k" }, ""},
		{"ca only", func(c *Config) { c.CACert = "ca" }, ""},
		{"no endpoints", func(c *Config) { c.Endpoints = nil }, "no endpoints"},
		{"blank endpoint", func(c *Config) { c.Endpoints = []string{" "} }, "bad endpoint"},
		{"unsplit endpoints", func(c *Config) { c.Endpoints = []string{"a:1,b:2"} }, "bad endpoint"},
		{"no key", func(c *Config) { c.Key = "" }, "empty key"},
		{"cert without key", func(c *Config) { c.Cert = "c" }, "go together"},
		{"key without cert", func(c *Config) { c.CertKey = "k" }, "go together"},
		{"negative timeout", func(c *Config) { c.DialTimeout = -time.Second }, "negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ok
			tt.edit(&c)
			err := c.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Validate() = %v, want error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestSplitEndpoints(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"h:2379", []string{"h:2379"}},
		{" a:1, b:2 ,,https://c:3 ", []string{"a:1", "b:2", "https://c:3"}},
	}
	for _, tt := range tests {
		got := SplitEndpoints(tt.in)
		if strings.Join(got, "|") != strings.Join(tt.want, "|") || len(got) != len(tt.want) {
			t.Errorf("SplitEndpoints(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestLookupErrors checks that Lookup fails fast and clearly when etcd
// cannot be reached or the configuration is wrong, and never reports such a
// failure as ErrNotFound.
func TestLookupErrors(t *testing.T) {
	closed := "127.0.0.1:1" // nothing listens on port 1 in a test sandbox
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{"unreachable", Config{Endpoints: []string{closed}, Key: DefaultKey, DialTimeout: 500 * time.Millisecond}, "connection refused"},
		{"no endpoints", Config{Key: DefaultKey}, "no endpoints"},
		{"missing CA file", Config{Endpoints: []string{closed}, Key: DefaultKey, CACert: "/nonexistent/ca.pem"}, "etcd TLS"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			_, err := Lookup(context.Background(), tt.cfg)
			if err == nil || errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Lookup = %v, want an error containing %q that is not ErrNotFound", err, tt.wantErr)
			}
			if el := time.Since(start); el > 5*time.Second {
				t.Fatalf("Lookup took %v, want it bounded by the dial timeout", el)
			}
		})
	}
}

func TestLookup(t *testing.T) {
	t.Parallel()
	srv := etcdtest.Start(t)
	cfg := Config{Endpoints: srv.Endpoints, Key: "/test/web"}
	ctx := context.Background()

	if _, err := Lookup(ctx, cfg); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Lookup of an absent key = %v, want ErrNotFound", err)
	}
	srv.Put(cfg.Key, `{"url":"http://192.0.2.1:8080","version":"v9"}`)
	v, err := Lookup(ctx, cfg)
	if want := (Value{URL: "http://192.0.2.1:8080", Version: "v9"}); err != nil || v != want {
		t.Fatalf("Lookup = %+v, %v; want %+v", v, err, want)
	}
	srv.Put(cfg.Key, "not a url")
	if _, err := Lookup(ctx, cfg); err == nil || errors.Is(err, ErrNotFound) {
		t.Fatalf("Lookup of an unusable value = %v, want a decode error", err)
	}
}
