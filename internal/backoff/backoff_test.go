package backoff

import (
	"testing"
	"time"
)

// TestBackoff: full jitter under a ceiling that doubles from Min up to Max,
// so retries spread out but never wait longer than the cap, and Reset
// starts over.
func TestBackoff(t *testing.T) {
	for _, tc := range []struct{ min, max time.Duration }{
		{500 * time.Millisecond, 30 * time.Second},
		{250 * time.Millisecond, 5 * time.Second},
	} {
		b := Backoff{Min: tc.min, Max: tc.max}
		for round := range 2 {
			ceiling := tc.min
			for n := 1; n <= 40; n++ {
				const samples = 400
				var sum, least, most time.Duration
				least = tc.max
				for range samples {
					saved := b
					d := b.Next()
					b = saved // sample the same step again
					sum += d
					least, most = min(least, d), max(most, d)
				}
				if least < tc.min/10 || most > ceiling {
					t.Errorf("round %d, retry %d: delays in [%s, %s], want within [%s, %s]", round, n, least, most, tc.min/10, ceiling)
				}
				if mean := sum / samples; mean < ceiling*4/10 || mean > ceiling*6/10+tc.min/10 {
					t.Errorf("round %d, retry %d: mean %s, want about half of %s (full jitter)", round, n, mean, ceiling)
				}
				b.Next()
				ceiling = min(2*ceiling, tc.max)
			}
			if b.Retries() != 40 {
				t.Errorf("Retries() = %d after 40, want 40", b.Retries())
			}
			b.Reset()
		}
	}
}
