// Package live captures packets from the network interfaces of the running
// host through a Linux AF_PACKET socket with a TPACKET_V3 memory-mapped ring,
// in pure Go (no cgo, no libpcap). It delivers cooked frames that start at the
// network header (packet.LinkRaw) with the kernel's nanosecond timestamp and
// the interface index, attaches the capture filter to the socket as classic
// BPF, and reports the kernel's packet and drop counters.
//
// It does not decode, track or aggregate packets; it does not write capture
// files; it only works on Linux and needs root or CAP_NET_RAW.
package live

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/pastmon/pastmon/capture/filter"
	"github.com/pastmon/pastmon/capture/packet"
	"golang.org/x/net/bpf"
)

// ErrPermission is returned (wrapped) by Open when the process may not open
// a packet socket. Callers that can run without capture (the web node) test
// for it with errors.Is and carry on with a warning.
var ErrPermission = errors.New("permission denied: pastmon needs root or CAP_NET_RAW (setcap cap_net_raw+ep pastmon)")

// Config selects what to capture and sizes the ring. The zero value captures
// every interface, including those created later, with the defaults below.
type Config struct {
	// Interfaces names the interfaces to capture; nil, empty or "any"
	// means all of them, including interfaces created after Open. An entry
	// may itself be a comma-separated list ("eth0,docker0"). Names are
	// resolved once, by Open: an interface deleted and created again is
	// not followed (only "any" is).
	Interfaces []string
	// Snaplen is the most bytes kept of each packet, from the network
	// header on. Default DefaultSnaplen.
	Snaplen int
	// Filter is a capture filter in tcpdump syntax; empty keeps every IP
	// packet.
	Filter string
	// BlockSize (a multiple of the page size, best a power of two) and
	// NumBlocks size the ring. Default 16 MiB × 4.
	//
	// The reader sleeps until the kernel hands a block over, and every
	// wake-up costs far more than the system call: while it slept, other
	// work had the CPU and its caches, and the flow table, the sketches
	// and the code come back from memory one miss at a time (0.06 ms of
	// extra CPU per wake-up after 0.1 ms asleep, 0.45 ms after 16 ms,
	// 0.7 ms after 100 ms: BenchmarkPipelineFile with PASTMON_BENCH_NAP).
	// Big blocks, a long BlockTimeout and ReadFrame reading two blocks per
	// wake-up when traffic fills them make wake-ups few: at 400k packets/s
	// the live benchmark's full analysis took about 0.15 s of CPU per
	// million packets, against 0.24–0.26 s with 1 MiB × 64 blocks and a
	// 100 ms timeout (bench/live.sh, before the reader parked in the
	// network poller). Keep three blocks or more:
	// the kernel may retire a part-filled block on its timeout right after
	// handing over a full one, and with two it then finds the next block
	// still being read and drops packets until it is released.
	BlockSize, NumBlocks int
	// BlockTimeout is how long the kernel fills a block before handing it
	// over anyway, and the poll interval after which ReadFrame returns
	// capture.ErrIdle. Default 1 s: the windows are minutes long.
	BlockTimeout time.Duration
}

// Defaults applied by Open to zero fields of Config.
//
// DefaultSnaplen keeps what the protocol parsers need from the first
// segment of each request and response. Cut to a snap length (whole frames,
// Ethernet header included), the l7 corpus capture names its transactions
// as with whole frames (BenchmarkSnaplen in capture/proto, 2026-12-02):
// at 256 bytes HTTP 91%, PostgreSQL 87%, TLS server names 100%, MySQL,
// Redis and DNS 100%; at 320 HTTP 100%; at 640 every protocol 100%. Live, the
// full analysis took 0.205 s of CPU per million packets at 256 and 0.232 s
// at 640 (bench/live.sh, SNAP=256 and SNAP=640, 400k packets, a loaded
// 2-core machine): 13% more for every transaction named.
const (
	DefaultSnaplen      = 640
	DefaultBlockSize    = 16 << 20
	DefaultNumBlocks    = 4
	DefaultBlockTimeout = time.Second
)

// minBlocks is the fewest ring blocks accepted; see Config.BlockSize.
const minBlocks = 3

// MaxSnaplen is the largest accepted Config.Snaplen.
const MaxSnaplen = 262144

// Stats are the kernel's cumulative counters for one Source.
type Stats struct {
	// Packets is every packet the filter accepted, including dropped ones
	// (what tcpdump reports as "received by filter").
	Packets uint64
	// Drops is packets accepted by the filter but lost because the ring
	// was full ("dropped by kernel").
	Drops uint64
	// FreezeQueue counts the times the ring was full and froze.
	FreezeQueue uint64
}

