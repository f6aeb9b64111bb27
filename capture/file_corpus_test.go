package capture

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/pastmon/pastmon/capture/decode"
	"github.com/pastmon/pastmon/capture/packet"
)

var (
	tsharkAll = flag.Bool("tshark-all", false, "compare every corpus file with tshark")
	update    = flag.Bool("update", false, "rewrite testdata/corpus-decode.golden")
)

// corpusDir is the shared test corpus, next to the repository.
func corpusDir(t testing.TB, sub string) string {
	t.Helper()
	dir := filepath.Join("..", "..", "shared", "corpus", sub)
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("corpus %s absent: %v", dir, err)
	}
	return dir
}

func corpusFiles(t testing.TB) []string {
	var files []string
	for _, sub := range []string{"real", "tcpdump-tests"} {
		dir := corpusDir(t, sub)
		ents, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			if e.Type().IsRegular() && !strings.HasSuffix(e.Name(), ".csv") {
				files = append(files, filepath.Join(dir, e.Name()))
			}
		}
	}
	return files
}

// errorKind strips the file name and packet number from a read error so
// that errors can be tallied.
func errorKind(err error, path string) string {
	s := strings.Replace(err.Error(), path, "FILE", 1)
	if i := strings.Index(s, ": packet "); i >= 0 {
		if j := strings.Index(s[i+9:], ":"); j >= 0 {
			s = s[:i] + ": packet N" + s[i+9+j:]
		}
	}
	return s
}

// TestCorpusDecode runs every corpus capture through OpenFile and Decode:
// nothing may panic, and every failure must be an error naming the file
// and the packet. The per-file outcome is compared with
// testdata/corpus-decode.golden (-update rewrites it), so that a change in
// what the reader or the decoder makes of the corpus shows in review.
func TestCorpusDecode(t *testing.T) {
	var total decode.Counts
	var frames, ok int
	kinds := map[string]int{}
	var golden strings.Builder
	for _, path := range corpusFiles(t) {
		n, counts, err := decodeFile(path)
		total.Merge(&counts)
		frames += n
		line := fmt.Sprintf("%s: frames %d, tcp %d", filepath.Base(path), n, counts[decode.OK])
		if s := counts.String(); s != "" {
			line += ", skipped: " + s
		}
		switch {
		case err == nil:
			ok++
		case !strings.Contains(err.Error(), path):
			t.Errorf("error %q does not name the file", err)
		case strings.HasPrefix(err.Error(), "read ") && !strings.Contains(err.Error(), ": packet "):
			t.Errorf("read error %q does not name the packet", err)
		}
		if err != nil {
			kinds[errorKind(err, path)]++
			line += "; " + errorKind(err, path)
		}
		golden.WriteString(line + "\n")
	}
	t.Logf("%d files read to the end, %d frames, %d TCP segments; skipped: %s", ok, frames, total[decode.OK], total.String())
	var keys []string
	for k := range kinds {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		t.Logf("%4d × %s", kinds[k], k)
	}
	if total[decode.OK] == 0 || ok == 0 {
		t.Fatal("the corpus yielded no TCP segments")
	}
	compareGolden(t, filepath.Join("testdata", "corpus-decode.golden"), golden.String())
}

// decodeFile reads and decodes a whole capture; err is nil at a clean end.
func decodeFile(path string) (int, decode.Counts, error) {
	var counts decode.Counts
	src, err := OpenFile(path)
	if err != nil {
		return 0, counts, err
	}
	defer src.Close()
	var p packet.Packet
	for n := 0; ; n++ {
		var f Frame
		if err := src.ReadFrame(&f); err != nil {
			if err == io.EOF {
				err = nil
			}
			return n, counts, err
		}
		p.TS, p.Iface = f.TS, f.Iface
		counts.Add(decode.Decode(f.Link, f.Data, &p))
	}
}

func compareGolden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got == string(want) {
		return
	}
	gl, wl := strings.Split(got, "\n"), strings.Split(string(want), "\n")
	for i := range max(len(gl), len(wl)) {
		g, w := "", ""
		if i < len(gl) {
			g = gl[i]
		}
		if i < len(wl) {
			w = wl[i]
		}
		if g != w {
			t.Fatalf("%s line %d:\n got  %s\n want %s\n(-update rewrites the file)", path, i+1, g, w)
		}
	}
}

