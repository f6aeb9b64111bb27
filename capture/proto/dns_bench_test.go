package proto

import (
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// The two ways to read a DNS message on the hot path: gopacket's layer,
// reused, and the header + first question that the parser needs.

func benchDNSMessages(b *testing.B) [][]byte {
	return [][]byte{
		dnsQuery(b, 1, layers.DNSTypeA, false, 0),
		dnsQuery(b, 1, layers.DNSTypeA, true, 0),
		dnsQuery(b, 2, layers.DNSTypeAAAA, true, 3),
	}
}

func BenchmarkDNSGopacket(b *testing.B) {
	msgs := benchDNSMessages(b)
	var d layers.DNS
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if err := d.DecodeFromBytes(msgs[i%len(msgs)], gopacket.NilDecodeFeedback); err != nil || len(d.Questions) != 1 {
			b.Fatal(err)
		}
	}
}

func BenchmarkDNSParse(b *testing.B) {
	msgs := benchDNSMessages(b)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if m, ok := ParseDNS(msgs[i%len(msgs)]); !ok || m.QType == 0 {
			b.Fatal(m)
		}
	}
}

// BenchmarkDNSGopacketTXT decodes a response with TXT answers, whose
// strings gopacket keeps in a fresh slice per record.
func BenchmarkDNSGopacketTXT(b *testing.B) {
	d := &layers.DNS{ID: 3, QR: true, Questions: []layers.DNSQuestion{{Name: []byte("corp.internal"), Type: layers.DNSTypeTXT, Class: layers.DNSClassIN}},
		Answers: []layers.DNSResourceRecord{{Name: []byte("corp.internal"), Type: layers.DNSTypeTXT, Class: layers.DNSClassIN, TTL: 60, TXTs: [][]byte{[]byte("v=spf1 mx -all")}}}}
	buf := gopacket.NewSerializeBuffer()
	if err := d.SerializeTo(buf, gopacket.SerializeOptions{FixLengths: true}); err != nil {
		b.Fatal(err)
	}
	msg := buf.Bytes()
	var r layers.DNS
	b.ReportAllocs()
	for b.Loop() {
		if err := r.DecodeFromBytes(msg, gopacket.NilDecodeFeedback); err != nil {
			b.Fatal(err)
		}
	}
}