// Open creates the socket, attaches the filter, maps the ring and starts
// capturing. The context bounds the capture: once it is done, ReadFrame
// returns its error. Open runs in the network namespace of the calling
// thread.
func Open(ctx context.Context, cfg Config) (*Source, error) {
	cfg, names, err := normalize(cfg)
	if err != nil {
		return nil, err
	}
	name := "any"
	if names != nil {
		name = strings.Join(names, ",")
	}
	var s *Source
	user, err := userProgram(cfg)
	if err == nil {
		s, err = open(ctx, cfg, user, names, name)
	}
	if err != nil {
		return nil, fmt.Errorf("capture on %s: %w", name, err)
	}
	slog.Debug("live capture started", "interfaces", name, "snaplen", cfg.Snaplen,
		"filter", cfg.Filter, "ring_bytes", cfg.BlockSize*cfg.NumBlocks)
	return s, nil
}

func normalize(cfg Config) (Config, []string, error) {
	if cfg.Snaplen == 0 {
		cfg.Snaplen = DefaultSnaplen
	}
	if cfg.BlockSize == 0 {
		cfg.BlockSize = DefaultBlockSize
	}
	if cfg.NumBlocks == 0 {
		cfg.NumBlocks = DefaultNumBlocks
	}
	if cfg.BlockTimeout == 0 {
		cfg.BlockTimeout = DefaultBlockTimeout
	}
	page := os.Getpagesize()
	switch {
	case cfg.Snaplen < 0 || cfg.Snaplen > MaxSnaplen:
		return cfg, nil, fmt.Errorf("live capture: snaplen %d out of range 1..%d", cfg.Snaplen, MaxSnaplen)
	case cfg.BlockSize < 0 || cfg.BlockSize%page != 0:
		return cfg, nil, fmt.Errorf("live capture: block size %d is not a positive multiple of the page size %d", cfg.BlockSize, page)
	case cfg.BlockSize < cfg.Snaplen+frameOverhead:
		return cfg, nil, fmt.Errorf("live capture: block size %d too small for snaplen %d", cfg.BlockSize, cfg.Snaplen)
	case cfg.NumBlocks < minBlocks || int64(cfg.NumBlocks)*int64(cfg.BlockSize) > 1<<32-1:
		return cfg, nil, fmt.Errorf("live capture: ring of %d blocks of %d bytes out of range (%d blocks or more, under 4 GiB)", cfg.NumBlocks, cfg.BlockSize, minBlocks)
	case cfg.BlockTimeout < time.Millisecond || cfg.BlockTimeout > time.Minute:
		return cfg, nil, fmt.Errorf("live capture: block timeout %v out of range 1ms..1m", cfg.BlockTimeout)
	}
	names, err := interfaceNames(cfg.Interfaces)
	return cfg, names, err
}

// ifNameSize is IFNAMSIZ: interface names are shorter.
const ifNameSize = 16

// frameOverhead is what the kernel puts before the data of a cooked packet
// in the ring: TPACKET_ALIGN(tpacket3_hdr + sockaddr_ll) + 16.
const frameOverhead = 96

// maxInterfaces keeps the interface prefix of the filter within the reach
// of classic BPF's 8-bit jumps.
const maxInterfaces = 200

// interfaceNames returns the distinct interface names to capture, or nil for
// all interfaces.
func interfaceNames(list []string) ([]string, error) {
	var names []string
	for _, item := range list {
		for n := range strings.SplitSeq(item, ",") {
			n = strings.TrimSpace(n)
			switch {
			case n == "":
				continue
			case n == "any":
				return nil, nil
			case len(n) >= ifNameSize || strings.ContainsAny(n, "/ \t\n:"):
				return nil, fmt.Errorf("live capture: invalid interface name %q", n)
			}
			if len(names) == maxInterfaces {
				return nil, fmt.Errorf("live capture: more than %d interfaces", maxInterfaces)
			}
			if !contains(names, n) {
				names = append(names, n)
			}
		}
	}
	return names, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// userProgram compiles the configured filter, or keeps everything up to
// the snap length.
func userProgram(cfg Config) ([]bpf.Instruction, error) {
	if cfg.Filter == "" {
		return []bpf.Instruction{bpf.RetConstant{Val: uint32(cfg.Snaplen)}}, nil
	}
	// Cooked frames start at the network header, as LinkRaw ones.
	user, err := filter.Compile(cfg.Filter, packet.LinkRaw, uint32(cfg.Snaplen))
	if err != nil {
		return nil, fmt.Errorf("filter %q: %w", cfg.Filter, err)
	}
	return user, nil
}
