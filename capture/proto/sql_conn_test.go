package proto

import (
	"encoding/binary"
	"fmt"
	"strings"
	"testing"
)

// sqlSeg is one payload segment of a scripted connection: from the client or
// the server; cut keeps only the first cut bytes captured (0: all).
type sqlSeg struct {
	client bool
	data   []byte
	cut    int
}

func cli(parts ...[]byte) sqlSeg { return sqlSeg{client: true, data: join(parts...)} }
func srv(parts ...[]byte) sqlSeg { return sqlSeg{data: join(parts...)} }

func join(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

// turns plays segments through a Conn the way the TCP tracker does: a
// client segment after a server one ends the turn (Txn). It returns the
// turns as "OP STATUS result", and the final protocol.
func turns(t *testing.T, port uint16, segs []sqlSeg) ([]string, Protocol) {
	t.Helper()
	tab := NewTables()
	var c Conn
	c.Open(port)
	var out []string
	lastSrv, any := false, false
	end := func() {
		op, st, r := c.Txn()
		out = append(out, strings.TrimSpace(fmt.Sprintf("%s %s %s", tab.Ops.Name(op), tab.Statuses.Name(st), r)))
	}
	for _, s := range segs {
		data := s.data
		if s.cut > 0 {
			data = data[:s.cut]
		}
		if s.client {
			if lastSrv {
				end()
			}
			c.Client(tab, data, len(s.data))
			lastSrv, any = false, true
		} else {
			c.Server(tab, data, len(s.data))
			lastSrv = any
		}
	}
	if any {
		end()
	}
	return out, c.Protocol()
}

func checkTurns(t *testing.T, name string, got []string, want ...string) {
	t.Helper()
	if strings.Join(got, " | ") != strings.Join(want, " | ") {
		t.Errorf("%s:\n got %q\nwant %q", name, got, want)
	}
}

var (
	pgReadyMsg = pgMsg('Z', "I")
	pgAuthOK   = pgMsg('R', "\x00\x00\x00\x00")
	pgSASL     = pgMsg('R', "\x00\x00\x00\x0aSCRAM-SHA-256\x00\x00")
)

func pgStartupSegs() []sqlSeg {
	return []sqlSeg{
		cli(pgStartupMsg(pgSSLReq)), srv([]byte("N")),
		cli(pgStartupMsg(pgProto30, "user", "bench", "database", "bench")), srv(pgSASL),
		cli(pgMsg('p', "SCRAM-SHA-256\x00", "\x00\x00\x00\x04abcd")), srv(pgMsg('R', "\x00\x00\x00\x0bxyz")),
		cli(pgMsg('p', "proof")), srv(pgAuthOK, pgMsg('S', "server_version\x0015\x00"), pgMsg('K', "12345678"), pgReadyMsg),
	}
}

func TestPostgresStartupAndSimpleQuery(t *testing.T) {
	segs := append(pgStartupSegs(),
		cli(pgMsg('Q', "SELECT 1\x00")), srv(pgMsg('T', "\x00\x00"), pgMsg('D', "\x00\x00"), pgMsg('C', "SELECT 1\x00"), pgReadyMsg),
		cli(pgMsg('Q', "select * from missing_table\x00")), srv(pgError("42P01"), pgReadyMsg),
		cli(pgMsg('Q', "UPDATE t SET a = 1\x00")), srv(pgError("55P03"), pgReadyMsg),
		cli(pgMsg('Q', "SELECT 10/0\x00")), srv(pgMsg('N', "SNOTICE\x00C00000\x00\x00"), pgError("22012"), pgReadyMsg),
		cli(pgMsg('Q', "BEGIN; UPDATE t SET a = 1; SELECT 1/0; ROLLBACK\x00")), srv(pgMsg('C', "BEGIN\x00"), pgMsg('C', "UPDATE 1\x00"), pgError("22012"), pgReadyMsg),
		cli(pgMsg('X')),
	)
	got, p := turns(t, 5432, segs)
	checkTurns(t, "postgres", got,
		"STARTUP OK ok", "STARTUP OK ok", "STARTUP OK ok", "STARTUP OK ok",
		"SELECT OK ok", "SELECT 42P01 client_error", "UPDATE 55P03 server_error",
		"SELECT 22012 client_error", "BEGIN 22012 client_error", "TERMINATE")
	if p != Postgres {
		t.Errorf("protocol %v", p)
	}
}

func TestPostgresStartupFailure(t *testing.T) {
	got, _ := turns(t, 5432, []sqlSeg{
		cli(pgStartupMsg(pgProto30, "user", "bench")), srv(pgSASL),
		cli(pgMsg('p', "SCRAM-SHA-256\x00", "\x00\x00\x00\x04abcd")), srv(pgMsg('E', "SFATAL\x00C28P01\x00Mpassword authentication failed\x00\x00")),
	})
	checkTurns(t, "auth failure", got, "STARTUP OK ok", "STARTUP 28P01 client_error")
}

func pgExtended(stmt, query string) []byte {
	return join(pgMsg('P', stmt+"\x00", query+"\x00", "\x00\x00"),
		pgMsg('B', "\x00", stmt+"\x00", "\x00\x00\x00\x00\x00\x00"),
		pgMsg('D', "P\x00"), pgMsg('E', "\x00", "\x00\x00\x00\x00"), pgMsg('S'))
}

func pgBindExec(stmt string) []byte {
	return join(pgMsg('B', "\x00", stmt+"\x00", "\x00\x00\x00\x00\x00\x00"),
		pgMsg('D', "P\x00"), pgMsg('E', "\x00", "\x00\x00\x00\x00"), pgMsg('S'))
}

func TestPostgresPreparedByName(t *testing.T) {
	bindDone := join(pgMsg('2'), pgMsg('n'), pgMsg('C', "UPDATE 1\x00"), pgReadyMsg)
	segs := append(pgStartupSegs(),
		// pgbench -M prepared: Parse+Sync, then Bind/Describe/Execute/Sync by name.
		cli(pgMsg('P', "P_0\x00", "BEGIN;\x00", "\x00\x00"), pgMsg('S')), srv(pgMsg('1'), pgReadyMsg),
		cli(pgBindExec("P_0")), srv(bindDone),
		cli(pgMsg('P', "P_1\x00", "UPDATE pgbench_accounts SET abalance = 1\x00", "\x00\x00"), pgMsg('S')), srv(pgMsg('1'), pgReadyMsg),
		cli(pgBindExec("P_1")), srv(bindDone),
		cli(pgBindExec("P_0")), srv(bindDone),
		// Extended, unnamed statement, all in one turn.
		cli(pgExtended("", "select abalance from pgbench_accounts where aid = $1")), srv(pgMsg('1'), pgMsg('2'), pgMsg('T', "\x00\x00"), pgMsg('C', "SELECT 1\x00"), pgReadyMsg),
		// A statement prepared before the capture began.
		cli(pgBindExec("S_9")), srv(bindDone),
		// Close forgets the name.
		cli(pgMsg('C', "S", "P_1\x00"), pgMsg('S')), srv(pgMsg('3'), pgReadyMsg),
		cli(pgBindExec("P_1")), srv(pgError("26000"), pgReadyMsg),
		cli(pgExtended("", "INSERT INTO mix_keys VALUES ('a', 2)")), srv(pgMsg('1'), pgMsg('2'), pgError("23505"), pgReadyMsg),
	)
	got, _ := turns(t, 5432, segs)
	checkTurns(t, "prepared", got[4:],
		"PREPARE OK ok", "BEGIN OK ok", "PREPARE OK ok", "UPDATE OK ok", "BEGIN OK ok",
		"SELECT OK ok", "EXECUTE OK ok", "CLOSE OK ok", "EXECUTE 26000 client_error", "INSERT 23505 client_error")
}

func TestPostgresStatementTableBound(t *testing.T) {
	var segs []sqlSeg
	for i := range pgStmts + 2 {
		segs = append(segs, cli(pgMsg('P', fmt.Sprintf("P_%d\x00", i), fmt.Sprintf("%s x\x00", strings.Repeat("K", i+1)), "\x00\x00"), pgMsg('S')), srv(pgMsg('1'), pgReadyMsg))
	}
	for i := range pgStmts + 2 {
		segs = append(segs, cli(pgBindExec(fmt.Sprintf("P_%d", i))), srv(pgMsg('2'), pgReadyMsg))
	}
	got, _ := turns(t, 5432, segs)
	var want []string
	for range pgStmts + 2 {
		want = append(want, "PREPARE OK ok")
	}
	// The two oldest names were replaced by the two newest.
	want = append(want, "EXECUTE OK ok", "EXECUTE OK ok")
	for i := 2; i < pgStmts+2; i++ {
		want = append(want, strings.Repeat("K", i+1)+" OK ok")
	}
	checkTurns(t, "bound", got, want...)
}

func TestPostgresSSL(t *testing.T) {
	_, p := turns(t, 5432, []sqlSeg{cli(pgStartupMsg(pgSSLReq)), srv([]byte("S"))})
	if p != TLS {
		t.Errorf("SSLRequest answered S: protocol %v, want tls", p)
	}
}

func TestPostgresSegments(t *testing.T) {
	// A query spanning three segments, a response whose second segment
	// starts inside a DataRow, and a response cut by the snap length.
	q := pgMsg('Q', "SELECT "+strings.Repeat("x", 3000)+"\x00")
	rows := join(pgMsg('T', "\x00\x00"), pgMsg('D', strings.Repeat("r", 2000)), pgError("57014"), pgReadyMsg)
	segs := append(pgStartupSegs(),
		cli(q[:1000]), cli(q[1000:2000]), cli(q[2000:]),
		srv(rows[:1500]), srv(rows[1500:]),
		cli(pgMsg('Q', "DELETE FROM t\x00")),
		sqlSeg{data: join(pgMsg('D', strings.Repeat("r", 2000)), pgError("40P01"), pgReadyMsg), cut: 100},
		cli(pgMsg('Q', "INSERT INTO t VALUES (1)\x00")), srv(pgMsg('C', "INSERT 0 1\x00"), pgReadyMsg),
	)
	got, _ := turns(t, 5432, segs)
	checkTurns(t, "segments", got[4:], "SELECT 57014 server_error", "DELETE OK ok", "INSERT OK ok")
}

func TestPostgresMidstream(t *testing.T) {
	got, p := turns(t, 15432, []sqlSeg{
		cli(pgMsg('Q', "SELECT 1\x00")), srv(pgMsg('C', "SELECT 1\x00"), pgReadyMsg),
		cli(pgExtended("", "WITH a AS (SELECT 1) SELECT * FROM a")), srv(pgMsg('1'), pgMsg('2'), pgReadyMsg),
	})
	checkTurns(t, "midstream", got, "SELECT OK ok", "WITH OK ok")
	if p != Postgres {
		t.Errorf("protocol %v", p)
	}
	// Garbage where a message must start: tcp from then on.
	got, p = turns(t, 5432, []sqlSeg{cli(pgMsg('Q', "SELECT 1\x00")), srv([]byte("HTTP/1.1 200 OK\r\n\r\n"))})
	if p != TCP || len(got) != 1 || got[0] != "" {
		t.Errorf("garbage: %q, protocol %v", got, p)
	}
}

// MySQL.

func myGreetingPkt() []byte {
	return myPacket(0, []byte{10}, []byte("10.11.19-MariaDB\x00"), make([]byte, 40))
}

func myLoginSegs() []sqlSeg {
	login := append([]byte{0x85, 0xa6, 0xff, 0x01}, make([]byte, 60)...)
	return []sqlSeg{
		srv(myGreetingPkt()),
		cli(myPacket(1, login)),
		srv(myPacket(2, []byte{0xfe}, []byte("mysql_native_password\x00"), make([]byte, 20))),
		cli(myPacket(3, make([]byte, 20))),
		srv(myPacket(4, []byte{0, 0, 0, 2, 0, 0, 0})),
	}
}

func myOKPkt(seq byte) []byte { return myPacket(seq, []byte{0, 1, 0, 2, 0, 0, 0}) }

func myCmd(cmd byte, arg ...byte) []byte { return myPacket(0, []byte{cmd}, arg) }

func myQ(cmd byte, arg string) []byte { return myCmd(cmd, []byte(arg)...) }

func myStmt(cmd byte, id uint32) []byte {
	b := make([]byte, 4)
	binary.LittleEndian.PutUint32(b, id)
	return myCmd(cmd, append(b, 0, 1, 0, 0, 0)...)
}

func myPrepareOKPkt(id uint32) []byte {
	b := []byte{0, 0, 0, 0, 0, 1, 0, 2, 0, 0, 0, 0}
	binary.LittleEndian.PutUint32(b[1:], id)
	return myPacket(1, b)
}

func TestMySQL(t *testing.T) {
	resultSet := join(myPacket(1, []byte{1}), myPacket(2, []byte("\x03def\x00\x00\x00\x011\x00\x0c?\x00")), myPacket(3, []byte{0xfe, 0, 0, 2, 0}),
		myPacket(4, []byte("\x011")), myPacket(5, []byte{0xfe, 0, 0, 2, 0}))
	segs := append(myLoginSegs(),
		cli(myQ(myQuery, "SELECT @@version_comment LIMIT 1")), srv(resultSet),
		cli(myQ(myInitDB, "bench")), srv(myOKPkt(1)),
		cli(myQ(myQuery, "select * from missing")), srv(myPacket(1, myERRPayload(1146))),
		cli(myQ(myQuery, "INSERT INTO t VALUES (1)")), srv(myPacket(1, myERRPayload(1062))),
		cli(myQ(myQuery, "UPDATE t SET a = 1")), srv(myPacket(1, myERRPayload(1213))),
		cli(myQ(myQuery, "SELECTT 1")), srv(myPacket(1, myERRPayload(1064))),
		cli(myCmd(myPing)), srv(myOKPkt(1)),
		cli(myQ(myPrepare, "INSERT INTO mix_stock_ps VALUES (?, ?, ?)")), srv(myPrepareOKPkt(1), myPacket(2, []byte("\x03def")), myPacket(3, []byte{0xfe, 0, 0, 2, 0})),
		cli(myQ(myPrepare, "SELEC ?")), srv(myPacket(1, myERRPayload(1064))),
		cli(myQ(myPrepare, "select name from mix_stock_ps where id = ?")), srv(myPrepareOKPkt(2)),
		cli(myStmt(myExecute, 1)), srv(myOKPkt(1)),
		cli(myStmt(myExecute, 2)), srv(resultSet),
		cli(myStmt(myExecute, 1)), srv(myPacket(1, myERRPayload(1062))),
		cli(myStmt(myStmtReset, 1)), srv(myOKPkt(1)),
		cli(myStmt(myExecute, 77)), srv(myOKPkt(1)),
		// STMT_CLOSE has no answer: the PING after it names the turn.
		cli(myStmt(myStmtClose, 1)), cli(myStmt(myStmtClose, 2)), cli(myCmd(myPing)), srv(myOKPkt(1)),
		cli(myStmt(myExecute, 1)), srv(myPacket(1, myERRPayload(1243))),
		cli(myCmd(myQuit)),
	)
	got, p := turns(t, 3306, segs)
	checkTurns(t, "mysql", got,
		"LOGIN OK ok", "LOGIN OK ok", "SELECT OK ok", "USE OK ok", "SELECT 1146 client_error",
		"INSERT 1062 client_error", "UPDATE 1213 server_error", "SELECTT 1064 client_error", "PING OK ok",
		"PREPARE OK ok", "PREPARE 1064 client_error", "PREPARE OK ok",
		"INSERT OK ok", "SELECT OK ok", "INSERT 1062 client_error", "STMT_RESET OK ok", "EXECUTE OK ok",
		"PING OK ok", "EXECUTE 1243 client_error", "QUIT")
	if p != MySQL {
		t.Errorf("protocol %v", p)
	}
}

func TestMySQLLoginDenied(t *testing.T) {
	got, _ := turns(t, 3306, []sqlSeg{srv(myGreetingPkt()), cli(myPacket(1, make([]byte, 40))), srv(myPacket(2, myERRPayload(1045)))})
	checkTurns(t, "denied", got, "LOGIN 1045 client_error")
}

func TestMySQLSSL(t *testing.T) {
	ssl := append([]byte{0x85, 0xae, 0xff, 0x01}, make([]byte, 28)...)
	_, p := turns(t, 3306, []sqlSeg{srv(myGreetingPkt()), cli(myPacket(1, ssl))})
	if p != TLS {
		t.Errorf("SSL request: protocol %v, want tls", p)
	}
}

func TestMySQLSegments(t *testing.T) {
	big := myQ(myQuery, "SELECT '"+strings.Repeat("x", 4000)+"'")
	rows := join(myPacket(1, []byte{1}), myPacket(2, []byte(strings.Repeat("d", 3000))), myPacket(3, myERRPayload(1317)))
	segs := append(myLoginSegs(),
		cli(big[:1448]), cli(big[1448:2896]), cli(big[2896:]), srv(rows[:1448]), srv(rows[1448:]),
		cli(myQ(myQuery, "SHOW TABLES")), sqlSeg{data: join(myPacket(1, []byte(strings.Repeat("z", 5000))), myPacket(2, myERRPayload(1205))), cut: 64},
		cli(myQ(myQuery, "COMMIT")), srv(myOKPkt(1)),
	)
	got, _ := turns(t, 3306, segs)
	checkTurns(t, "segments", got[2:], "SELECT 1317 server_error", "SHOW OK ok", "COMMIT OK ok")
}

func TestMySQLMidstream(t *testing.T) {
	got, p := turns(t, 13306, []sqlSeg{cli(myQ(myQuery, "select 1")), srv(myPacket(1, []byte{1}), myPacket(2, []byte("\x03def")))})
	checkTurns(t, "midstream", got, "SELECT OK ok")
	if p != MySQL {
		t.Errorf("protocol %v", p)
	}
}

// DNS over TCP.

func dnsTCP(msgs ...[]byte) []byte {
	var b []byte
	for _, m := range msgs {
		b = append(b, byte(len(m)>>8), byte(len(m)))
		b = append(b, m...)
	}
	return b
}

func TestDNSOverTCP(t *testing.T) {
	q := func(id uint16, typ uint16) []byte { return dnsMsgBytes(id, typ, false, 0) }
	r := func(id uint16, typ uint16, rc uint8) []byte { return dnsMsgBytes(id, typ, true, rc) }
	msg := dnsTCP(q(7, 33))
	got, p := turns(t, 53, []sqlSeg{
		cli(dnsTCP(q(1, 1))), srv(dnsTCP(r(1, 1, 0))),
		cli(dnsTCP(q(2, 28))), srv(dnsTCP(r(2, 28, 3))),
		cli(dnsTCP(q(3, 16))), srv(dnsTCP(r(3, 16, 2))),
		cli(dnsTCP(q(4, 15))), srv(dnsTCP(r(4, 15, 5))),
		cli(dnsTCP(q(5, 65), q(6, 12))), srv(dnsTCP(r(5, 65, 0), r(6, 12, 2))),
		// The length prefix in one segment, the message in the next.
		cli(msg[:2]), cli(msg[2:]), srv(dnsTCP(r(7, 33, 0))[:2]), srv(dnsTCP(r(7, 33, 0))[2:]),
	})
	checkTurns(t, "dns/tcp", got, "A NOERROR ok", "AAAA NXDOMAIN ok", "TXT SERVFAIL server_error",
		"MX REFUSED client_error", "TYPE65 SERVFAIL server_error", "SRV NOERROR ok")
	if p != DNS {
		t.Errorf("protocol %v", p)
	}
}

// dnsMsgBytes builds a DNS message by hand: header and one question.
func dnsMsgBytes(id, qtype uint16, resp bool, rc uint8) []byte {
	b := make([]byte, 12)
	binary.BigEndian.PutUint16(b, id)
	if resp {
		b[2] = 0x81
		b[3] = 0x80 | rc
	} else {
		b[2] = 0x01
	}
	b[5] = 1
	b = append(b, "\x03web\x04corp\x08internal\x00"...)
	return binary.BigEndian.AppendUint16(binary.BigEndian.AppendUint16(b, qtype), 1)
}
