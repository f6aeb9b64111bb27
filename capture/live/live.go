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
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
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
	// may itself be a comma-separated list ("eth0,docker0").
	Interfaces []string
	// Snaplen is the most bytes kept of each packet, from the network
	// header on. Default 256.
	Snaplen int
	// Filter is a capture filter in tcpdump syntax; empty keeps every IP
	// packet.
	Filter string
	// BlockSize (a multiple of the page size, best a power of two) and
	// NumBlocks size the ring. Default 1 MiB × 64.
	BlockSize, NumBlocks int
	// BlockTimeout is how long the kernel fills a block before handing it
	// over anyway, and the poll interval after which ReadFrame returns
	// capture.ErrIdle. Default 100 ms.
	BlockTimeout time.Duration
}

// Defaults applied by Open to zero fields of Config.
const (
	DefaultSnaplen      = 256
	DefaultBlockSize    = 1 << 20
	DefaultNumBlocks    = 64
	DefaultBlockTimeout = 100 * time.Millisecond
)

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

// Source is one live capture: a packet socket, its ring and its filter.
// ReadFrame must be called from one goroutine at a time; Stats and
// Interfaces may be called from any goroutine. Close must not run while
// ReadFrame does: cancel the context given to Open to stop a blocked
// ReadFrame, then Close.
type Source struct {
	ctx     context.Context
	name    string   // "any" or the configured names, for messages
	names   []string // configured interface names; nil for any
	fd      int
	eventFD int // becomes readable when ctx is done
	stopCtx func() bool
	done    atomic.Bool
	ring    ring
	pollFDs []unix.PollFd
	timeout int // poll timeout, ms

	mu     sync.Mutex // guards the fields below and fd against Close
	closed bool
	stats  Stats
	links  *linkLister
}

// Open creates the socket, attaches the filter, maps the ring and starts
// capturing. The context bounds the capture: once it is done, ReadFrame
// returns its error. Open runs in the network namespace of the calling
// thread.
func Open(ctx context.Context, cfg Config) (s *Source, err error) {
	cfg, names, err := normalize(cfg)
	if err != nil {
		return nil, err
	}
	name := "any"
	if names != nil {
		name = strings.Join(names, ",")
	}
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
	page := unix.Getpagesize()
	switch {
	case cfg.Snaplen < 0 || cfg.Snaplen > MaxSnaplen:
		return cfg, nil, fmt.Errorf("live capture: snaplen %d out of range 1..%d", cfg.Snaplen, MaxSnaplen)
	case cfg.BlockSize < 0 || cfg.BlockSize%page != 0:
		return cfg, nil, fmt.Errorf("live capture: block size %d is not a positive multiple of the page size %d", cfg.BlockSize, page)
	case cfg.BlockSize < cfg.Snaplen+frameOverhead:
		return cfg, nil, fmt.Errorf("live capture: block size %d too small for snaplen %d", cfg.BlockSize, cfg.Snaplen)
	case cfg.NumBlocks < 1 || int64(cfg.NumBlocks)*int64(cfg.BlockSize) > 1<<32-1:
		return cfg, nil, fmt.Errorf("live capture: ring of %d blocks of %d bytes out of range", cfg.NumBlocks, cfg.BlockSize)
	case cfg.BlockTimeout < time.Millisecond || cfg.BlockTimeout > time.Minute:
		return cfg, nil, fmt.Errorf("live capture: block timeout %v out of range 1ms..1m", cfg.BlockTimeout)
	}
	names, err := interfaceNames(cfg.Interfaces)
	return cfg, names, err
}

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
			case len(n) >= unix.IFNAMSIZ || strings.ContainsAny(n, "/ \t\n:"):
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

func open(ctx context.Context, cfg Config, user []bpf.Instruction, names []string, name string) (_ *Source, err error) {
	// Protocol 0 receives nothing until bind, so no packet reaches the
	// ring before the filter is attached.
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
			return nil, ErrPermission
		}
		return nil, fmt.Errorf("packet socket: %w", err)
	}
	s := &Source{ctx: ctx, name: name, names: names, fd: fd, eventFD: -1}
	defer func() {
		if err != nil {
			s.release()
		}
	}()
	ifindexes, err := resolve(fd, names)
	if err != nil {
		return nil, err
	}
	if err := attachFilter(fd, user, ifindexes); err != nil {
		return nil, err
	}
	if err := s.ring.setup(fd, cfg); err != nil {
		return nil, err
	}
	if names == nil {
		if s.links, err = newLinkLister(); err != nil {
			return nil, err
		}
	}
	bindIndex := 0
	if len(ifindexes) == 1 {
		bindIndex = int(ifindexes[0])
	}
	sa := &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: bindIndex}
	if err := unix.Bind(fd, sa); err != nil {
		return nil, fmt.Errorf("bind packet socket: %w", err)
	}
	if err := s.watch(ctx); err != nil {
		return nil, err
	}
	s.timeout = int(cfg.BlockTimeout / time.Millisecond)
	return s, nil
}

