package capture

import (
	"bufio"
	"bytes"
	"io"
	"net/netip"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/pastmon/pastmon/capture/decode"
	"github.com/pastmon/pastmon/capture/packet"
)

// tsharkTCPFields are the fields compared with what Decode yields.
var tsharkTCPFields = []string{"frame.number", "ip.src", "ipv6.src", "ip.dst", "ipv6.dst",
	"tcp.srcport", "tcp.dstport", "tcp.seq_raw", "tcp.ack_raw", "tcp.flags", "tcp.window_size_value", "tcp.len",
	"tcp.options.mss_val", "tcp.options.wscale.shift", "tcp.options.sack_perm",
	"tcp.options.timestamp.tsval", "tcp.options.timestamp.tsecr"}

// tsharkTCP returns, per frame number, tshark's view of the frame's first
// TCP header, formatted as tcpLine formats a decoded packet; frames without
// TCP are absent.
func tsharkTCP(t *testing.T, path string) map[int]string {
	args := []string{"-n", "-r", path, "-o", "tcp.desegment_tcp_streams:FALSE", "-o", "ip.defragment:FALSE",
		"-o", "ipv6.defragment:FALSE", "-T", "fields", "-E", "separator=|", "-E", "occurrence=f"}
	for _, f := range tsharkTCPFields {
		args = append(args, "-e", f)
	}
	out, err := exec.Command("tshark", args...).Output()
	if err != nil {
		t.Logf("tshark %s: %v (comparing the frames it printed)", path, err)
	}
	frames := map[int]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Split(sc.Text(), "|")
		if len(f) != len(tsharkTCPFields) || f[5] == "" {
			continue
		}
		n, _ := strconv.Atoi(f[0])
		src, dst := f[1]+f[2], f[3]+f[4]
		flags, _ := strconv.ParseUint(strings.TrimPrefix(f[9], "0x"), 16, 16)
		ws := "-1"
		if f[13] != "" {
			shift, _ := strconv.Atoi(f[13])
			ws = strconv.Itoa(min(shift, 14))
		}
		frames[n] = strings.Join([]string{src, dst, f[5], f[6], f[7], f[8], strconv.FormatUint(flags&0xff, 10), f[10], f[11],
			orZero(f[12]), ws, strconv.FormatBool(f[14] != ""), orZero(f[15]), orZero(f[16])}, " ")
	}
	return frames
}

func orZero(s string) string {
	if s == "" {
		return "0"
	}
	return s
}

func tcpLine(p *packet.Packet) string {
	addr := func(a [16]byte) string {
		if p.V6 {
			return netip.AddrFrom16(a).String()
		}
		return netip.AddrFrom4([4]byte(a[:4])).String()
	}
	u := func(v uint64) string { return strconv.FormatUint(v, 10) }
	return strings.Join([]string{addr(p.Src), addr(p.Dst), u(uint64(p.SrcPort)), u(uint64(p.DstPort)), u(uint64(p.Seq)), u(uint64(p.Ack)),
		u(uint64(p.Flags)), u(uint64(p.Window)), u(uint64(p.Payload)), u(uint64(p.MSS)), strconv.Itoa(int(p.WScale)),
		strconv.FormatBool(p.SACKOK), u(uint64(p.TSval)), u(uint64(p.TSecr))}, " ")
}

// TestDecodeAgainstTshark decodes the real capture and the tcpdump test
// captures that carry TCP over the link types Decode knows, and compares
// every segment Decode accepts with tshark's dissection of the same frame.
func TestDecodeAgainstTshark(t *testing.T) {
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Skip("tshark not installed")
	}
	var files []string
	for _, f := range corpusFiles(t) {
		base := filepath.Base(f)
		if strings.Contains(f, "http-dev-server") || strings.HasPrefix(base, "tcp") || strings.HasPrefix(base, "mptcp") ||
			strings.HasPrefix(base, "QinQ") || strings.HasPrefix(base, "802.1ad") || strings.HasPrefix(base, "ipv6-") ||
			strings.HasPrefix(base, "LINKTYPE_") || strings.HasPrefix(base, "bgp") && strings.HasSuffix(base, ".pcapng") {
			files = append(files, f)
		}
	}
	var total, tsharkOnly int
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			got, counts := decodeLines(t, path)
			if counts[decode.OK] == 0 {
				t.Skipf("no TCP segment decoded (%s)", counts.String())
			}
			want := tsharkTCP(t, path)
			for n, line := range got {
				w, ok := want[n+1]
				switch {
				case line != "" && !ok:
					t.Errorf("frame %d: decoded TCP %s, tshark sees none", n+1, line)
				case line != "":
					total++
					if line != w {
						t.Errorf("frame %d:\n decoded %s\n tshark  %s", n+1, line, w)
					}
				case ok:
					tsharkOnly++
					t.Logf("frame %d: not decoded, tshark: %s", n+1, w)
				}
			}
			t.Logf("ok %d; skipped: %s", counts[decode.OK], counts.String())
		})
	}
	t.Logf("%d segments identical to tshark's, %d frames with TCP to tshark only", total, tsharkOnly)
}

// decodeLines decodes every frame of a capture: tcpLine for a segment
// Decode accepts, "" for any other frame.
func decodeLines(t *testing.T, path string) ([]string, decode.Counts) {
	var lines []string
	var counts decode.Counts
	src, err := OpenFile(path)
	if err != nil {
		t.Skipf("not readable: %v", err)
	}
	defer src.Close()
	var p packet.Packet
	for {
		var f Frame
		if err := src.ReadFrame(&f); err != nil {
			if err != io.EOF {
				t.Logf("stop: %v", err)
			}
			return lines, counts
		}
		r := decode.Decode(f.Link, f.Data, &p)
		counts.Add(r)
		line := ""
		if r == decode.OK {
			line = tcpLine(&p)
		}
		lines = append(lines, line)
	}
}
