package store

import "testing"

// BenchmarkDistAcc merges stored distributions as Servers does: 36 rows
// (an hour of 3 sensors) per accumulator, then the merged window.Dist.
// ns/op is per stored distribution.
func BenchmarkDistAcc(b *testing.B) {
	g := newGen(45)
	var blobs [][]byte
	for range benchPool {
		s, _ := g.summary(addr(1), t0, benchValues)
		for i := range s.Metrics {
			blobs = append(blobs, encodeDist(&s.Metrics[i]))
		}
	}
	b.ReportAllocs()
	var acc distAcc
	i := 0
	for b.Loop() {
		if err := acc.add(blobs[i%len(blobs)]); err != nil {
			b.Fatal(err)
		}
		if i++; i%36 == 0 {
			if d, err := acc.dist(); err != nil || d.Count == 0 {
				b.Fatal(err)
			}
			acc = distAcc{}
		}
	}
}
