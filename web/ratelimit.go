package web

import (
	"sync"
	"time"
)

// limiter counts failed logins per key (a client address or a user name)
// in fixed windows; a key over its limit is refused until its window ends.
type limiter struct {
	cfg LoginLimit

	mu   sync.Mutex
	hits map[string]*hitWindow
}

type hitWindow struct {
	start time.Time
	n     int
}

func newLimiter(cfg LoginLimit) *limiter {
	return &limiter{cfg: cfg, hits: map[string]*hitWindow{}}
}

// allow reports whether key may try again, and if not, when it may.
func (l *limiter) allow(key string, max int, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	h := l.hits[key]
	if h == nil || now.Sub(h.start) >= l.cfg.Window {
		return true, 0
	}
	if h.n >= max {
		return false, h.start.Add(l.cfg.Window).Sub(now)
	}
	return true, 0
}

// fail records one failed attempt for key.
func (l *limiter) fail(key string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.hits) > 100000 {
		l.sweep(now)
	}
	h := l.hits[key]
	if h == nil || now.Sub(h.start) >= l.cfg.Window {
		h = &hitWindow{start: now}
		l.hits[key] = h
	}
	h.n++
}

// sweep drops finished windows so a flood of names cannot grow the map.
func (l *limiter) sweep(now time.Time) {
	for k, h := range l.hits {
		if now.Sub(h.start) >= l.cfg.Window {
			delete(l.hits, k)
		}
	}
}

// loginAllowed checks both the client's and the user's budget.
func (l *limiter) loginAllowed(client, user string, now time.Time) (bool, time.Duration) {
	if ok, wait := l.allow("c:"+client, l.cfg.PerClient, now); !ok {
		return false, wait
	}
	return l.allow("u:"+user, l.cfg.PerUser, now)
}

func (l *limiter) loginFailed(client, user string, now time.Time) {
	l.fail("c:"+client, now)
	l.fail("u:"+user, now)
}
