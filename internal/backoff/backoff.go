// Package backoff spaces out retries: exponentially growing delays with
// full jitter, so that many clients failing at once (sensors after a web
// node restart, etcd clients after an etcd outage) spread their retries.
//
// It only computes delays; waiting and deciding when to give up are the
// caller's.
package backoff

import (
	"math/rand/v2"
	"time"
)

// Backoff yields the delays before successive retries. The zero value is
// not usable: set Min and Max (0 < Min ≤ Max). It is not safe for
// concurrent use.
type Backoff struct {
	Min, Max time.Duration
	n        int // retries since the last Reset
}

// Next returns the delay before the next retry: uniformly random between
// Min/10 and a ceiling that starts at Min and doubles at every call up to
// Max.
func (b *Backoff) Next() time.Duration {
	ceil := b.Max
	if b.n < 30 {
		ceil = min(b.Max, b.Min<<b.n)
	}
	b.n++
	floor := b.Min / 10
	return floor + rand.N(ceil-floor+1)
}

// Reset starts again from Min, after a success.
func (b *Backoff) Reset() { b.n = 0 }

// Retries is the number of delays handed out since the last Reset.
func (b *Backoff) Retries() int { return b.n }
