package proto

import (
	"fmt"
	"strings"
	"testing"
)

// step is one payload segment: from the client (c) or the server (s); cap,
// when set, is how much of it the capture kept.
type step struct {
	dir  byte
	data string
	cap  int
}

func cl(s string) step { return step{dir: 'c', data: s} }
func sv(s string) step { return step{dir: 's', data: s} }

// txnLog drives a Conn like the tracker: a turn ends when the client sends
// after the server did (or at the end); an interim server segment does not
// begin the response.
func txnLog(t *testing.T, port uint16, segs ...step) (log []string, c *Conn, tb *Tables) {
	t.Helper()
	tb = NewTables()
	c = new(Conn)
	c.Open(port)
	resp, req := false, false
	end := func() {
		op, st, r := c.Txn()
		log = append(log, fmt.Sprintf("%s|%s|%s", tb.Ops.Name(op), tb.Statuses.Name(st), r))
	}
	for _, s := range segs {
		data := []byte(s.data)
		if s.cap > 0 {
			data = data[:s.cap]
		}
		if s.dir == 'c' {
			if resp {
				end()
				resp = false
			}
			c.Client(tb, data, len(s.data))
			req = true
			continue
		}
		if !c.Server(tb, data, len(s.data)) && req {
			resp = true // else a banner: no response
		}
	}
	if resp {
		end()
	}
	return log, c, tb
}

