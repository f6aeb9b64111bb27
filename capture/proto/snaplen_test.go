package proto_test

import (
	"fmt"
	"io"
	"path/filepath"
	"testing"
	"time"

	"github.com/pastmon/pastmon/capture"
	"github.com/pastmon/pastmon/capture/tcp"
)

// frames is an in-memory capture, cut to snap bytes a frame as it is read.
type frames struct {
	all  []capture.Frame
	i    int
	snap int
}

func (s *frames) ReadFrame(f *capture.Frame) error {
	if s.i == len(s.all) {
		return io.EOF
	}
	*f = s.all[s.i]
	f.Data = f.Data[:min(len(f.Data), s.snap)]
	s.i++
	return nil
}

func (s *frames) Close() error { return nil }

// BenchmarkSnaplen runs the l7 capture cut to several snap lengths and
// reports, per protocol, the share of transactions (and TLS server names)
// named exactly as with the whole frames: what the parsers need from the
// first segment of each request and response. It also reports the CPU
// time per packet of the whole pipeline at each snap length.
//
//	go test -run '^$' -bench Snaplen -benchtime 1x ./capture/proto/
func BenchmarkSnaplen(b *testing.B) {
	dir := l7Dir(b)
	src, err := capture.OpenFile(filepath.Join(dir, "l7-mix.pcap.gz"))
	if err != nil {
		b.Fatal(err)
	}
	var all []capture.Frame
	for {
		var f capture.Frame
		if err := src.ReadFrame(&f); err == io.EOF {
			break
		} else if err != nil {
			b.Fatal(err)
		}
		f.Data = append([]byte(nil), f.Data...)
		all = append(all, f)
	}
	src.Close()
	run := func(snap int) map[string]*tcp.Record {
		recs := map[string]*tcp.Record{}
		cfg := capture.Config{OnRecord: func(r *tcp.Record) { recs[r.Client.String()+" "+r.Server.String()+" "+r.Start.String()] = r }}
		if _, err := capture.Run(b.Context(), &frames{all: all, snap: snap}, cfg); err != nil {
			b.Fatal(err)
		}
		return recs
	}
	full := run(1 << 18)
	for _, snap := range []int{96, 128, 160, 192, 224, 256, 320, 384, 512, 640, 768, 1024} {
		b.Run(fmt.Sprintf("snap=%d", snap), func(b *testing.B) {
			var recs map[string]*tcp.Record
			start := time.Now()
			for range b.N {
				recs = run(snap)
			}
			perPacket := float64(time.Since(start).Nanoseconds()) / float64(b.N*len(all))
			same, total := map[string]int{}, map[string]int{}
			for k, want := range full {
				got := recs[k]
				p := want.Protocol
				if want.SNI != nil {
					total["sni"]++
					if got != nil && got.SNI != nil && *got.SNI == *want.SNI {
						same["sni"]++
					}
				}
				for i, tx := range want.Transactions {
					if tx.Operation == nil && tx.Status == nil {
						continue
					}
					total[p]++
					if got != nil && got.Protocol == p && i < len(got.Transactions) &&
						str(got.Transactions[i].Operation) == str(tx.Operation) && str(got.Transactions[i].Status) == str(tx.Status) {
						same[p]++
					}
				}
			}
			for p, n := range total {
				b.ReportMetric(100*float64(same[p])/float64(n), p+"-%")
			}
			b.ReportMetric(perPacket, "ns/packet")
		})
	}
}
