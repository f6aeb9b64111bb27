// Package etcdtest runs a real single-member etcd server inside the test
// process (go.etcd.io/etcd/server/v3/embed) on free 127.0.0.1 ports, with
// its data in t.TempDir(), optionally behind TLS with a CA made for the
// test. Servers can be stopped, restarted on the same ports with or without
// their data, and are closed when the test ends.
//
// It is for tests only: fsync is off, and nothing here is hardened.
package etcdtest

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

// Server is one embedded etcd member.
type Server struct {
	// Endpoints are the client URLs (https:// under TLS).
	Endpoints []string
	// Dir is the data directory, kept across Restart.
	Dir string
	// TLS holds the files made by StartTLS; zero for plain servers.
	TLS Files

	t         testing.TB
	name      string
	cluster   string // initial cluster of a StartCluster member; "" alone
	clientURL url.URL
	peerURL   url.URL
	e         *embed.Etcd
	started   int // successful starts
}

// Start starts a plain (no TLS) server and waits until it serves.
func Start(t testing.TB) *Server {
	t.Helper()
	s := newServer(t, "http")
	s.start()
	return s
}

// StartTLS starts a server that serves clients over TLS and requires a
// client certificate signed by the test CA in s.TLS.
func StartTLS(t testing.TB) *Server {
	t.Helper()
	s := newServer(t, "https")
	s.TLS = NewFiles(t, t.TempDir())
	s.start()
	return s
}

// StartCluster starts n plain members forming one cluster and waits until
// they serve. Stop and Restart work on each; RestartEmpty does not (a
// member without data cannot rejoin as it was).
func StartCluster(t testing.TB, n int) []*Server {
	t.Helper()
	members := make([]*Server, n)
	var peers []string
	for i := range members {
		members[i] = newServer(t, "http")
		members[i].name = fmt.Sprintf("m%d", i)
		peers = append(peers, members[i].name+"="+members[i].peerURL.String())
	}
	errs := make(chan error, n)
	for _, m := range members {
		m.cluster = strings.Join(peers, ",")
		go func() { errs <- m.tryStart() }()
	}
	for range members {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	return members
}

// Endpoints returns the client URLs of all the members.
func Endpoints(members []*Server) []string {
	var eps []string
	for _, m := range members {
		eps = append(eps, m.Endpoints...)
	}
	return eps
}

func newServer(t testing.TB, scheme string) *Server {
	t.Helper()
	s := &Server{
		t:         t,
		name:      "etcdtest",
		Dir:       filepath.Join(t.TempDir(), "etcd"),
		clientURL: url.URL{Scheme: scheme, Host: freeAddr(t)},
		peerURL:   url.URL{Scheme: "http", Host: freeAddr(t)},
	}
	s.Endpoints = []string{s.clientURL.String()}
	t.Cleanup(s.Stop)
	return s
}

func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("etcdtest: free port: %v", err)
	}
	defer l.Close()
	return l.Addr().String()
}

func (s *Server) config() *embed.Config {
	cfg := embed.NewConfig()
	cfg.Name = s.name
	cfg.Dir = s.Dir
	cfg.ListenClientUrls = []url.URL{s.clientURL}
	cfg.AdvertiseClientUrls = []url.URL{s.clientURL}
	cfg.ListenPeerUrls = []url.URL{s.peerURL}
	cfg.AdvertisePeerUrls = []url.URL{s.peerURL}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	if s.cluster != "" {
		cfg.InitialCluster = s.cluster
	}
	cfg.UnsafeNoFsync = true
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
	if s.TLS.CA != "" {
		cfg.ClientTLSInfo = transport.TLSInfo{
			CertFile:       s.TLS.ServerCert,
			KeyFile:        s.TLS.ServerKey,
			TrustedCAFile:  s.TLS.CA,
			ClientCertAuth: true,
		}
	}
	return cfg
}

// start starts the member or fails the test.
func (s *Server) start() {
	s.t.Helper()
	if err := s.tryStart(); err != nil {
		s.t.Fatal(err)
	}
}

// tryStart starts the member, retrying briefly if a port is still held (a
// restart right after Stop, or another test's socket). A first start of a
// lone member takes other ports instead; a restart must keep its own.
func (s *Server) tryStart() error {
	fresh := s.started == 0 && s.cluster == ""
	var err error
	for attempt := 0; attempt < 20; attempt++ {
		if attempt > 0 && fresh {
			s.clientURL.Host, s.peerURL.Host = freeAddr(s.t), freeAddr(s.t)
			s.Endpoints = []string{s.clientURL.String()}
		}
		var e *embed.Etcd
		e, err = embed.StartEtcd(s.config())
		if err == nil {
			select {
			case <-e.Server.ReadyNotify():
				s.e = e
				s.started++
				return nil
			case <-time.After(60 * time.Second):
				e.Close()
				return fmt.Errorf("etcdtest: server in %s not ready after 60s", s.Dir)
			}
		}
		time.Sleep(250 * time.Millisecond)
	}
	return fmt.Errorf("etcdtest: start server in %s: %w", s.Dir, err)
}

// Stop stops the member, keeping its data. Stopping twice is fine.
func (s *Server) Stop() {
	if s.e == nil {
		return
	}
	s.e.Close()
	<-s.e.Server.StopNotify()
	s.e = nil
}

// Restart starts a stopped member again on the same ports and data.
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	s.start()
}

// RestartEmpty restarts the member on the same ports without its data, as
// after a disk loss: every key, lease and revision is gone.
func (s *Server) RestartEmpty() {
	s.t.Helper()
	s.Stop()
	if err := os.RemoveAll(s.Dir); err != nil {
		s.t.Fatalf("etcdtest: wipe %s: %v", s.Dir, err)
	}
	s.start()
}

// Client returns a client for the member (with the test CA and client
// certificate under TLS), closed when the test ends.
func (s *Server) Client() *clientv3.Client {
	s.t.Helper()
	cfg := clientv3.Config{Endpoints: s.Endpoints, DialTimeout: 5 * time.Second, Logger: zap.NewNop()}
	if s.TLS.CA != "" {
		tlsCfg, err := transport.TLSInfo{CertFile: s.TLS.ClientCert, KeyFile: s.TLS.ClientKey, TrustedCAFile: s.TLS.CA}.ClientConfig()
		if err != nil {
			s.t.Fatalf("etcdtest: client TLS: %v", err)
		}
		cfg.TLS = tlsCfg
	}
	cli, err := clientv3.New(cfg)
	if err != nil {
		s.t.Fatalf("etcdtest: client: %v", err)
	}
	s.t.Cleanup(func() { cli.Close() })
	return cli
}

// Put writes key=value (no lease) and fails the test on error.
func (s *Server) Put(key, value string) int64 {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := s.Client().Put(ctx, key, value)
	if err != nil {
		s.t.Fatalf("etcdtest: put %s: %v", key, err)
	}
	return resp.Header.Revision
}

// Delete deletes key and fails the test on error.
func (s *Server) Delete(key string) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := s.Client().Delete(ctx, key); err != nil {
		s.t.Fatalf("etcdtest: delete %s: %v", key, err)
	}
}

// String names the server in test messages.
func (s *Server) String() string { return fmt.Sprintf("etcd %s (%s)", s.clientURL.String(), s.Dir) }
