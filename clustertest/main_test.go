package clustertest

import (
	"fmt"
	"log"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
)

// helperEtcd, when set in the environment, turns the test binary into an
// etcd server: "DATADIR,IP" (run inside a namespace with ip netns exec).
const helperEtcd = "PASTMON_CLUSTERTEST_ETCD"

// binDir is the directory of the pastmon binary the tests built, if any.
var binDir string

func TestMain(m *testing.M) {
	if v := os.Getenv(helperEtcd); v != "" {
		if err := runEtcd(v); err != nil {
			log.Fatal(err)
		}
		os.Exit(0)
	}
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// runEtcd serves a one-member etcd on IP:2379 until SIGTERM.
func runEtcd(spec string) error {
	i := strings.LastIndexByte(spec, ',')
	if i < 0 {
		return fmt.Errorf("etcd helper spec %q: want DATADIR,IP", spec)
	}
	dir, ipAddr := spec[:i], spec[i+1:]
	cfg := embed.NewConfig()
	cfg.Name = "clustertest"
	cfg.Dir = dir
	cfg.LogLevel = "error"
	cfg.UnsafeNoFsync = true
	client := url.URL{Scheme: "http", Host: ipAddr + ":2379"}
	peer := url.URL{Scheme: "http", Host: "127.0.0.1:2380"}
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{client}, []url.URL{client}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{peer}, []url.URL{peer}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return fmt.Errorf("start etcd: %w", err)
	}
	defer e.Close()
	select {
	case <-e.Server.ReadyNotify():
	case <-time.After(60 * time.Second):
		return fmt.Errorf("etcd not ready after 60s")
	}
	fmt.Println("etcd ready")
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	select {
	case <-sig:
	case err := <-e.Err():
		return fmt.Errorf("etcd: %w", err)
	}
	return nil
}
