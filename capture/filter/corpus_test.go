package filter

import (
	"compress/gzip"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/gopacket/gopacket/pcapgo"
)

// corpusDir is the shared corpus next to the repository (CI clones the
// repository beside a copy of it).
func corpusDir(t testing.TB) string {
	t.Helper()
	dir := filepath.Join("..", "..", "..", "shared", "corpus")
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("corpus not available: %v", err)
	}
	return dir
}

// frame is one captured frame and where it came from.
type frame struct {
	link uint16
	data []byte
	file string
	idx  int // index of the frame in its file
}

// supportedLinks are the link types the package compiles for.
var supportedLinks = map[uint16]bool{0: true, 1: true, 12: true, 14: true, 101: true, 108: true, 113: true, 228: true, 229: true, 276: true}

// readCapture reads the frames of a pcap or pcapng file, gzipped or not, up
// to the first read error (many corpus files are damaged on purpose).
func readCapture(path string) ([]frame, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(path, ".gz") {
		gz, err := gzip.NewReader(f)
		if err != nil {
			return nil, err
		}
		defer gz.Close()
		r = gz
	}
	var magic [4]byte
	if _, err := io.ReadFull(r, magic[:]); err != nil {
		return nil, err
	}
	r = io.MultiReader(strings.NewReader(string(magic[:])), r)
	if magic == [4]byte{0x0a, 0x0d, 0x0d, 0x0a} {
		return readNg(r, path)
	}
	pr, err := pcapgo.NewReader(r)
	if err != nil {
		return nil, err
	}
	var frames []frame
	for i := 0; ; i++ {
		data, _, err := pr.ReadPacketData()
		if err != nil {
			return frames, nil
		}
		frames = append(frames, frame{link: uint16(pr.LinkType()), data: data, file: path, idx: i})
	}
}

func readNg(r io.Reader, path string) ([]frame, error) {
	nr, err := pcapgo.NewNgReader(r, pcapgo.DefaultNgReaderOptions)
	if err != nil {
		return nil, err
	}
	var frames []frame
	for i := 0; ; i++ {
		data, ci, err := nr.ReadPacketData()
		if err != nil {
			return frames, nil
		}
		intf, err := nr.Interface(ci.InterfaceIndex)
		if err != nil {
			return frames, nil
		}
		frames = append(frames, frame{link: uint16(intf.LinkType), data: data, file: path, idx: i})
	}
}

// corpusFrames reads the real captures and every tcpdump test capture,
// and groups the frames of supported link types by link type.
func corpusFrames(t testing.TB) (map[uint16][]frame, int) {
	t.Helper()
	dir := corpusDir(t)
	real, _ := filepath.Glob(filepath.Join(dir, "real", "*.pcap.gz"))
	tests, _ := filepath.Glob(filepath.Join(dir, "tcpdump-tests", "*"))
	sort.Strings(tests)
	byLink := map[uint16][]frame{}
	files := 0
	for _, path := range append(real, tests...) {
		frames, err := readCapture(path)
		if err != nil && !errors.Is(err, io.EOF) {
			continue // not a capture pcapgo reads
		}
		used := false
		for _, fr := range frames {
			if supportedLinks[fr.link] {
				byLink[fr.link] = append(byLink[fr.link], fr)
				used = true
			}
		}
		if used {
			files++
		}
	}
	if len(byLink) == 0 {
		t.Skip("no captures of supported link types in the corpus")
	}
	for link, frames := range derivedFrames(byLink[1]) {
		byLink[link] = append(byLink[link], frames...)
	}
	return byLink, files
}

// derivedFrames re-frames the Ethernet frames for the link types the corpus
// lacks: raw IP (101 and 12), Linux cooked v2 (276), OpenBSD loopback (108);
// and adds BSD loopback (0) in this host's byte order, as tcpdump compares it.
func derivedFrames(eth []frame) map[uint16][]frame {
	out := map[uint16][]frame{}
	for i, fr := range eth {
		if len(fr.data) < 14 || strings.Contains(fr.file, "real") && i%4 != 0 {
			continue // a quarter of the big real capture is variety enough
		}
		etype := binary.BigEndian.Uint16(fr.data[12:])
		payload := fr.data[14:]
		add := func(link uint16, hdr []byte) {
			data := append(append([]byte{}, hdr...), payload...)
			out[link] = append(out[link], frame{link: link, data: data, file: fr.file, idx: fr.idx})
		}
		add(101, nil)
		add(12, nil)
		sll2 := make([]byte, 20)
		binary.BigEndian.PutUint16(sll2[0:], etype)
		binary.BigEndian.PutUint32(sll2[4:], 2) // ifindex
		binary.BigEndian.PutUint16(sll2[8:], 1) // ARPHRD_ETHER
		sll2[10], sll2[11] = 0, 6               // packet type, address length
		copy(sll2[12:], fr.data[6:12])
		add(276, sll2)
		af := uint32(99)
		switch etype {
		case 0x0800:
			af = 2
		case 0x86dd:
			af = []uint32{24, 28, 30}[i%3]
		}
		add(108, binary.BigEndian.AppendUint32(nil, af))
		add(0, binary.NativeEndian.AppendUint32(nil, af))
	}
	return out
}
