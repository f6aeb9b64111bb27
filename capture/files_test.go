package capture

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestFilesOneStream: several files read as one stream give every frame
// of each in order; a missing file fails at open, naming it.
func TestFilesOneStream(t *testing.T) {
	recs := testRecords(10, 1, time.Second)
	a := writeFile(t, "a.pcap", writePcap(t, false, 1, recs[:4]))
	b := writeFile(t, "b.pcap", writePcap(t, true, 1, recs[4:]))
	fs, err := OpenFiles([]string{a, b})
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Close()
	var f Frame
	for i, r := range recs {
		if err := fs.ReadFrame(&f); err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if f.TS != r.ts/1000*1000 || string(f.Data) != string(r.data) {
			t.Errorf("frame %d: ts %d, want %d", i, f.TS, r.ts)
		}
	}
	if err := fs.ReadFrame(&f); !errors.Is(err, io.EOF) {
		t.Errorf("after the last file: %v, want EOF", err)
	}
	missing := filepath.Join(t.TempDir(), "missing.pcap")
	if _, err := OpenFiles([]string{a, missing}); !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), missing) {
		t.Errorf("missing second file: %v, want not-exist naming it", err)
	}
}

// TestFilesProgressLine: the progress line shows packets and the share
// read, and is cleared at the end.
func TestFilesProgressLine(t *testing.T) {
	path := writeFile(t, "c.pcap", writePcap(t, false, 1, testRecords(1000, 1, time.Millisecond)))
	fs, err := OpenFiles([]string{path})
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Close()
	var buf strings.Builder
	fs.ShowProgress(&buf, "analyze")
	var f Frame
	for fs.ReadFrame(&f) == nil {
	}
	fs.showProgress()
	fs.EndProgress()
	got := buf.String()
	if !strings.Contains(got, "analyze: 1000 packets") || !strings.Contains(got, "(100%)") || !strings.HasSuffix(got, "\r") {
		t.Errorf("progress line %q", got)
	}
}

func TestHumanBytes(t *testing.T) {
	for n, want := range map[uint64]string{0: "0B", 999: "999B", 1_234_567: "1.23MB", 5e18: "5EB"} {
		if got := HumanBytes(n); got != want {
			t.Errorf("HumanBytes(%d) = %q, want %q", n, got, want)
		}
	}
}
