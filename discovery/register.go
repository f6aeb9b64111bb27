package discovery

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Register keeps cfg.Key → v registered under a 60 s lease until ctx is
// done, then revokes the lease so that sensors see the key go at once.
//
// It never returns early because etcd is down: it retries with backoff,
// re-creates the lease when it is lost (etcd restarted without its data,
// lease expired during a long outage, lease revoked by hand) and puts the
// key back when someone deletes it. With cfg.Token it signs v, and puts
// it back at once when a value that does not verify replaces it; another
// writer's signed value (another web node) it leaves alone, and takes over
// again only once that writer's key is gone. It returns nil after a clean revoke (or when it
// never got registered), ctx.Err() if the revoke failed, and an error at
// once for a configuration or value that cannot work.
func Register(ctx context.Context, cfg Config, v Value) error {
	return register(ctx, cfg, v, checkEvery)
}

func register(ctx context.Context, cfg Config, v Value, check time.Duration) error {
	if err := v.check(); err != nil {
		return fmt.Errorf("register %s: %w", cfg.Key, err)
	}
	if cfg.Token != "" {
		v = v.Signed(cfg.Token)
	}
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("register %s: %w", cfg.Key, err)
	}
	cli, err := cfg.newClient()
	if err != nil {
		return fmt.Errorf("register %s: %w", cfg.Key, err)
	}
	defer cli.Close()
	r := &registrar{
		cli:   cli,
		cfg:   cfg,
		data:  string(data),
		log:   slog.With("key", cfg.Key, "url", v.URL, "etcd", strings.Join(cfg.Endpoints, ",")),
		check: check,
	}
	return r.run(ctx)
}

// checkEvery is how often Register reads its key back besides watching
// it: a watch cannot see an etcd that came back without its data, and the
// keep-alive only notices a lost lease every LeaseTTL/3.
const checkEvery = 10 * time.Second

type registrar struct {
	cli   *clientv3.Client
	cfg   Config
	data  string
	log   *slog.Logger
	check time.Duration
}

// errLeaseLost ends hold when the lease's keep-alive stops.
var errLeaseLost = errors.New("lease lost")

func (r *registrar) run(ctx context.Context) error {
	bo := newBackoff()
	failing := false
	for {
		s, rev, err := r.register(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			d := bo.Next()
			if !failing {
				r.log.Warn("etcd registration failed; retrying", "err", err, "why", diagnose(ctx, r.cfg), "retry_in", d)
				failing = true
			} else {
				r.log.Debug("etcd registration failed; retrying", "err", err, "retry_in", d)
			}
			if !sleep(ctx, d) {
				return nil
			}
			continue
		}
		bo.Reset()
		failing = false
		r.log.Info("registered in etcd", "lease", fmt.Sprintf("%x", s.Lease()), "ttl_s", LeaseTTL)
		err = r.hold(ctx, s, rev)
		if ctx.Err() != nil {
			return err
		}
		r.log.Warn("etcd registration lost; registering again", "err", err)
	}
}

// lease is a granted lease kept alive until Orphan, or until etcd lets
// it go (Done).
type lease struct {
	id   clientv3.LeaseID
	stop context.CancelFunc
	done chan struct{}
}

func (l *lease) Lease() clientv3.LeaseID { return l.id }

// Done is closed when the keep-alive ended: lease lost, or Orphan.
func (l *lease) Done() <-chan struct{} { return l.done }

// Orphan stops keeping the lease alive; it expires after its TTL unless
// revoked.
func (l *lease) Orphan() { l.stop() }

// grant grants a lease and keeps it alive (Grant + KeepAlive: the client's
// own idiom, with no session on top).
func (r *registrar) grant(ctx context.Context) (*lease, error) {
	tctx, cancel := context.WithTimeout(ctx, r.cfg.timeout())
	defer cancel()
	g, err := r.cli.Grant(tctx, LeaseTTL)
	if err != nil {
		return nil, fmt.Errorf("grant lease: %w", err)
	}
	kctx, stop := context.WithCancel(ctx)
	alive, err := r.cli.KeepAlive(kctx, g.ID)
	if err != nil {
		stop()
		r.revokeQuietly(ctx, g.ID)
		return nil, fmt.Errorf("keep lease alive: %w", err)
	}
	l := &lease{id: g.ID, stop: stop, done: make(chan struct{})}
	go func() {
		defer close(l.done)
		for range alive { // the channel closes when the lease is lost or kctx ends
		}
	}()
	return l, nil
}

// register grants a lease, keeps it alive and puts the key under it. It
// returns the lease and the revision of the put.
func (r *registrar) register(ctx context.Context) (*lease, int64, error) {
	s, err := r.grant(ctx)
	if err != nil {
		return nil, 0, err
	}
	rev, err := r.put(ctx, s.Lease())
	if err != nil {
		s.Orphan()
		r.revokeQuietly(ctx, s.Lease())
		return nil, 0, err
	}
	return s, rev, nil
}

func (r *registrar) put(ctx context.Context, lease clientv3.LeaseID) (int64, error) {
	tctx, cancel := context.WithTimeout(ctx, r.cfg.timeout())
	defer cancel()
	resp, err := r.cli.Put(tctx, r.cfg.Key, r.data, clientv3.WithLease(lease))
	if err != nil {
		return 0, fmt.Errorf("put %s: %w", r.cfg.Key, err)
	}
	return resp.Header.Revision, nil
}

