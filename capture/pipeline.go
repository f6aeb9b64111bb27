package capture

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"github.com/pastmon/pastmon/capture/aggregate"
	"github.com/pastmon/pastmon/capture/decode"
	"github.com/pastmon/pastmon/capture/packet"
	"github.com/pastmon/pastmon/capture/proto"
	"github.com/pastmon/pastmon/capture/tcp"
	"github.com/pastmon/pastmon/capture/udp"
	"github.com/pastmon/pastmon/capture/window"
)

// Config sets up Run.
type Config struct {
	// Filter is a tcpdump filter expression; frames it rejects are
	// counted and dropped. Empty keeps every frame.
	Filter string
	// MaxFlows bounds the flow table (tcp.DefaultMaxFlows when 0).
	MaxFlows int
	// Live makes ErrIdle from the source advance the packet clock to the
	// wall clock, so that windows close while a link is quiet.
	Live bool
	// FlushInterval, when > 0, hands the open windows' partial summaries
	// to OnWindow every FlushInterval of packet time; the receiver merges
	// the parts of a window.
	FlushInterval time.Duration
	// OnWindow receives every finished (or partial) summary and owns it.
	OnWindow func(window.Summary)
	// OnRecord, when set, receives a record per connection as it ends.
	OnRecord func(*tcp.Record)
	// NoProtocols turns the application protocol parsers (package proto)
	// off: every connection is timed as plain tcp.
	NoProtocols bool
	// Stats, when set, is kept up to date for concurrent readers.
	Stats *LiveStats
}

// Stats counts what Run saw.
type Stats struct {
	Packets    uint64        // frames read
	Bytes      uint64        // their length on the wire
	Filtered   uint64        // frames the filter rejected
	Decoded    uint64        // TCP segments decoded and tracked
	Skipped    decode.Counts // frames decoded with each Reason (OK = Decoded)
	Flows      uint64        // connections tracked at the end
	Evicted    uint64        // connections evicted from a full table
	Duplicates uint64        // segments of a connection seen on a second interface
	Untimed    uint64        // connections picked up mid-stream with no known server
	Dropped    uint64        // counts and samples dropped: too many servers at once
	Protocols  proto.Stats   // connections by protocol recognised, and parser fallbacks
	Datagrams  uint64        // UDP datagrams tracked as DNS (not in Decoded)
	UDP        udp.Stats     // DNS over UDP: flows, pending queries, what their bounds dropped
	// ListenersDropped counts servers forgotten from a full set of those
	// seen answering SYNs (tcp.MaxListeners).
	ListenersDropped uint64
}

// LiveStats mirrors Stats with atomics, for a heartbeat to read while Run
// works. Run publishes into it every few thousand packets, whenever the
// source reports ErrIdle, and when it returns.
type LiveStats struct {
	packets, bytes, filtered, decoded        atomic.Uint64
	skipped                                  [decode.NumReasons]atomic.Uint64
	flows, evicted, duplicates, untimedFlows atomic.Uint64
	dropped, listenersDropped                atomic.Uint64
	datagrams, udpFlows, udpPending          atomic.Uint64
	udpFlowsDropped, udpPendingDropped       atomic.Uint64
	udpUnmatched                             atomic.Uint64
}

// Snapshot reads the counters.
func (l *LiveStats) Snapshot() Stats {
	s := Stats{
		Packets: l.packets.Load(), Bytes: l.bytes.Load(), Filtered: l.filtered.Load(), Decoded: l.decoded.Load(),
		Flows: l.flows.Load(), Evicted: l.evicted.Load(), Duplicates: l.duplicates.Load(), Untimed: l.untimedFlows.Load(),
		Dropped: l.dropped.Load(), Datagrams: l.datagrams.Load(), ListenersDropped: l.listenersDropped.Load(),
		UDP: udp.Stats{Flows: int(l.udpFlows.Load()), Pending: int(l.udpPending.Load()),
			FlowsDropped: l.udpFlowsDropped.Load(), PendingDropped: l.udpPendingDropped.Load(), Unmatched: l.udpUnmatched.Load()},
	}
	for i := range s.Skipped {
		s.Skipped[i] = l.skipped[i].Load()
	}
	return s
}

func (l *LiveStats) publish(s *Stats) {
	l.packets.Store(s.Packets)
	l.bytes.Store(s.Bytes)
	l.filtered.Store(s.Filtered)
	l.decoded.Store(s.Decoded)
	for i := range s.Skipped {
		l.skipped[i].Store(s.Skipped[i])
	}
	l.flows.Store(s.Flows)
	l.evicted.Store(s.Evicted)
	l.duplicates.Store(s.Duplicates)
	l.untimedFlows.Store(s.Untimed)
	l.dropped.Store(s.Dropped)
	l.listenersDropped.Store(s.ListenersDropped)
	l.datagrams.Store(s.Datagrams)
	l.udpFlows.Store(uint64(s.UDP.Flows))
	l.udpPending.Store(uint64(s.UDP.Pending))
	l.udpFlowsDropped.Store(s.UDP.FlowsDropped)
	l.udpPendingDropped.Store(s.UDP.PendingDropped)
	l.udpUnmatched.Store(s.UDP.Unmatched)
}

// housekeepEvery is the packet-time interval of the tracker's table walk
// and of window closing.
const housekeepEvery = 5 * time.Second

