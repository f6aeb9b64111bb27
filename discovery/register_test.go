package discovery

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/pastmon/pastmon/discovery/etcdtest"
)

// registration runs Register in the background; stop cancels it and
// returns what Register returned.
type registration struct {
	t      *testing.T
	cancel context.CancelFunc
	done   chan error
}

// startRegister runs Register, or with check > 0 the same with the key read
// back every check instead of every 10 s, to keep tests short.
func startRegister(t *testing.T, cfg Config, v Value, check time.Duration) *registration {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &registration{t: t, cancel: cancel, done: make(chan error, 1)}
	go func() {
		if check > 0 {
			r.done <- register(ctx, cfg, v, check)
			return
		}
		r.done <- Register(ctx, cfg, v)
	}()
	t.Cleanup(func() {
		cancel()
		<-r.done
	})
	return r
}

func (r *registration) stop() error {
	r.t.Helper()
	r.cancel()
	select {
	case err := <-r.done:
		r.done <- err // for the cleanup
		return err
	case <-time.After(30 * time.Second):
		r.t.Fatal("Register did not return within 30s of cancel")
		return nil
	}
}

// stillRunning fails the test if Register has returned.
func (r *registration) stillRunning() {
	r.t.Helper()
	select {
	case err := <-r.done:
		r.t.Fatalf("Register returned early: %v", err)
	default:
	}
}

// getKV reads key directly from etcd; nil when absent.
func getKV(t *testing.T, cli *clientv3.Client, key string) *clientv3.GetResponse {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := cli.Get(ctx, key)
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	return resp
}

// waitKV waits until key holds a value with url, and returns its lease.
func waitKV(t *testing.T, srv *etcdtest.Server, key, url string, within time.Duration) clientv3.LeaseID {
	t.Helper()
	cli := srv.Client()
	deadline := time.Now().Add(within)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		resp, err := cli.Get(ctx, key)
		cancel()
		if err == nil && len(resp.Kvs) == 1 {
			v, perr := ParseValue(resp.Kvs[0].Value)
			if perr == nil && v.URL == url {
				return clientv3.LeaseID(resp.Kvs[0].Lease)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: key %s did not hold url %s within %v (last: %v, %v)", srv, key, url, within, resp, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func leaseTTL(t *testing.T, cli *clientv3.Client, id clientv3.LeaseID) *clientv3.LeaseTimeToLiveResponse {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := cli.TimeToLive(ctx, id)
	if err != nil {
		t.Fatalf("lease %x time to live: %v", id, err)
	}
	return resp
}

func testConfig(srv *etcdtest.Server) Config {
	return Config{Endpoints: srv.Endpoints, Key: DefaultKey, DialTimeout: 2 * time.Second}
}

// TestRegisterLeaseAndRevoke: the key appears under a 60 s lease holding
// the JSON value, and is gone at once (revoked, not expired) after cancel.
func TestRegisterLeaseAndRevoke(t *testing.T) {
	t.Parallel()
	srv := etcdtest.Start(t)
	cfg := testConfig(srv)
	v := Value{URL: "http://192.0.2.7:8080", Version: "test-1"}
	reg := startRegister(t, cfg, v, 0)

	lease := waitKV(t, srv, cfg.Key, v.URL, 20*time.Second)
	got, err := Lookup(context.Background(), cfg)
	if err != nil || got != v {
		t.Fatalf("Lookup = %+v, %v; want %+v", got, err, v)
	}
	if lease == clientv3.NoLease {
		t.Fatal("key has no lease")
	}
	cli := srv.Client()
	ttl := leaseTTL(t, cli, lease)
	if ttl.GrantedTTL != 60 || ttl.TTL < 50 || ttl.TTL > 60 {
		t.Fatalf("lease granted %d s, %d s left; want 60 s granted and 50..60 left", ttl.GrantedTTL, ttl.TTL)
	}

	if err := reg.stop(); err != nil {
		t.Fatalf("Register after cancel = %v, want nil (clean revoke)", err)
	}
	if resp := getKV(t, cli, cfg.Key); len(resp.Kvs) != 0 {
		t.Fatalf("key still present right after Register returned: %s", resp.Kvs[0].Value)
	}
	if ttl := leaseTTL(t, cli, lease); ttl.TTL != -1 {
		t.Fatalf("lease TTL after revoke = %d, want -1 (gone)", ttl.TTL)
	}
}

func TestRegisterRejectsBadInput(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		v    Value
		want string
	}{
		{"no url", Config{Endpoints: []string{"127.0.0.1:1"}, Key: "k"}, Value{}, "no url"},
		{"bad url", Config{Endpoints: []string{"127.0.0.1:1"}, Key: "k"}, Value{URL: "web:8080"}, "url"},
		{"no endpoints", Config{Key: "k"}, Value{URL: "http://w:8080"}, "no endpoints"},
		{"cert without key", Config{Endpoints: []string{"127.0.0.1:1"}, Key: "k", Cert: "c.pem"}, Value{URL: "http://w:8080"}, "go together"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			err := Register(ctx, tt.cfg, tt.v)
			if err == nil || !strings.Contains(err.Error(), tt.want) || ctx.Err() != nil {
				t.Fatalf("Register = %v (ctx %v), want an immediate error containing %q", err, ctx.Err(), tt.want)
			}
		})
	}
}