// hold waits until ctx is done (then revokes) or the lease is lost, and
// puts the key back if it is deleted meanwhile.
func (r *registrar) hold(ctx context.Context, s *lease, rev int64) error {
	kw := r.watchFrom(ctx, rev+1)
	defer func() { kw.stop() }() // kw changes when the watch is made anew
	tick := time.NewTicker(r.check)
	defer tick.Stop()
	for {
		var err error
		select {
		case <-ctx.Done():
		case <-s.Done(): // also when ctx is done: checked below
			err = errLeaseLost
		case <-tick.C:
			kw, err = r.recheck(ctx, s.Lease(), kw)
		case wr, ok := <-kw.ch:
			kw, err = r.onWatch(ctx, s.Lease(), kw, wr, ok)
		}
		if ctx.Err() != nil {
			return r.revoke(ctx, s)
		}
		if err != nil {
			s.Orphan()
			return err
		}
	}
}

// recheck reads the key back and puts it again if it is gone. A failed
// read is no reason to give the lease up: the keep-alive decides that.
func (r *registrar) recheck(ctx context.Context, lease clientv3.LeaseID, kw keyWatch) (keyWatch, error) {
	next, put, err := r.ensure(ctx, lease)
	switch {
	case err != nil && put:
		return kw, err
	case err != nil:
		r.log.Debug("reading the registration back failed", "err", err)
		return kw, nil
	case put:
		// etcd may have lost its data, so its revisions restarted.
		kw.stop()
		return r.watchFrom(ctx, next), nil
	}
	return kw, nil
}

// onWatch handles what the watch on the key delivers.
func (r *registrar) onWatch(ctx context.Context, lease clientv3.LeaseID, kw keyWatch, wr clientv3.WatchResponse, ok bool) (keyWatch, error) {
	if ok && wr.Err() == nil {
		return kw, r.onEvents(ctx, lease, wr.Events)
	}
	// Compacted past our revision, or closed: check the key directly, then
	// watch again from now.
	next, _, err := r.ensure(ctx, lease)
	if err != nil {
		return kw, err
	}
	kw.stop()
	return r.watchFrom(ctx, next), nil
}

// keyWatch is a watch on the key that can be stopped on its own.
type keyWatch struct {
	ch   clientv3.WatchChan
	stop context.CancelFunc
}

func (r *registrar) watchFrom(ctx context.Context, rev int64) keyWatch {
	wctx, cancel := context.WithCancel(ctx)
	return keyWatch{ch: r.cli.Watch(wctx, r.cfg.Key, clientv3.WithRev(rev)), stop: cancel}
}

func (r *registrar) onEvents(ctx context.Context, lease clientv3.LeaseID, evs []*clientv3.Event) error {
	for _, ev := range evs {
		switch {
		case ev.Type == clientv3.EventTypeDelete:
			if ctx.Err() != nil {
				return nil
			}
			r.log.Warn("registration deleted from etcd; putting it back")
			if _, err := r.put(ctx, lease); err != nil {
				return err
			}
		case clientv3.LeaseID(ev.Kv.Lease) != lease && r.forged(ev.Kv.Value):
			r.log.Warn("registration replaced by a value not signed with the sensors' token; putting it back", "value", string(ev.Kv.Value))
			if _, err := r.put(ctx, lease); err != nil {
				return err
			}
		case clientv3.LeaseID(ev.Kv.Lease) != lease:
			r.log.Warn("registration overwritten by another writer; leaving it until it goes", "value", string(ev.Kv.Value))
		}
	}
	return nil
}

// ensure puts the key back if it is absent and returns the revision to
// watch from, and whether it tried to put.
func (r *registrar) ensure(ctx context.Context, lease clientv3.LeaseID) (next int64, put bool, err error) {
	tctx, cancel := context.WithTimeout(ctx, r.cfg.timeout())
	defer cancel()
	resp, err := r.cli.Get(tctx, r.cfg.Key)
	if err != nil {
		return 0, false, fmt.Errorf("get %s: %w", r.cfg.Key, err)
	}
	switch {
	case len(resp.Kvs) == 0:
		r.log.Warn("registration missing from etcd; putting it back")
	case clientv3.LeaseID(resp.Kvs[0].Lease) != lease && r.forged(resp.Kvs[0].Value):
		r.log.Warn("registration replaced by a value not signed with the sensors' token; putting it back", "value", string(resp.Kvs[0].Value))
	default:
		return resp.Header.Revision + 1, false, nil
	}
	rev, err := r.put(ctx, lease)
	if err != nil {
		return 0, true, err
	}
	return rev + 1, true, nil
}

// forged reports whether a value another writer put fails to verify with
// the token: sensors ignore it, so the web node puts its own back. Without
// a token nothing is signed and another writer's value is left alone.
func (r *registrar) forged(value []byte) bool {
	if r.cfg.Token == "" {
		return false
	}
	_, err := parseVerified(value, r.cfg.Token)
	return err != nil
}

// revoke stops the keep-alive and revokes the lease, which deletes the key.
func (r *registrar) revoke(ctx context.Context, s *lease) error {
	s.Orphan()
	tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.cfg.timeout())
	defer cancel()
	if _, err := r.cli.Revoke(tctx, s.Lease()); err != nil {
		r.log.Warn("revoking etcd registration failed; it expires on its own", "err", err, "ttl_s", LeaseTTL)
		return ctx.Err()
	}
	r.log.Info("etcd registration revoked")
	return nil
}

func (r *registrar) revokeQuietly(ctx context.Context, id clientv3.LeaseID) {
	tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.cfg.timeout())
	defer cancel()
	r.cli.Revoke(tctx, id) //nolint:errcheck // best effort: the lease expires anyway
}
