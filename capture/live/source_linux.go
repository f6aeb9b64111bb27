package live

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

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
	sock    *os.File // fd, in the runtime's network poller
	stopCtx func() bool
	done    atomic.Bool
	ring    ring
	timeout int // block timeout, ms

	// The reader parks in the runtime's network poller, not in a blocking
	// poll(2): a goroutine blocked in a system call keeps the runtime's
	// monitor thread waking every 20 µs to take its P back, and pinned to
	// one CPU with the reader, those wake-ups preempt it over a thousand
	// times a second. The conditions are built once, so waits allocate
	// nothing.
	rc                               syscall.RawConn
	woken                            bool // the current wait has been woken once
	curReady, nextReady, readyOrStop func(uintptr) bool

	// Drain state once ctx is done; used by ReadFrame's goroutine only.
	drainStarted, drained bool
	drainLeft             int // blocks still to read

	lastFill int64 // ns the last block coalesce saw took to fill; 0 if timed out

	mu     sync.Mutex // guards the fields below and fd against Close
	closed bool
	stats  Stats
	links  *linkLister
}

func open(ctx context.Context, cfg Config, user []bpf.Instruction, names []string, name string) (_ *Source, err error) {
	// Protocol 0 receives nothing until bind, so no packet reaches the
	// ring before the filter is attached.
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
			return nil, ErrPermission
		}
		return nil, fmt.Errorf("packet socket: %w", err)
	}
	s := &Source{ctx: ctx, name: name, names: names, fd: fd}
	if err := s.initWait(os.NewFile(uintptr(fd), "packet socket")); err != nil {
		return nil, err
	}
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
	s.timeout = int(cfg.BlockTimeout / time.Millisecond)
	s.stopCtx = context.AfterFunc(ctx, s.stop)
	return s, nil
}

// initWait sets up waiting on sock, a non-blocking descriptor: the packet
// socket, or in tests any descriptor the poller accepts.
func (s *Source) initWait(sock *os.File) error {
	rc, err := sock.SyscallConn()
	if err == nil {
		// Fails for a descriptor the runtime's poller did not take.
		err = sock.SetReadDeadline(time.Time{})
	}
	if err != nil {
		sock.Close()
		return fmt.Errorf("packet socket: network poller: %w", err)
	}
	s.sock, s.rc = sock, rc
	s.curReady = s.condition(func() bool { return s.ring.ready(s.ring.block) })
	s.nextReady = s.condition(func() bool { return s.ring.ready(s.ring.block+1) || s.done.Load() })
	s.readyOrStop = s.condition(func() bool { return s.ring.ready(s.ring.block) || s.done.Load() })
	return nil
}

// condition wraps ok for RawConn.Read: on a wake-up that finds ok still
// false, a pending socket error is read and logged (and so cleared).
func (s *Source) condition(ok func() bool) func(uintptr) bool {
	return func(uintptr) bool {
		if ok() {
			return true
		}
		if s.woken {
			s.clearSocketError()
		}
		s.woken = true
		return false
	}
}

// stop runs once the context is done: ReadFrame then drains the ring and
// returns the context's error. The past deadline wakes a waiting reader.
func (s *Source) stop() {
	s.done.Store(true)
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		_ = s.sock.SetReadDeadline(time.Unix(1, 0))
	}
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
	errs = append(errs, s.sock.Close()) // and so fd
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
