package report

import (
	"math"
	"testing"

	"github.com/pastmon/pastmon/capture"
)

func TestHumanUnits(t *testing.T) {
	tests := []struct {
		us   float64
		want string
	}{
		{math.NaN(), "-"}, {12.345, "12.3µs"}, {1234, "1.23ms"}, {2_500_000, "2.5s"},
	}
	for _, tt := range tests {
		if got := HumanMicros(tt.us); got != tt.want {
			t.Errorf("HumanMicros(%v) = %q, want %q", tt.us, got, tt.want)
		}
	}
	if got := capture.HumanBytes(1_234_567); got != "1.23MB" {
		t.Errorf("HumanBytes = %q", got)
	}
}