// resolve maps interface names to indexes in the socket's network namespace.
func resolve(fd int, names []string) ([]int32, error) {
	idx := make([]int32, 0, len(names))
	for _, n := range names {
		ifr, err := unix.NewIfreq(n)
		if err != nil {
			return nil, fmt.Errorf("interface %q: %w", n, err)
		}
		if err := unix.IoctlIfreq(fd, unix.SIOCGIFINDEX, ifr); err != nil {
			if errors.Is(err, unix.ENODEV) {
				return nil, fmt.Errorf("interface %q: no such interface", n)
			}
			return nil, fmt.Errorf("interface %q: %w", n, err)
		}
		idx = append(idx, int32(ifr.Uint32()))
	}
	return idx, nil
}

// watch makes eventFD readable once ctx is done, so that a ReadFrame
// blocked in poll wakes up at once.
func (s *Source) watch(ctx context.Context) error {
	efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return fmt.Errorf("eventfd: %w", err)
	}
	s.eventFD = efd
	s.pollFDs = []unix.PollFd{
		{Fd: int32(s.fd), Events: unix.POLLIN | unix.POLLERR},
		{Fd: int32(efd), Events: unix.POLLIN},
	}
	s.stopCtx = context.AfterFunc(ctx, func() {
		s.done.Store(true)
		s.mu.Lock()
		defer s.mu.Unlock()
		if !s.closed {
			one := [8]byte{1}
			_, _ = unix.Write(efd, one[:])
		}
	})
	return nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// Close stops the capture and frees the ring. Frames returned earlier are
// invalid afterwards.
func (s *Source) Close() error {
	if s.stopCtx != nil {
		s.stopCtx()
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.readStatsLocked()
	st := s.stats
	s.mu.Unlock()
	err := s.release()
	slog.Debug("live capture stopped", "interfaces", s.name, "packets", st.Packets, "drops", st.Drops)
	if err != nil {
		return fmt.Errorf("close capture on %s: %w", s.name, err)
	}
	return nil
}

// release frees everything Open acquired; it is safe on a half-open Source.
func (s *Source) release() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	errs := []error{s.ring.unmap()}
	if s.links != nil {
		errs = append(errs, s.links.close())
	}
	if s.eventFD >= 0 {
		errs = append(errs, unix.Close(s.eventFD))
	}
	errs = append(errs, unix.Close(s.fd))
	return errors.Join(errs...)
}

// Stats returns the kernel's counters accumulated since Open. Growing drop
// counts are logged as warnings.
func (s *Source) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.readStatsLocked()
	}
	return s.stats
}

// readStatsLocked adds the kernel's counters to s.stats; the kernel resets
// them on every read.
func (s *Source) readStatsLocked() {
	st, err := unix.GetsockoptTpacketStatsV3(s.fd, unix.SOL_PACKET, unix.PACKET_STATISTICS)
	if err != nil {
		slog.Warn("live capture: reading kernel statistics", "interfaces", s.name, "err", err)
		return
	}
	s.stats.Packets += uint64(st.Packets)
	s.stats.Drops += uint64(st.Drops)
	s.stats.FreezeQueue += uint64(st.Freeze_q_cnt)
	if st.Drops > 0 {
		slog.Warn("live capture: kernel dropped packets", "interfaces", s.name,
			"dropped", st.Drops, "dropped_total", s.stats.Drops, "packets_total", s.stats.Packets)
	}
}

// Interfaces returns the names of the interfaces being captured: the
// configured ones, or for "any" every interface that is up now.
func (s *Source) Interfaces() []string {
	if s.names != nil {
		return append([]string(nil), s.names...)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	names, err := s.links.list()
	if err != nil {
		slog.Warn("live capture: listing interfaces", "err", err)
		return nil
	}
	return names
}
