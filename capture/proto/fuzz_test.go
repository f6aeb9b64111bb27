package proto

import (
	"crypto/tls"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

var updateSeeds = flag.Bool("update-seeds", false, "rewrite the seeds of FuzzHTTP, FuzzTLS and FuzzRedis under testdata/fuzz")

// toSegs converts the steps of the http, tls and redis tests to the
// segments of a fuzz script (see script in sql_fuzz_test.go).
func toSegs(steps []step) []sqlSeg {
	out := make([]sqlSeg, len(steps))
	for i, s := range steps {
		out[i] = sqlSeg{client: s.dir == 'c', data: []byte(s.data)}
	}
	return out
}

func protoSeeds(t testing.TB) map[string][][]sqlSeg {
	seeds := map[string][][]sqlSeg{}
	for _, c := range httpCases {
		seeds["FuzzHTTP"] = append(seeds["FuzzHTTP"], toSegs(c.segs))
	}
	for _, c := range redisCases {
		seeds["FuzzRedis"] = append(seeds["FuzzRedis"], toSegs(c.segs))
	}
	cert := testCert(t)
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		steps := tlsSession(t, &tls.Config{ServerName: "api.test", InsecureSkipVerify: true, MaxVersion: v, NextProtos: []string{"h2"}},
			&tls.Config{Certificates: []tls.Certificate{cert}})
		seeds["FuzzTLS"] = append(seeds["FuzzTLS"], toSegs(steps))
	}
	seeds["FuzzTLS"] = append(seeds["FuzzTLS"], []sqlSeg{
		{client: true, data: []byte("\x16\x03\x01\x00\x05\x01\x00\x00\x01\x00")},
		{data: []byte("\x15\x03\x03\x00\x02\x02\x46")},
	})
	return seeds
}

// fuzzProto plays the committed seeds (and the fuzzer's inputs) through a
// Conn: no input panics, and Txn only ever names what the tables hold.
func fuzzProto(f *testing.F, port uint16) {
	f.Fuzz(func(t *testing.T, port uint16, sc []byte) { play(t, port, sc) })
}

func FuzzHTTP(f *testing.F)  { fuzzProto(f, 8080) }
func FuzzTLS(f *testing.F)   { fuzzProto(f, 443) }
func FuzzRedis(f *testing.F) { fuzzProto(f, 6379) }

// TestUpdateProtoSeeds writes the seed corpus of FuzzHTTP, FuzzTLS and
// FuzzRedis from the scenarios of their tests (-update-seeds).
func TestUpdateProtoSeeds(t *testing.T) {
	if !*updateSeeds {
		t.Skip("run with -update-seeds to rewrite the seeds")
	}
	ports := map[string]uint16{"FuzzHTTP": 8080, "FuzzTLS": 443, "FuzzRedis": 6379}
	for name, conns := range protoSeeds(t) {
		dir := filepath.Join("testdata", "fuzz", name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for i, segs := range conns {
			body := fmt.Sprintf("go test fuzz v1\nuint16(%d)\n[]byte(%q)\n", ports[name], script(segs))
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("scenario-%02d", i)), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}
