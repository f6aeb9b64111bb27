package discovery

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/pastmon/pastmon/discovery/etcdtest"
)

// watching runs watch in the background and records every URL fn gets.
type watching struct {
	t    *testing.T
	urls chan string
	done chan error
}

func startWatch(t *testing.T, cfg Config, resync time.Duration) *watching {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	w := &watching{t: t, urls: make(chan string, 100), done: make(chan error, 1)}
	fn := func(url string) { w.urls <- url }
	go func() {
		if resync > 0 {
			w.done <- watch(ctx, cfg, fn, resync)
			return
		}
		w.done <- Watch(ctx, cfg, fn)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-w.done:
			if err != nil {
				t.Errorf("Watch returned %v after cancel, want nil", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("Watch did not return within 30s of cancel")
		}
	})
	return w
}

// next expects the next call of fn to carry want.
func (w *watching) next(want string, within time.Duration) {
	w.t.Helper()
	select {
	case got := <-w.urls:
		if got != want {
			w.t.Fatalf("fn(%q), want fn(%q)", got, want)
		}
	case <-time.After(within):
		w.t.Fatalf("no fn(%q) within %v", want, within)
	}
}

// quiet expects no call of fn for d.
func (w *watching) quiet(d time.Duration) {
	w.t.Helper()
	select {
	case got := <-w.urls:
		w.t.Fatalf("unexpected fn(%q)", got)
	case <-time.After(d):
	}
}

func reg(url string) string { return fmt.Sprintf(`{"url":%q,"version":"t"}`, url) }

// TestWatchFollowsKey: absent → present → same again (no call) → changed →
// unusable → usable → absent, each seen once and in order.
func TestWatchFollowsKey(t *testing.T) {
	t.Parallel()
	srv := etcdtest.Start(t)
	cfg := testConfig(srv)
	w := startWatch(t, cfg, 0)
	w.next("", 10*time.Second)

	steps := []struct {
		name string
		do   func()
		want string // "-" for no call
	}{
		{"register", func() { srv.Put(cfg.Key, reg("http://192.0.2.1:8080")) }, "http://192.0.2.1:8080"},
		{"same value again", func() { srv.Put(cfg.Key, reg("http://192.0.2.1:8080")) }, "-"},
		{"move", func() { srv.Put(cfg.Key, reg("http://192.0.2.2:8080")) }, "http://192.0.2.2:8080"},
		{"unusable", func() { srv.Put(cfg.Key, "garbage") }, ""},
		{"bare url", func() { srv.Put(cfg.Key, "https://192.0.2.3") }, "https://192.0.2.3"},
		{"other key", func() { srv.Put(cfg.Key+"x", reg("http://192.0.2.4:8080")) }, "-"},
		{"delete", func() { srv.Delete(cfg.Key) }, ""},
	}
	for _, s := range steps {
		s.do()
		if s.want == "-" {
			w.quiet(500 * time.Millisecond)
			continue
		}
		w.next(s.want, 10*time.Second)
	}
}

// TestWatchFollowsRegister: the watcher sees the web node come, go at
// once when it shuts down (revoke), and come back elsewhere.
func TestWatchFollowsRegister(t *testing.T) {
	t.Parallel()
	srv := etcdtest.Start(t)
	cfg := testConfig(srv)
	w := startWatch(t, cfg, 0)
	w.next("", 10*time.Second)

	a := startRegister(t, cfg, Value{URL: "http://192.0.2.20:8080"}, 0)
	w.next("http://192.0.2.20:8080", 10*time.Second)
	if err := a.stop(); err != nil {
		t.Fatalf("Register: %v", err)
	}
	w.next("", 2*time.Second)
	startRegister(t, cfg, Value{URL: "http://192.0.2.21:8080"}, 0)
	w.next("http://192.0.2.21:8080", 10*time.Second)
}

// TestWatchSurvivesOutage: while etcd is down the last URL stands (no call),
// and changes made after it is back are seen.
func TestWatchSurvivesOutage(t *testing.T) {
	t.Parallel()
	srv := etcdtest.Start(t)
	cfg := testConfig(srv)
	srv.Put(cfg.Key, reg("http://192.0.2.30:8080"))
	w := startWatch(t, cfg, 0)
	w.next("http://192.0.2.30:8080", 10*time.Second)

	srv.Stop()
	w.quiet(3 * time.Second)
	srv.Restart()
	w.quiet(time.Second)
	srv.Put(cfg.Key, reg("http://192.0.2.31:8080"))
	w.next("http://192.0.2.31:8080", 20*time.Second)
}

// TestWatchEtcdDownAtStart: fn("") comes after the first failed attempt,
// the URL once etcd is up.
func TestWatchEtcdDownAtStart(t *testing.T) {
	t.Parallel()
	srv := etcdtest.Start(t)
	cfg := testConfig(srv)
	srv.Put(cfg.Key, reg("http://192.0.2.40:8080"))
	srv.Stop()

	w := startWatch(t, cfg, 0)
	w.next("", cfg.DialTimeout+5*time.Second)
	srv.Restart()
	w.next("http://192.0.2.40:8080", 20*time.Second)
}

// TestWatchEtcdLostData: etcd comes back empty, so its revisions start again
// below the one being watched; the periodic re-read still finds the key
// registered anew, and the new value is not refused as "older".
func TestWatchEtcdLostData(t *testing.T) {
	t.Parallel()
	srv := etcdtest.Start(t)
	cfg := testConfig(srv)
	for i := 0; i < 50; i++ {
		srv.Put("/test/filler", fmt.Sprint(i))
	}
	srv.Put(cfg.Key, reg("http://192.0.2.50:8080"))
	w := startWatch(t, cfg, 500*time.Millisecond)
	w.next("http://192.0.2.50:8080", 10*time.Second)

	srv.RestartEmpty()
	if rev := srv.Put(cfg.Key, reg("http://192.0.2.51:8080")); rev > 10 {
		t.Fatalf("revision after an empty restart is %d; the test needs it low", rev)
	}
	// The periodic read may see the key absent first, just after the restart.
	select {
	case got := <-w.urls:
		if got == "" {
			got = <-w.urls
		}
		if got != "http://192.0.2.51:8080" {
			t.Fatalf("fn(%q) after etcd lost its data, want the new registration", got)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("new registration after etcd lost its data not seen within 20s")
	}
}
