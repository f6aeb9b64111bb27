package capture

import (
	"bytes"
	"io"
	"testing"

	"github.com/pastmon/pastmon/capture/window"
)

// TestPipelineAllocs proves on the real capture that, once warmed up, the
// hot path (decode → track → aggregate) allocates nothing per packet: a
// pass over the capture, shifted in time so that its connections and
// windows are new, allocates per server window it opens (summaries and
// their sketches), never per packet. BenchmarkPipeline reports the same on
// synthetic traffic; this test fails the build instead.
func TestPipelineAllocs(t *testing.T) {
	_, raw := realCapture(t)
	src, err := openReader("allocs", bytes.NewReader(raw), nil, int64(len(raw)))
	if err != nil {
		t.Fatal(err)
	}
	frames := readFrames(t, src)
	var windows int
	p, err := newPipeline(Config{OnWindow: func(window.Summary) { windows++ }})
	if err != nil {
		t.Fatal(err)
	}
	shift := frames[len(frames)-1].TS - frames[0].TS + int64(2*window.Width)
	round := int64(0)
	pass := func() {
		replay(len(frames), p, frames, shift, round, 0, 0)
		round++
	}
	pass() // the flow table, the maps and the sketches grow to their size
	windows = 0
	const runs = 4
	allocs := testing.AllocsPerRun(runs, pass)
	if p.stats.Decoded < uint64(len(frames)) {
		t.Fatalf("%d packets decoded of %d: nothing to measure", p.stats.Decoded, len(frames))
	}
	// AllocsPerRun makes one more pass than it counts.
	perWindow := allocs / (float64(windows) / (runs + 1))
	t.Logf("%d packets, %.0f allocations and %d server windows per pass (%.1f per window)",
		len(frames), allocs, windows/(runs+1), perWindow)
	// A pass allocates about 50 times per window opened (sketch pages);
	// anything done per packet, per sample or per transaction adds far
	// more than one allocation in 20 packets.
	if perPacket := allocs / float64(len(frames)); perPacket >= 0.05 {
		t.Errorf("%.0f allocations per pass of %d packets (%.3f per packet, %d windows): the hot path allocates per packet",
			allocs, len(frames), perPacket, windows/(runs+1))
	}
}

// readFrames reads every frame of src into memory.
func readFrames(t *testing.T, src Source) []Frame {
	t.Helper()
	var frames []Frame
	for {
		var f Frame
		if err := src.ReadFrame(&f); err == io.EOF {
			return frames
		} else if err != nil {
			t.Fatal(err)
		}
		f.Data = bytes.Clone(f.Data)
		frames = append(frames, f)
	}
}