// TestRegisterSurvivesRestart: etcd goes away and comes back on the same
// ports and data; Register keeps running and keeps the lease alive.
func TestRegisterSurvivesRestart(t *testing.T) {
	t.Parallel()
	srv := etcdtest.Start(t)
	cfg := testConfig(srv)
	v := Value{URL: "http://192.0.2.8:8080"}
	reg := startRegister(t, cfg, v, time.Second)
	waitKV(t, srv, cfg.Key, v.URL, 20*time.Second)

	srv.Stop()
	time.Sleep(3 * time.Second)
	reg.stillRunning()
	srv.Restart()

	waitKV(t, srv, cfg.Key, v.URL, 30*time.Second)
	// The key survived in etcd's data; that Register is connected again
	// shows when it puts back a deleted key and revokes at the end.
	srv.Delete(cfg.Key)
	waitKV(t, srv, cfg.Key, v.URL, 30*time.Second)
	cli := srv.Client()
	reg.stillRunning()
	if err := reg.stop(); err != nil {
		t.Fatalf("Register after cancel = %v", err)
	}
	if resp := getKV(t, cli, cfg.Key); len(resp.Kvs) != 0 {
		t.Fatal("key still present after Register returned")
	}
}

// TestRegisterLeaseLost: the lease disappears (etcd restarted without its
// data, or revoked by hand): Register makes a new one and puts the key back.
func TestRegisterLeaseLost(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		lose func(t *testing.T, srv *etcdtest.Server, lease clientv3.LeaseID)
	}{
		{"etcd restarted empty", func(t *testing.T, srv *etcdtest.Server, _ clientv3.LeaseID) {
			srv.RestartEmpty()
			if resp := getKV(t, srv.Client(), DefaultKey); len(resp.Kvs) != 0 && resp.Kvs[0].CreateRevision > 2 {
				t.Fatalf("etcd kept data across RestartEmpty")
			}
		}},
		{"lease revoked", func(t *testing.T, srv *etcdtest.Server, lease clientv3.LeaseID) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if _, err := srv.Client().Revoke(ctx, lease); err != nil {
				t.Fatalf("revoke: %v", err)
			}
		}},
		{"key deleted", func(t *testing.T, srv *etcdtest.Server, _ clientv3.LeaseID) {
			srv.Delete(DefaultKey)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := etcdtest.Start(t)
			cfg := testConfig(srv)
			v := Value{URL: "http://192.0.2.9:8080"}
			reg := startRegister(t, cfg, v, time.Second)
			lease := waitKV(t, srv, cfg.Key, v.URL, 20*time.Second)

			tt.lose(t, srv, lease)

			again := waitKV(t, srv, cfg.Key, v.URL, 30*time.Second)
			if ttl := leaseTTL(t, srv.Client(), again); ttl.TTL <= 0 {
				t.Fatalf("key is back under lease %x, which is not alive (TTL %d)", again, ttl.TTL)
			}
			reg.stillRunning()
			if err := reg.stop(); err != nil {
				t.Fatalf("Register after cancel = %v", err)
			}
			if resp := getKV(t, srv.Client(), cfg.Key); len(resp.Kvs) != 0 {
				t.Fatal("key still present after Register returned")
			}
		})
	}
}

// TestRegisterBeforeEtcd: Register starts while etcd is down, keeps trying,
// and the key appears once etcd is up.
func TestRegisterBeforeEtcd(t *testing.T) {
	t.Parallel()
	srv := etcdtest.Start(t)
	srv.Stop()
	cfg := testConfig(srv)
	v := Value{URL: "http://192.0.2.10:8080"}
	reg := startRegister(t, cfg, v, time.Second)
	time.Sleep(3 * time.Second)
	reg.stillRunning()

	srv.Restart()
	waitKV(t, srv, cfg.Key, v.URL, 30*time.Second)
	if err := reg.stop(); err != nil {
		t.Fatalf("Register after cancel = %v", err)
	}
}

// TestRegisterCancelWhileDown: cancelling while etcd is unreachable returns
// promptly; the revoke could not be done, so the error is ctx's.
func TestRegisterCancelWhileDown(t *testing.T) {
	t.Parallel()
	srv := etcdtest.Start(t)
	cfg := testConfig(srv)
	v := Value{URL: "http://192.0.2.11:8080"}
	reg := startRegister(t, cfg, v, time.Second)
	waitKV(t, srv, cfg.Key, v.URL, 20*time.Second)
	srv.Stop()

	start := time.Now()
	err := reg.stop()
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Register after cancel with etcd down = %v, want context.Canceled", err)
	}
	if el := time.Since(start); el > 2*cfg.DialTimeout+2*time.Second {
		t.Fatalf("Register took %v to return after cancel", el)
	}
}

// TestRegisterOtherWriter: another writer puts the key under its own lease;
// Register does not fight over it, and takes the key back once it is gone.
func TestRegisterOtherWriter(t *testing.T) {
	t.Parallel()
	srv := etcdtest.Start(t)
	cfg := testConfig(srv)
	v := Value{URL: "http://192.0.2.12:8080"}
	r := startRegister(t, cfg, v, 200*time.Millisecond)
	ours := waitKV(t, srv, cfg.Key, v.URL, 20*time.Second)

	cli := srv.Client()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	other, err := cli.Grant(ctx, 60)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Put(ctx, cfg.Key, reg("http://192.0.2.13:8080"), clientv3.WithLease(other.ID)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second) // five re-reads by Register
	resp := getKV(t, cli, cfg.Key)
	if len(resp.Kvs) != 1 || clientv3.LeaseID(resp.Kvs[0].Lease) != other.ID {
		t.Fatalf("Register took the key back from a live writer: %v", resp.Kvs)
	}
	if _, err := cli.Revoke(ctx, other.ID); err != nil {
		t.Fatal(err)
	}
	if back := waitKV(t, srv, cfg.Key, v.URL, 10*time.Second); back != ours {
		t.Fatalf("key back under lease %x, want Register's lease %x", back, ours)
	}
	if err := r.stop(); err != nil {
		t.Fatalf("Register after cancel = %v", err)
	}
}