// tsharkFrame is what tshark reports for one frame.
type tsharkFrame struct {
	iface        int
	ts           int64
	wire, caplen int
}

// tsharkFrames lists a capture's frames as tshark reads them.
func tsharkFrames(t *testing.T, path string) ([]tsharkFrame, error) {
	cmd := exec.Command("tshark", "-n", "-r", path, "-T", "fields", "-E", "separator=,",
		"-e", "frame.interface_id", "-e", "frame.time_epoch", "-e", "frame.len", "-e", "frame.cap_len")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var frames []tsharkFrame
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Split(sc.Text(), ",")
		if len(f) != 4 {
			return frames, fmt.Errorf("tshark line %q", sc.Text())
		}
		var tf tsharkFrame
		if f[0] != "" {
			tf.iface, _ = strconv.Atoi(f[0])
		}
		tf.ts = epochNanos(f[1])
		tf.wire, _ = strconv.Atoi(f[2])
		tf.caplen, _ = strconv.Atoi(f[3])
		frames = append(frames, tf)
	}
	if err != nil {
		return frames, fmt.Errorf("%w: %s", err, stderr.String())
	}
	return frames, nil
}

// epochNanos parses "1795548251.496067000" exactly, without floats.
func epochNanos(s string) int64 {
	sec, frac, _ := strings.Cut(s, ".")
	n, _ := strconv.ParseInt(sec, 10, 64)
	frac = (frac + "000000000")[:9]
	f, _ := strconv.ParseInt(frac, 10, 64)
	return n*1e9 + f
}

// TestCorpusAgainstTshark compares every frame OpenFile delivers (time,
// lengths, interface) with tshark's reading of the same file: the real
// capture and a sample of the tcpdump tests: every fourth pcapng file and
// every 60th pcap file (tshark takes about a second per file on a busy
// machine; -tshark-all runs them all).
func TestCorpusAgainstTshark(t *testing.T) {
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Skip("tshark not installed")
	}
	var files []string
	var ng, other int
	for _, f := range corpusFiles(t) {
		real := strings.Contains(f, string(filepath.Separator)+"real"+string(filepath.Separator))
		isNg := strings.HasSuffix(f, ".pcapng")
		if *tsharkAll || real || (isNg && ng%4 == 0) || (!isNg && other%60 == 0) {
			files = append(files, f)
		}
		if isNg {
			ng++
		} else if !real {
			other++
		}
	}
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			want, tsErr := tsharkFrames(t, path)
			src, err := OpenFile(path)
			if err != nil {
				if tsErr == nil {
					t.Fatalf("tshark reads it, OpenFile: %v", err)
				}
				t.Logf("both fail: %v; tshark: %v", err, tsErr)
				return
			}
			defer src.Close()
			var got []tsharkFrame
			for {
				var f Frame
				if err = src.ReadFrame(&f); err != nil {
					break
				}
				got = append(got, tsharkFrame{iface: int(f.Iface), ts: f.TS, wire: f.WireLen, caplen: len(f.Data)})
			}
			if err != io.EOF {
				t.Logf("OpenFile: %v; tshark: %v", err, tsErr)
				if tsErr == nil {
					t.Errorf("tshark reads the file to the end, OpenFile fails: %v", err)
				}
			}
			n := min(len(got), len(want))
			for i := range n {
				if got[i] != want[i] {
					t.Fatalf("frame %d: got %+v, tshark %+v", i+1, got[i], want[i])
				}
			}
			switch {
			case err == io.EOF && tsErr == nil && len(got) != len(want):
				t.Errorf("%d frames, tshark %d", len(got), len(want))
			case tsErr != nil && len(got) < len(want):
				t.Errorf("%d frames, tshark %d before its error", len(got), len(want))
			case tsErr != nil:
				t.Logf("tshark fails (%v), OpenFile reads %d frames", tsErr, len(got))
			}
		})
	}
}