func checkLog(t *testing.T, got []string, c *Conn, want Protocol, wantLog ...string) {
	t.Helper()
	if c.Protocol() != want {
		t.Errorf("protocol %s, want %s", c.Protocol(), want)
	}
	if strings.Join(got, "\n") != strings.Join(wantLog, "\n") {
		t.Errorf("transactions\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(wantLog, "\n"))
	}
}

var httpCases = []struct {
	name string
	port uint16
	segs []step
	want []string
}{
	{"templated routes and status classes", 8080, []step{
		cl("GET /api/v2/accounts/42/invoices/7?x=1 HTTP/1.1\r\nHost: a\r\n\r\n"),
		sv("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"),
		cl("GET /api/v2/products/0f8fad5b-d9cb-469f-a165-70867728950e HTTP/1.1\r\n\r\n"),
		sv("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"),
		cl("GET /api/v2/obj/00112233445566778899aabbccddeeff HTTP/1.1\r\n\r\n"),
		sv("HTTP/1.1 503 Unavailable\r\nContent-Length: 0\r\n\r\n"),
		cl("GET /api/v2/obj/abcdef HTTP/1.1\r\n\r\n"),
		sv("HTTP/1.1 301 Moved\r\nContent-Length: 0\r\n\r\n"),
	}, []string{"GET /api/v2/accounts/:id/invoices/:id|200|ok", "GET /api/v2/products/:id|404|client_error",
		"GET /api/v2/obj/:id|503|server_error", "GET /api/v2/obj/abcdef|301|ok"}},
	{"100 continue never ends the request", 8080, []step{
		cl("POST /api/v2/put HTTP/1.1\r\nContent-Length: 10\r\nExpect: 100-continue\r\n\r\n"),
		sv("HTTP/1.1 100 Continue\r\n\r\n"),
		cl("0123456789"),
		sv("HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok"),
	}, []string{"POST /api/v2/put|201|ok"}},
	{"HEAD has no body although Content-Length says so", 8080, []step{
		cl("HEAD /x HTTP/1.1\r\n\r\n"),
		sv("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"),
		cl("GET /y HTTP/1.1\r\n\r\n"),
		sv("HTTP/1.1 204 No Content\r\n\r\n"),
	}, []string{"HEAD /x|200|ok", "GET /y|204|ok"}},
	{"chunked response across segments", 8080, []step{
		cl("GET /api/v2/stream/3 HTTP/1.1\r\n\r\n"),
		sv("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab"),
		sv("cde\r\n1"),
		sv("0;ext=1\r\n0123456789abcdef\r\n0\r\nTrailer: x\r\n\r\n"),
		cl("GET /next HTTP/1.1\r\n\r\n"),
		sv("HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n"),
	}, []string{"GET /api/v2/stream/:id|200|ok", "GET /next|500|server_error"}},
	{"body across segments, pipelined pair named by the first", 8080, []step{
		cl("GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n"),
		sv("HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\n0123456789"),
		sv("0123456789HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"),
		cl("GET /c HTTP/1.1\r\n\r\n"),
		sv("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
	}, []string{"GET /a|404|client_error", "GET /c|200|ok"}},
	{"response until close", 8080, []step{
		cl("GET /old HTTP/1.0\r\n\r\n"),
		sv("HTTP/1.0 200 OK\r\nConnection: close\r\n\r\nHTTP/1.1 999 not a status line"),
	}, []string{"GET /old|200|ok"}},
	{"non-standard port", 9999, []step{
		cl("DELETE /users/12 HTTP/1.1\r\n\r\n"),
		sv("HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n"),
	}, []string{"DELETE /users/:id|401|client_error"}},
	{"request cut by the snap length", 8080, []step{
		{dir: 'c', data: "GET /api/v2/accounts/42/invoices/7 HTTP/1.1\r\nHost: a\r\n\r\n", cap: 26},
		sv("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
		cl("GET /b HTTP/1.1\r\n\r\n"),
		{dir: 's', data: "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", cap: 10},
		cl("GET /c HTTP/1.1\r\n\r\n"),
		sv("HTTP/1.1 302 Found\r\nContent-Length: 0\r\n\r\n"),
	}, []string{"GET /api/v2/accounts/:id/…|200|ok", "GET /b||", "GET /c|302|ok"}},
	{"picked up mid-stream: recognised at the next request", 8080, []step{
		sv("y body of a response we missed the start of"),
		cl("GET /users/7 HTTP/1.1\r\n\r\n"),
		sv("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
	}, []string{"GET /users/:id|200|ok"}},
}

func TestHTTPTransactions(t *testing.T) {
	for _, tt := range httpCases {
		t.Run(tt.name, func(t *testing.T) {
			got, c, _ := txnLog(t, tt.port, tt.segs...)
			checkLog(t, got, c, HTTP, tt.want...)
		})
	}
}

func TestHTTPGarbageFallsBack(t *testing.T) {
	got, c, tb := txnLog(t, 8080,
		cl("GET / HTTP/1.1\r\n\r\n"),
		sv("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokSSH-2.0-OpenSSH\r\n"),
		cl("GET / HTTP/1.1\r\n\r\n"))
	checkLog(t, got, c, TCP, "||")
	if !c.Failed() || tb.Stats.Fallbacks[HTTP] != 1 || tb.Stats.Recognized[HTTP] != 1 {
		t.Errorf("failed %v, stats %+v", c.Failed(), tb.Stats)
	}
}

func TestUnrecognisedStaysTCP(t *testing.T) {
	got, c, tb := txnLog(t, 8080, cl("hello"), sv("world"), cl("again"), sv("x"), cl("more"), sv("y"), cl("GET / HTTP/1.1\r\n\r\n"), sv("HTTP/1.1 200 OK\r\n\r\n"))
	checkLog(t, got, c, TCP, "||", "||", "||", "||")
	if tb.Stats.Recognized[TCP] != 1 {
		t.Errorf("stats %+v", tb.Stats)
	}
}

func TestRouteTemplate(t *testing.T) {
	tests := []struct {
		uri      string
		complete bool
		want     string
	}{
		{"/", true, "/"},
		{"/a/", true, "/a/"},
		{"/users/42?x=1/2", true, "/users/:id"},
		{"/a/b#frag", true, "/a/b"},
		{"http://host:8080/users/42", true, "/users/:id"},
		{"http://host", true, "/"},
		{"*", true, "*"},
		{"/p/0f8fad5b-d9cb-469f-a165-70867728950e/x", true, "/p/:id/x"},
		{"/p/0f8fad5b-d9cb-469f-a165-70867728950", true, "/p/0f8fad5b-d9cb-469f-a165-70867728950"},
		{"/x/0123456789abcdef", true, "/x/:id"},
		{"/x/0123456789ABCDEF0", true, "/x/:id"},
		{"/x/0123456789abcde", true, "/x/0123456789abcde"},
		{"/x/deadbeef", true, "/x/deadbeef"},
		{"/v2/7", true, "/v2/:id"},
		{"/a/b/cd", false, "/a/b/…"},
		{"/a/42?q", false, "/a/:id"},
	}
	for _, tt := range tests {
		var buf [MaxOpLen]byte
		if got := string(appendRoute(buf[:0], []byte(tt.uri), tt.complete)); got != tt.want {
			t.Errorf("%q (complete %v): %q, want %q", tt.uri, tt.complete, got, tt.want)
		}
	}
	long := "/" + strings.Repeat("segment/", 40)
	var buf [MaxOpLen]byte
	if got := appendRoute(buf[:0], []byte(long), true); len(got) != MaxOpLen || !strings.HasPrefix(long, string(got)) {
		t.Errorf("long route: %d bytes %q", len(got), got)
	}
}
