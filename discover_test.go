package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pastmon/pastmon/discovery"
	"github.com/pastmon/pastmon/discovery/etcdtest"
)

func TestDiscover(t *testing.T) {
	srv := etcdtest.Start(t)
	ep := strings.Join(srv.Endpoints, ",")
	srv.Put(discovery.DefaultKey, `{"url":"http://192.0.2.80:8080","version":"v1"}`)
	srv.Put("/test/bare", "https://192.0.2.81:8443")
	srv.Put("/test/garbage", "not a url")
	tlsSrv := etcdtest.StartTLS(t)
	tlsSrv.Put("/test/tls", `{"url":"https://192.0.2.82:8443"}`)
	tlsEP := tlsSrv.Endpoints[0]

	tests := []struct {
		name       string
		args       []string
		env        map[string]string
		wantCode   int
		wantStdout string // exact
		wantStderr string // substring
		maxTime    time.Duration
	}{
		{name: "default key", args: []string{"--etcd-endpoints", ep}, wantStdout: "http://192.0.2.80:8080\n"},
		{name: "one endpoint down", args: []string{"--etcd-endpoints", "127.0.0.1:1," + ep}, wantStdout: "http://192.0.2.80:8080\n"},
		{name: "bare url value", args: []string{"--etcd-endpoints", ep, "--etcd-key", "/test/bare"}, wantStdout: "https://192.0.2.81:8443\n"},
		{name: "endpoints from env", args: nil, env: map[string]string{"PASTMON_ETCD_ENDPOINTS": ep, "PASTMON_ETCD_KEY": "/test/bare"}, wantStdout: "https://192.0.2.81:8443\n"},
		{name: "absent", args: []string{"--etcd-endpoints", ep, "--etcd-key", "/test/none"}, wantCode: 1, wantStderr: "no web node registered at /test/none"},
		{name: "unusable value", args: []string{"--etcd-endpoints", ep, "--etcd-key", "/test/garbage"}, wantCode: 1, wantStderr: "want http(s)://host"},
		{name: "unreachable", args: []string{"--etcd-endpoints", "127.0.0.1:1", "--timeout", "1s"}, wantCode: 1, wantStderr: "no answer within 1s: etcd 127.0.0.1:1: get /services/website/pastmon-web@1: context deadline exceeded (127.0.0.1:1: dial tcp 127.0.0.1:1: connect: connection refused)", maxTime: 5 * time.Second},
		{name: "tls", args: []string{"--etcd-endpoints", tlsEP, "--etcd-key", "/test/tls", "--etcd-cacert", tlsSrv.TLS.CA, "--etcd-cert", tlsSrv.TLS.ClientCert, "--etcd-cert-key", tlsSrv.TLS.ClientKey}, wantStdout: "https://192.0.2.82:8443\n"},
		{name: "tls without client cert", args: []string{"--etcd-endpoints", tlsEP, "--etcd-key", "/test/tls", "--etcd-cacert", tlsSrv.TLS.CA, "--timeout", "1s"}, wantCode: 1, wantStderr: "certificate required", maxTime: 5 * time.Second},
		{name: "missing CA file", args: []string{"--etcd-endpoints", tlsEP, "--etcd-cacert", "/nonexistent/ca.pem"}, wantCode: 1, wantStderr: "etcd TLS"},
		{name: "check", args: []string{"--etcd-endpoints", "127.0.0.1:1", "--check"}, wantStdout: "discover: configuration ok\n"},
		{name: "no endpoints", args: nil, wantCode: 2, wantStderr: "no endpoints"},
		{name: "no endpoints with check", args: []string{"--check"}, wantCode: 2, wantStderr: "no endpoints"},
		{name: "cert without key", args: []string{"--etcd-endpoints", ep, "--etcd-cert", "c.pem"}, wantCode: 2, wantStderr: "go together"},
		{name: "bad timeout", args: []string{"--etcd-endpoints", ep, "--timeout", "0s"}, wantCode: 2, wantStderr: "--timeout"},
		{name: "stray argument", args: []string{"--etcd-endpoints", ep, "extra"}, wantCode: 2, wantStderr: "unexpected arguments"},
		{name: "unknown flag", args: []string{"--etcd", ep}, wantCode: 2, wantStderr: "flag provided but not defined"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			var stdout, stderr discoverBuffer
			start := time.Now()
			code := run(context.Background(), append([]string{"discover"}, tt.args...), &stdout, &stderr)
			if code != tt.wantCode {
				t.Fatalf("exit %d, want %d; stdout %q stderr %q", code, tt.wantCode, stdout.String(), stderr.String())
			}
			if tt.wantCode == 0 && stdout.String() != tt.wantStdout {
				t.Fatalf("stdout %q, want %q", stdout.String(), tt.wantStdout)
			}
			if tt.wantCode != 0 && stdout.String() != "" {
				t.Fatalf("stdout %q on failure, want nothing", stdout.String())
			}
			if !strings.Contains(stderr.String(), tt.wantStderr) {
				t.Fatalf("stderr %q, want it to contain %q", stderr.String(), tt.wantStderr)
			}
			if el := time.Since(start); tt.maxTime > 0 && el > tt.maxTime {
				t.Fatalf("took %v, want at most %v", el, tt.maxTime)
			}
		})
	}
}

// TestDiscoverFindsWebNode: a real "pastmon web" registers in etcd, discover
// prints its URL, and once the web node has stopped discover exits 1 at
// once (the lease was revoked, not left to expire).
func TestDiscoverFindsWebNode(t *testing.T) {
	srv := etcdtest.Start(t)
	ep := strings.Join(srv.Endpoints, ",")
	const url = "http://192.0.2.90:8080"
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 1)
	// run points slog's default at its stderr, so the web node's logs may
	// land in any of these buffers: they must take concurrent writes.
	var webOut, webErr discoverBuffer
	go func() {
		done <- run(ctx, []string{"web", "--listen", "127.0.0.1:0", "--db", filepath.Join(t.TempDir(), "pastmon.db"),
			"--no-sensor", "--etcd-endpoints", ep, "--etcd-key", "/test/web", "--advertise-url", url}, &webOut, &webErr)
	}()
	discover := func() (int, string, string) {
		var stdout, stderr discoverBuffer
		code := run(context.Background(), []string{"discover", "--etcd-endpoints", ep, "--etcd-key", "/test/web", "--timeout", "2s"}, &stdout, &stderr)
		return code, stdout.String(), stderr.String()
	}

	deadline := time.Now().Add(30 * time.Second)
	for {
		code, out, errOut := discover()
		if code == 0 {
			if out != url+"\n" {
				t.Fatalf("discover printed %q, want %q", out, url+"\n")
			}
			break
		}
		select {
		case c := <-done:
			t.Fatalf("pastmon web exited %d before registering:\n%s", c, webErr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("discover still exits %d after 30s: %s", code, errOut)
		}
		time.Sleep(200 * time.Millisecond)
	}

	cancel()
	select {
	case c := <-done:
		if c != 0 {
			t.Fatalf("pastmon web exited %d on shutdown:\n%s", c, webErr.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatal("pastmon web did not stop within 60s")
	}
	if code, out, errOut := discover(); code != 1 || !strings.Contains(errOut, "no web node registered") {
		t.Fatalf("discover after the web node stopped: exit %d, %q %q; want exit 1, not registered", code, out, errOut)
	}
}

// discoverBuffer is a bytes.Buffer safe for concurrent writers.
type discoverBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *discoverBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *discoverBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
