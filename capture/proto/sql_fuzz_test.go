package proto

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

var updateSQLSeeds = flag.Bool("update-seeds-sql", false, "rewrite the seeds of FuzzPostgres, FuzzMySQL, FuzzDNSTCP, FuzzDNSParse and FuzzSQLKeyword under testdata/fuzz")

// A fuzz script is a connection: segments, each a header byte (bit 0:
// from the client; bit 1: the capture keeps only half of it), a length
// byte and the bytes.
func script(segs []sqlSeg) []byte {
	var b []byte
	for _, s := range segs {
		for d := s.data; ; {
			n := min(len(d), 255)
			h := byte(0)
			if s.client {
				h = 1
			}
			b = append(append(b, h, byte(n)), d[:n]...)
			if d = d[n:]; len(d) == 0 {
				break
			}
		}
	}
	return b
}

// play runs a script through a Conn and checks what the tracker relies on.
func play(t *testing.T, port uint16, sc []byte) {
	tab := NewTables()
	var c Conn
	c.Open(port)
	lastSrv := false
	for len(sc) >= 2 {
		h, n := sc[0], int(sc[1])
		sc = sc[2:]
		n = min(n, len(sc))
		data := sc[:n]
		sc = sc[n:]
		if h&2 != 0 {
			data = data[:n/2]
		}
		if h&1 != 0 {
			if lastSrv {
				checkTxn(t, tab, &c)
			}
			c.Client(tab, data, n)
			lastSrv = false
		} else {
			c.Server(tab, data, n)
			lastSrv = true
		}
	}
	checkTxn(t, tab, &c)
}

func checkTxn(t *testing.T, tab *Tables, c *Conn) {
	op, st, r := c.Txn()
	if r >= NumResults || int(op) >= tab.Ops.Len() || int(st) >= tab.Statuses.Len() {
		t.Fatalf("Txn = %d, %d, %d with %d ops and %d statuses", op, st, r, tab.Ops.Len(), tab.Statuses.Len())
	}
	if r != None && st == NoName {
		t.Fatalf("result %v without a status", r)
	}
}

func sqlSeeds(t testing.TB) map[string][][]sqlSeg {
	var (
		prep     = pgPreparedSegs()
		mysql    = append(myLoginSegs(), cli(myQ(myQuery, "SELECT 1")), srv(myPacket(1, myERRPayload(1146))), cli(myStmt(myExecute, 1)), srv(myOKPkt(1)))
		dnsConns = [][]sqlSeg{{cli(dnsTCP(dnsMsgBytes(1, 1, false, 0))), srv(dnsTCP(dnsMsgBytes(1, 1, true, 3)))}}
	)
	return map[string][][]sqlSeg{
		"FuzzPostgres": {pgStartupSegs(), prep, {cli(pgStartupMsg(pgSSLReq)), srv([]byte("S"))}},
		"FuzzMySQL":    {mysql, {srv(myGreetingPkt()), cli(myPacket(1, make([]byte, 40))), srv(myPacket(2, myERRPayload(1045)))}},
		"FuzzDNSTCP":   dnsConns,
	}
}

// pgPreparedSegs is the prepared-statement scenario as
// segments (shared by the seeds).
func pgPreparedSegs() []sqlSeg {
	bindDone := join(pgMsg('2'), pgMsg('n'), pgMsg('C', "UPDATE 1\x00"), pgReadyMsg)
	return append(pgStartupSegs(),
		cli(pgMsg('P', "P_0\x00", "BEGIN;\x00", "\x00\x00"), pgMsg('S')), srv(pgMsg('1'), pgReadyMsg),
		cli(pgBindExec("P_0")), srv(bindDone),
		cli(pgExtended("", "SELECT 1")), srv(pgMsg('1'), pgMsg('2'), pgError("42P01"), pgReadyMsg))
}

func fuzzConn(f *testing.F, port uint16) {
	for _, segs := range sqlSeeds(f)[f.Name()] {
		f.Add(port, script(segs))
	}
	f.Fuzz(func(t *testing.T, port uint16, sc []byte) { play(t, port, sc) })
}

func FuzzPostgres(f *testing.F) { fuzzConn(f, 5432) }
func FuzzMySQL(f *testing.F)    { fuzzConn(f, 3306) }
func FuzzDNSTCP(f *testing.F)   { fuzzConn(f, 53) }

// FuzzDNSParse checks ParseDNS never panics and agrees with itself on a
// prefix: a cut message never gains a question type.
func FuzzDNSParse(f *testing.F) {
	f.Add(dnsMsgBytes(1, 1, false, 0))
	f.Add(dnsMsgBytes(2, 65, true, 2))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, ok := ParseDNS(b)
		if ok != (len(b) >= dnsHeaderLen) {
			t.Fatalf("ok %v for %d bytes", ok, len(b))
		}
		if StrictDNSQuery(b) && (!ok || m.Response || m.Opcode != 0) {
			t.Fatalf("strict query %+v", m)
		}
		var buf [10]byte
		if name := dnsTypeName(m.QType, &buf); len(name) == 0 {
			t.Fatal("empty type name")
		}
		if name := dnsRcodeName(m.Rcode, &buf); len(name) == 0 {
			t.Fatal("empty rcode name")
		}
	})
}

// TestUpdateSQLSeeds writes the committed seeds (-update-seeds-sql).
func TestUpdateSQLSeeds(t *testing.T) {
	if !*updateSQLSeeds {
		t.Skip("run with -update-seeds-sql to rewrite the seeds")
	}
	ports := map[string]uint16{"FuzzPostgres": 5432, "FuzzMySQL": 3306, "FuzzDNSTCP": 53}
	for name, conns := range sqlSeeds(t) {
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
	kw := filepath.Join("testdata", "fuzz", "FuzzSQLKeyword")
	if err := os.MkdirAll(kw, 0o755); err != nil {
		t.Fatal(err)
	}
	for i, q := range []string{"SELECT 1", "/*!40101 SET NAMES utf8 */", "-- c\nBEGIN", "/* a /* b */ c */ WITH x", "((select", "#x\nSHOW"} {
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", q)
		if err := os.WriteFile(filepath.Join(kw, fmt.Sprintf("query-%02d", i)), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzDNSParse")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i, b := range [][]byte{dnsMsgBytes(1, 1, false, 0), dnsMsgBytes(2, 65, true, 2), dnsMsgBytes(3, 28, true, 3)[:20]} {
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("msg-%02d", i)), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