// Run reads src until io.EOF, a read error or the end of ctx: every frame
// goes through the filter, the decoder and the TCP tracker, and every
// finished window summary to cfg.OnWindow.
//
// At io.EOF every connection ends as if idle and every open window is
// flushed; Run returns nil. When ctx ends it flushes likewise but does not
// time turns still in flight, and returns ctx.Err(). A read error flushes
// what was read and returns the error. Run does not close src.
func Run(ctx context.Context, src Source, cfg Config) (Stats, error) {
	p, err := newPipeline(cfg)
	if err != nil {
		return Stats{}, err
	}
	err = p.loop(ctx, src)
	p.publish()
	return p.stats, err
}

type pipeline struct {
	cfg       Config
	match     func(link uint16, data []byte) (bool, error)
	tracker   *tcp.Tracker
	udp       *udp.Tracker
	agg       *aggregate.Aggregator
	stats     Stats
	every     int64
	nextHouse int64
	nextFlush int64
	started   bool
}

func newPipeline(cfg Config) (*pipeline, error) {
	if cfg.OnWindow == nil {
		cfg.OnWindow = func(window.Summary) {}
	}
	p := &pipeline{cfg: cfg, every: int64(housekeepEvery)}
	if cfg.FlushInterval > 0 && int64(cfg.FlushInterval) < p.every {
		p.every = int64(cfg.FlushInterval)
	}
	if cfg.Filter != "" {
		m, err := newMatcher(cfg.Filter)
		if err != nil {
			return nil, fmt.Errorf("filter %q: %w", cfg.Filter, err)
		}
		p.match = m
	}
	p.agg = aggregate.New(cfg.OnWindow)
	tc := tcp.Config{MaxFlows: cfg.MaxFlows, OnRecord: cfg.OnRecord}
	if !cfg.NoProtocols {
		tc.Proto = proto.NewTables()
		p.udp = udp.New(udp.Config{Tables: tc.Proto, OnRecord: cfg.OnRecord}, p.agg)
	}
	p.tracker = tcp.New(tc, p.agg)
	return p, nil
}

const ctxCheckEvery = 4096

func (p *pipeline) loop(ctx context.Context, src Source) error {
	var (
		f   Frame
		pkt packet.Packet
		n   uint
	)
	for {
		if n++; n%ctxCheckEvery == 0 {
			if ctx.Err() != nil {
				p.end(false)
				return ctx.Err()
			}
			p.publish()
		}
		if err := src.ReadFrame(&f); err != nil {
			switch {
			case errors.Is(err, io.EOF):
				p.end(true)
				return nil
			case errors.Is(err, ErrIdle):
				if ctx.Err() != nil {
					p.end(false)
					return ctx.Err()
				}
				if now := time.Now().UnixNano(); p.cfg.Live && now >= p.nextHouse {
					// Counters first: whoever receives a window closed
					// here finds every packet before it counted.
					p.publish()
					p.housekeep(now)
				}
				p.publish()
				continue
			case ctx.Err() != nil:
				p.end(false)
				return ctx.Err()
			default:
				p.end(true)
				return err
			}
		}
		p.frame(&f, &pkt)
	}
}

// frame handles one frame; this is the per-packet hot path.
func (p *pipeline) frame(f *Frame, pkt *packet.Packet) {
	p.stats.Packets++
	p.stats.Bytes += uint64(f.WireLen)
	if p.match != nil {
		ok, err := p.match(f.Link, f.Data)
		if err != nil || !ok {
			p.stats.Filtered++
			return
		}
	}
	pkt.TS, pkt.Iface = f.TS, f.Iface
	r := decode.Decode(f.Link, f.Data, pkt)
	if r == decode.UDP && p.datagram(pkt) {
		return
	}
	p.stats.Skipped.Add(r)
	if r != decode.OK {
		return
	}
	p.stats.Decoded++
	if pkt.TS >= p.nextHouse {
		// Before the packet: a packet far ahead of the clock finds the
		// connections it outlived already gone.
		p.housekeep(pkt.TS)
	}
	p.tracker.Packet(pkt)
}

// datagram hands a UDP datagram to the DNS tracker; false when it is not
// DNS.
func (p *pipeline) datagram(pkt *packet.Packet) bool {
	if p.udp == nil {
		return false
	}
	if pkt.TS >= p.nextHouse {
		p.housekeep(pkt.TS)
	}
	if !p.udp.Packet(pkt) {
		return false
	}
	p.stats.Datagrams++
	return true
}

// housekeep expires connections, closes windows and makes partial flushes.
func (p *pipeline) housekeep(now int64) {
	if !p.started {
		p.started = true
		p.nextFlush = now + int64(p.cfg.FlushInterval)
	}
	p.nextHouse = now + p.every
	p.tracker.Expire(now)
	now = p.tracker.Now()
	if p.udp != nil {
		p.udp.Expire(now)
	}
	p.agg.Advance(now)
	if p.cfg.FlushInterval > 0 && now >= p.nextFlush {
		p.tracker.FlushCounters()
		p.agg.Flush()
		p.nextFlush = now + int64(p.cfg.FlushInterval)
	}
}

func (p *pipeline) end(eof bool) {
	p.tracker.Finish(eof)
	if p.udp != nil {
		p.udp.Finish(eof)
	}
	p.agg.Flush()
}

func (p *pipeline) publish() {
	ts := p.tracker.Stats()
	p.stats.Flows = uint64(ts.Flows)
	p.stats.Evicted = ts.Evicted
	p.stats.Duplicates = ts.Duplicates
	p.stats.Untimed = ts.Untimed
	p.stats.ListenersDropped = ts.ListenersDropped
	p.stats.Dropped = p.agg.Dropped()
	p.stats.Protocols = p.tracker.ProtoStats()
	if p.udp != nil {
		p.stats.UDP = p.udp.Stats()
	}
	if p.cfg.Stats != nil {
		p.cfg.Stats.publish(&p.stats)
	}
}
