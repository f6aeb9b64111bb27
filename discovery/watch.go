package discovery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// resyncEvery is how often Watch re-reads the key besides watching it. The
// watch alone cannot notice an etcd that came back without its data (its
// revisions start again below the one being watched from).
const resyncEvery = 30 * time.Second

// Watch calls fn with the web node's URL at start and whenever it changes,
// until ctx is done. The URL is "" while the key is absent or its value is
// not a usable registration. fn runs on Watch's goroutine; consecutive calls
// never repeat a URL.
//
// If etcd cannot be reached at start, fn is called with "" after the first
// failed attempt, then with the URL once etcd answers. During an outage the
// last URL stands (the web node may well be up): Watch reconnects, re-reads
// the key and resumes from the revision it had, so it never goes back to an
// older value. It returns nil when ctx is done and an error only for a
// configuration that cannot work.
func Watch(ctx context.Context, cfg Config, fn func(url string)) error {
	return watch(ctx, cfg, fn, resyncEvery)
}

func watch(ctx context.Context, cfg Config, fn func(url string), resync time.Duration) error {
	cli, err := cfg.newClient()
	if err != nil {
		return fmt.Errorf("watch %s: %w", cfg.Key, err)
	}
	defer cli.Close()
	w := &watcher{
		cli:    cli,
		cfg:    cfg,
		fn:     fn,
		resync: resync,
		log:    slog.With("key", cfg.Key, "etcd", strings.Join(cfg.Endpoints, ",")),
	}
	w.run(ctx)
	return nil
}

type watcher struct {
	cli    *clientv3.Client
	cfg    Config
	fn     func(string)
	resync time.Duration
	log    *slog.Logger

	called bool   // fn has been called at least once
	url    string // last URL given to fn
	rev    int64  // etcd revision the current url reflects
	bad    string // last unusable value logged, to log it once
}

// errReset ends follow when etcd's revision went backwards.
var errReset = errors.New("etcd revision went backwards")

func (w *watcher) run(ctx context.Context) {
	bo := newBackoff()
	failing := false
	for ctx.Err() == nil {
		if err := w.sync(ctx); err != nil && !errors.Is(err, errReset) {
			if ctx.Err() != nil {
				return
			}
			if !w.called {
				w.set("")
			}
			d := bo.Next()
			if !failing {
				w.log.Warn("etcd unreachable; keeping the last web URL and retrying", "err", err, "why", diagnose(ctx, w.cfg), "url", w.url, "retry_in", d)
				failing = true
			}
			sleep(ctx, d)
			continue
		}
		if failing {
			w.log.Info("etcd reachable again", "url", w.url)
			failing = false
		}
		bo.Reset()
		err := w.follow(ctx)
		if ctx.Err() != nil {
			return
		}
		w.log.Debug("etcd watch ended; reading the key again", "err", err)
		sleep(ctx, bo.Next())
	}
}

// sync reads the key (a linearizable read: never older than what was seen)
// and applies it. A revision lower than the one held means etcd lost or
// restored its data; the read is then the truth and errReset is returned so
// that the caller watches again from the new revision.
func (w *watcher) sync(ctx context.Context) error {
	tctx, cancel := context.WithTimeout(ctx, w.cfg.timeout())
	defer cancel()
	resp, err := w.cli.Get(tctx, w.cfg.Key)
	if err != nil {
		return fmt.Errorf("get %s: %w", w.cfg.Key, err)
	}
	rev := resp.Header.Revision
	reset := rev < w.rev
	if reset {
		w.log.Warn("etcd revision went backwards (data lost or restored); following what it holds now", "was", w.rev, "now", rev)
		w.rev = 0
	}
	url := ""
	if len(resp.Kvs) > 0 {
		url = w.usable(resp.Kvs[0].Value)
	}
	w.apply(url, rev)
	if reset {
		return errReset
	}
	return nil
}

// follow watches the key from the revision held, re-reading it every
// w.resync, until the watch fails or ctx is done.
func (w *watcher) follow(ctx context.Context) error {
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	wch := w.cli.Watch(wctx, w.cfg.Key, clientv3.WithRev(w.rev+1))
	tick := time.NewTicker(w.resync)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
			if err := w.sync(ctx); errors.Is(err, errReset) {
				return err
			} else if err != nil {
				w.log.Debug("periodic etcd read failed", "err", err)
			}
		case wr, ok := <-wch:
			if !ok {
				return errors.New("watch closed")
			}
			if err := wr.Err(); err != nil {
				return fmt.Errorf("watch %s: %w", w.cfg.Key, err)
			}
			for _, ev := range wr.Events {
				url := ""
				if ev.Type == clientv3.EventTypePut {
					url = w.usable(ev.Kv.Value)
				}
				w.apply(url, ev.Kv.ModRevision)
			}
		}
	}
}

// apply hands url to fn if it is newer than what fn has and differs from it.
func (w *watcher) apply(url string, rev int64) {
	if w.called && rev < w.rev {
		return
	}
	w.rev = rev
	w.set(url)
}

func (w *watcher) set(url string) {
	if w.called && url == w.url {
		return
	}
	w.called = true
	w.url = url
	w.log.Info("web node URL", "url", url)
	w.fn(url)
}

// usable returns the URL of a registration, or "" (logged once) when the
// value cannot be used. A value not signed with the token does not count
// at all: the URL followed so far stays (the web node puts its own
// registration back).
func (w *watcher) usable(b []byte) string {
	v, err := parseVerified(b, w.cfg.Token)
	if err != nil {
		if w.bad != string(b) {
			w.log.Warn("ignoring unusable registration", "value", string(b), "err", err)
			w.bad = string(b)
		}
		if errors.Is(err, errUnsigned) {
			return w.url
		}
		return ""
	}
	w.bad = ""
	return v.URL
}
