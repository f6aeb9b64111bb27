package window

import (
	"math"
	"math/rand/v2"
	"testing"
)

// benchDists are distributions as the store holds them: 20 values of one
// 5-minute window, and the merge of an hour of 3 sensors (720 values).
func benchDists() map[string]*Dist {
	rng := rand.New(rand.NewPCG(9, 10))
	var window, hour Dist
	for i := range 720 {
		v := math.Exp(rng.NormFloat64()*1.5 + 7)
		if i < 20 {
			window.Add(v)
		}
		hour.Add(v)
	}
	return map[string]*Dist{"20values": &window, "720values": &hour}
}

func BenchmarkSetSketch(b *testing.B) {
	for name, d := range benchDists() {
		sk := d.Sketch()
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(sk)))
			for b.Loop() {
				e := Dist{Count: d.Count, Sum: d.Sum, Min: d.Min, Max: d.Max}
				if err := e.SetSketch(sk); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkUnmarshalBinary(b *testing.B) {
	for name, d := range benchDists() {
		bin, err := d.MarshalBinary()
		if err != nil {
			b.Fatal(err)
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(bin)))
			for b.Loop() {
				var e Dist
				if err := e.UnmarshalBinary(bin); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkMergeEncoded merges encoded 5-minute windows into one Dist, as
// the store merges stored distributions.
func BenchmarkMergeEncoded(b *testing.B) {
	rng := rand.New(rand.NewPCG(11, 12))
	var parts []Dist
	for range 64 {
		var d Dist
		for range 20 {
			d.Add(math.Exp(rng.NormFloat64()*1.5 + 7))
		}
		parts = append(parts, d)
	}
	sketches := make([][]byte, len(parts))
	for i := range parts {
		sketches[i] = parts[i].Sketch()
	}
	b.ReportAllocs()
	var acc Dist
	i := 0
	for b.Loop() {
		if i%(36*len(parts)) == 0 {
			acc = Dist{}
		}
		p := &parts[i%len(parts)]
		if err := acc.MergeEncoded(p.Count, p.Sum, p.Min, p.Max, sketches[i%len(parts)]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
