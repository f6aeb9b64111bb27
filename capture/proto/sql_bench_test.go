package proto

import "testing"

// benchTurns replays the turns of segs (after the first skip segments,
// which set the connection up) over and over through one Conn.
func benchTurns(b *testing.B, port uint16, setup, loop []sqlSeg) {
	tab := NewTables()
	var c Conn
	c.Open(port)
	feed := func(segs []sqlSeg) {
		for _, s := range segs {
			if s.client {
				c.Client(tab, s.data, len(s.data))
			} else {
				c.Server(tab, s.data, len(s.data))
			}
		}
		c.Txn()
	}
	feed(setup)
	feed(loop)
	if op, _, _ := c.Txn(); c.Protocol() == TCP {
		b.Fatalf("not recognised (op %d)", op)
	}
	b.ReportAllocs()
	for b.Loop() {
		feed(loop)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(loop)), "ns/segment")
}

func BenchmarkPostgresSimpleQuery(b *testing.B) {
	benchTurns(b, 5432, pgStartupSegs(), []sqlSeg{
		cli(pgMsg('Q', "SELECT abalance FROM pgbench_accounts WHERE aid = 4711\x00")),
		srv(pgMsg('T', "\x00\x01abalance\x00\x00\x00\x00\x00\x00\x00\x00\x00\x17\x00\x04\xff\xff\xff\xff\x00\x00"),
			pgMsg('D', "\x00\x01\x00\x00\x00\x010"), pgMsg('C', "SELECT 1\x00"), pgReadyMsg),
	})
}

func BenchmarkPostgresPrepared(b *testing.B) {
	setup := append(pgStartupSegs(), cli(pgMsg('P', "P_1\x00", "UPDATE pgbench_accounts SET abalance = abalance + $1 WHERE aid = $2\x00", "\x00\x00"), pgMsg('S')), srv(pgMsg('1'), pgReadyMsg))
	benchTurns(b, 5432, setup, []sqlSeg{
		cli(pgBindExec("P_1")),
		srv(pgMsg('2'), pgMsg('n'), pgMsg('C', "UPDATE 1\x00"), pgReadyMsg),
	})
}

func BenchmarkPostgresError(b *testing.B) {
	benchTurns(b, 5432, pgStartupSegs(), []sqlSeg{cli(pgMsg('Q', "SELECT * FROM missing_table\x00")), srv(pgError("42P01"), pgReadyMsg)})
}

func BenchmarkMySQLQuery(b *testing.B) {
	benchTurns(b, 3306, myLoginSegs(), []sqlSeg{
		cli(myQ(myQuery, "SELECT intcol1, charcol1 FROM t1 WHERE id = '42'")),
		srv(myPacket(1, []byte{2}), myPacket(2, []byte("\x03def\x00\x00\x00\x011\x00\x0c?\x00")), myPacket(3, []byte("\x03def\x00\x00\x00\x012\x00\x0c?\x00")),
			myPacket(4, []byte{0xfe, 0, 0, 2, 0}), myPacket(5, []byte("\x0242\x03abc")), myPacket(6, []byte{0xfe, 0, 0, 2, 0})),
	})
}

func BenchmarkMySQLExecute(b *testing.B) {
	setup := append(myLoginSegs(), cli(myQ(myPrepare, "INSERT INTO mix_stock_ps VALUES (?, ?, ?)")), srv(myPrepareOKPkt(1)))
	benchTurns(b, 3306, setup, []sqlSeg{cli(myStmt(myExecute, 1)), srv(myOKPkt(1))})
}

func BenchmarkMySQLError(b *testing.B) {
	benchTurns(b, 3306, myLoginSegs(), []sqlSeg{cli(myQ(myQuery, "SELECT * FROM no_such_orders")), srv(myPacket(1, myERRPayload(1146)))})
}

func BenchmarkDNSTCP(b *testing.B) {
	benchTurns(b, 53, nil, []sqlSeg{cli(dnsTCP(dnsMsgBytes(1, 28, false, 0))), srv(dnsTCP(dnsMsgBytes(1, 28, true, 3)))})
}
