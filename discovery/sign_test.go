package discovery

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/pastmon/pastmon/discovery/etcdtest"
)

const testToken = "the-sensors-token-0123"

func signed(url, token string) string {
	b, _ := json.Marshal(Value{URL: url, Version: "t"}.Signed(token))
	return string(b)
}

// TestValueSignature: a signature verifies with its token only, and only
// for the fields it was made over.
func TestValueSignature(t *testing.T) {
	v := Value{URL: "http://192.0.2.5:8080", Version: "1.2"}.Signed(testToken)
	if !v.Verify(testToken) {
		t.Fatal("a value does not verify with the token that signed it")
	}
	for name, bad := range map[string]Value{
		"url changed":     {URL: "http://evil.example:8080", Version: v.Version, Sig: v.Sig},
		"version changed": {URL: v.URL, Version: "9", Sig: v.Sig},
		"no sig":          {URL: v.URL, Version: v.Version},
		"sig not hex":     {URL: v.URL, Version: v.Version, Sig: "zz" + v.Sig[2:]},
		"sig cut":         {URL: v.URL, Version: v.Version, Sig: v.Sig[:10]},
	} {
		if bad.Verify(testToken) {
			t.Errorf("%s: verifies", name)
		}
	}
	if v.Verify("another-token-0123456") {
		t.Error("verifies with another token")
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	back, err := parseVerified(b, testToken)
	if err != nil || back != v {
		t.Errorf("round trip: %+v, %v; want %+v", back, err, v)
	}
	if _, err := parseVerified([]byte(v.URL), testToken); err == nil {
		t.Error("a bare URL passes verification")
	}
}

// TestWatchIgnoresForgedValues: with the token, the watcher follows only
// registrations signed with it; a forged one (unsigned, a bare URL, signed
// with another token) is not followed and does not end the current one.
func TestWatchIgnoresForgedValues(t *testing.T) {
	t.Parallel()
	srv := etcdtest.Start(t)
	cfg := testConfig(srv)
	cfg.Token = testToken
	w := startWatch(t, cfg, 0)
	w.next("", 10*time.Second)
	srv.Put(cfg.Key, reg("http://192.0.2.66:8080"))
	w.quiet(500 * time.Millisecond)
	srv.Put(cfg.Key, signed("http://192.0.2.1:8080", testToken))
	w.next("http://192.0.2.1:8080", 10*time.Second)
	for _, forged := range []string{
		reg("http://192.0.2.66:8080"),
		"http://192.0.2.66:8080",
		signed("http://192.0.2.66:8080", "not-the-token-0123456"),
	} {
		srv.Put(cfg.Key, forged)
		w.quiet(500 * time.Millisecond)
	}
	srv.Put(cfg.Key, signed("http://192.0.2.2:8080", testToken))
	w.next("http://192.0.2.2:8080", 10*time.Second)
	if _, err := Lookup(context.Background(), cfg); err != nil {
		t.Errorf("Lookup of a signed value: %v", err)
	}
	srv.Put(cfg.Key, reg("http://192.0.2.66:8080"))
	if v, err := Lookup(context.Background(), cfg); err == nil {
		t.Errorf("Lookup of a forged value with the token: %+v, want an error", v)
	}
}

// TestRegisterPutsBackForged: a value the web node did not sign that
// replaces its registration (lease-less, or under another lease) is
// replaced by the signed registration at once; a value signed with the
// token (another web node) is left alone.
func TestRegisterPutsBackForged(t *testing.T) {
	t.Parallel()
	srv := etcdtest.Start(t)
	cfg := testConfig(srv)
	cfg.Token = testToken
	v := Value{URL: "http://192.0.2.12:8080", Version: "t"}
	r := startRegister(t, cfg, v, time.Hour) // only the watch can notice
	ours := waitKV(t, srv, cfg.Key, v.URL, 20*time.Second)
	cli := srv.Client()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	other, err := cli.Grant(ctx, 60)
	if err != nil {
		t.Fatal(err)
	}
	for _, put := range []func() error{
		func() error { _, err := cli.Put(ctx, cfg.Key, reg("http://192.0.2.66:8080")); return err },
		func() error {
			_, err := cli.Put(ctx, cfg.Key, signed("http://192.0.2.66:8080", "not-the-token-0123456"), clientv3.WithLease(other.ID))
			return err
		},
	} {
		if err := put(); err != nil {
			t.Fatal(err)
		}
		if back := waitKV(t, srv, cfg.Key, v.URL, 5*time.Second); back != ours {
			t.Fatalf("registration back under lease %x, want %x", back, ours)
		}
		resp := getKV(t, cli, cfg.Key)
		var got Value
		if err := json.Unmarshal(resp.Kvs[0].Value, &got); err != nil || !got.Verify(testToken) {
			t.Fatalf("registration put back %s does not verify (%v)", resp.Kvs[0].Value, err)
		}
	}
	if _, err := cli.Put(ctx, cfg.Key, signed("http://192.0.2.13:8080", testToken), clientv3.WithLease(other.ID)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	if resp := getKV(t, cli, cfg.Key); clientv3.LeaseID(resp.Kvs[0].Lease) != other.ID {
		t.Fatalf("Register took the key from a web node signing with the token: %s", resp.Kvs[0].Value)
	}
	if err := r.stop(); err != nil {
		t.Fatalf("Register after cancel = %v", err)
	}
}
