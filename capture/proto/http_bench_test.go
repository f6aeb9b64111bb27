package proto

import (
	"fmt"
	"strings"
	"testing"
)

// BenchmarkHTTPTransaction is one keep-alive transaction as the tracker
// hands it over: a 400-byte request, a response of three segments of which
// the capture kept 190 bytes each.
func BenchmarkHTTPTransaction(b *testing.B) {
	tb := NewTables()
	var c Conn
	c.Open(80)
	reqs := make([][]byte, 64)
	for i := range reqs {
		r := fmt.Sprintf("GET /api/v1/users/%d/orders?x=1 HTTP/1.1\r\nHost: bench\r\nUser-Agent: curl/8\r\nAccept: */*\r\nX-Pad: ", 1000+i)
		reqs[i] = []byte(r + strings.Repeat("p", 400-len(r)-4) + "\r\n\r\n")
	}
	head := "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 4000\r\n\r\n"
	seg1 := []byte(head + strings.Repeat("x", 1448-len(head)))
	body := make([]byte, 1448)
	last := 4000 - (1448 - len(head)) - 1448
	b.ReportAllocs()
	for i := range b.N {
		req := reqs[i%len(reqs)]
		c.Client(tb, req, len(req))
		c.Server(tb, seg1[:190], len(seg1))
		c.Server(tb, body[:190], len(body))
		c.Server(tb, body[:190], last)
		if op, _, _ := c.Txn(); op == NoName {
			b.Fatal("transaction not named")
		}
	}
}
