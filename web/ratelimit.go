package web

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"
)

// limiter slows down password guessing without letting anyone lock a user
// out: failures are counted per (user, client address) pair and, for
// spraying many names from one address, per client. After Free failures
// each further one doubles the wait before the next try (Base, 2×Base, …,
// up to Max); a success or Max of quiet forgets the key. Someone guessing
// admin's password from elsewhere never delays admin's own logins. The
// keys are bounded (MaxKeys, oldest dropped first) and so is the memory of
// a name (maxNameKey bytes).
type limiter struct {
	cfg LoginLimit

	mu   sync.Mutex
	hits map[string]*backoff
}

type backoff struct {
	n    int       // failures
	last time.Time // of the latest failure
}

// maxNameKey bounds the bytes of a user name kept in a key.
const maxNameKey = 64

func newLimiter(cfg LoginLimit) *limiter {
	d := DefaultLoginLimit
	if cfg.Free <= 0 {
		cfg.Free = d.Free
	}
	if cfg.PerClientFree <= 0 {
		cfg.PerClientFree = d.PerClientFree
	}
	if cfg.Base <= 0 {
		cfg.Base = d.Base
	}
	if cfg.Max <= 0 {
		cfg.Max = d.Max
	}
	if cfg.MaxKeys <= 0 {
		cfg.MaxKeys = d.MaxKeys
	}
	return &limiter{cfg: cfg, hits: map[string]*backoff{}}
}

// wait is how long key must wait after n failures, the last at last.
func (l *limiter) wait(h *backoff, free int, now time.Time) time.Duration {
	if h == nil || h.n < free {
		return 0
	}
	d := l.cfg.Max
	if shift := h.n - free; shift < 30 {
		d = min(l.cfg.Base<<shift, l.cfg.Max)
	}
	return max(0, h.last.Add(d).Sub(now))
}

// allow reports whether key may try now, and if not, how long to wait.
func (l *limiter) allow(key string, free int, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	w := l.wait(l.hits[key], free, now)
	return w == 0, w
}

// fail records one failed attempt for key.
func (l *limiter) fail(key string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	h := l.hits[key]
	if h == nil || now.Sub(h.last) >= l.cfg.Max {
		if len(l.hits) >= l.cfg.MaxKeys {
			l.sweep(now)
		}
		h = &backoff{}
		l.hits[key] = h
	}
	h.n++
	h.last = now
}

func (l *limiter) forget(key string) {
	l.mu.Lock()
	delete(l.hits, key)
	l.mu.Unlock()
}

// sweep drops the keys quiet for Max, then, if still full, the older half.
func (l *limiter) sweep(now time.Time) {
	var newest time.Time
	for k, h := range l.hits {
		if now.Sub(h.last) >= l.cfg.Max {
			delete(l.hits, k)
		} else if h.last.After(newest) {
			newest = h.last
		}
	}
	if len(l.hits) < l.cfg.MaxKeys {
		return
	}
	cut := newest.Add(-l.cfg.Max / 2)
	for k, h := range l.hits {
		if h.last.Before(cut) || len(l.hits) >= l.cfg.MaxKeys {
			delete(l.hits, k)
		}
	}
}

func pairKey(client, user string) string {
	if len(user) > maxNameKey {
		user = user[:maxNameKey]
	}
	return "p:" + client + "\x00" + user
}

// loginAllowed checks the pair's and the client's backoff.
func (l *limiter) loginAllowed(client, user string, now time.Time) (bool, time.Duration) {
	if ok, wait := l.allow("c:"+client, l.cfg.PerClientFree, now); !ok {
		return false, wait
	}
	return l.allow(pairKey(client, user), l.cfg.Free, now)
}

func (l *limiter) loginFailed(client, user string, now time.Time) {
	l.fail("c:"+client, now)
	l.fail(pairKey(client, user), now)
}

// loginSucceeded forgets the pair's failures (not the client's).
func (l *limiter) loginSucceeded(client, user string) { l.forget(pairKey(client, user)) }

// logLimit lets through at most burst log lines per interval and counts
// the rest, so that a flood of failures cannot flood the log.
type logLimit struct {
	mu         sync.Mutex
	start      time.Time
	n, dropped int
}

const (
	logBurst    = 20
	logInterval = time.Minute
)

// ok reports whether to log now, and how many lines were dropped since
// the last one logged.
func (l *logLimit) ok(now time.Time) (bool, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.start) >= logInterval {
		l.start, l.n = now, 0
	}
	if l.n >= logBurst {
		l.dropped++
		return false, 0
	}
	l.n++
	d := l.dropped
	l.dropped = 0
	return true, d
}

// clipName shortens a user name for logs and keys.
func clipName(s string) string {
	if len(s) > maxNameKey {
		return s[:maxNameKey] + "…"
	}
	return s
}

// clientAddr is the peer's IP, or, when the peer is one of trusted (the
// reverse proxies in front of this node), the address that the last
// untrusted hop of X-Forwarded-For names. Other peers cannot choose their
// address by sending the header.
func clientAddr(r *http.Request, trusted []netip.Prefix) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	if len(trusted) == 0 || !inPrefixes(host, trusted) {
		return host
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		h := strings.TrimSpace(hops[i])
		a, err := netip.ParseAddr(h)
		if err != nil {
			return host // a malformed header: trust only the proxy itself
		}
		if !inPrefixes(a.String(), trusted) {
			return a.Unmap().String()
		}
	}
	return host
}

func inPrefixes(addr string, ps []netip.Prefix) bool {
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return false
	}
	a = a.Unmap()
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
