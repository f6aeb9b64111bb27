package proto

import "testing"

var redisCases = []struct {
	name string
	port uint16
	segs []step
	want []string
}{
	{"arrays, replies and error words", 6379, []step{
		cl("*3\r\n$3\r\nset\r\n$5\r\nmix:k\r\n$1\r\n1\r\n"), sv("+OK\r\n"),
		cl("*3\r\n$4\r\nSADD\r\n$5\r\nmix:k\r\n$1\r\nx\r\n"), sv("-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
		cl("*2\r\n$6\r\nBADCMD\r\n$1\r\nx\r\n"), sv("-ERR unknown command 'BADCMD'\r\n"),
		cl("*2\r\n$3\r\nGET\r\n$7\r\nmissing\r\n"), sv("$-1\r\n"),
		cl("*2\r\n$4\r\nINCR\r\n$3\r\nctr\r\n"), sv(":42\r\n"),
		cl("*2\r\n$4\r\nLPOP\r\n$1\r\nl\r\n"), sv("-OOM command not allowed when used memory > 'maxmemory'.\r\n"),
		cl("*1\r\n$4\r\nPING\r\n"), sv("-LOADING Redis is loading the dataset in memory\r\n"),
	}, []string{"SET|OK|ok", "SADD|WRONGTYPE|client_error", "BADCMD|ERR|client_error", "GET|OK|ok",
		"INCR|OK|ok", "LPOP|OOM|server_error", "PING|LOADING|server_error"}},
	{"inline commands", 6379, []step{
		cl("PING\r\n"), sv("+PONG\r\n"),
		cl("get foo\r\n"), sv("$3\r\nbar\r\n"),
	}, []string{"PING|OK|ok", "GET|OK|ok"}},
	{"RESP3 blob error, maps, sets, attributes and nesting", 6379, []step{
		cl("*2\r\n$5\r\nHELLO\r\n$1\r\n3\r\n"), sv("%2\r\n$6\r\nserver\r\n$5\r\nredis\r\n$5\r\nmodes\r\n*2\r\n%1\r\n+a\r\n~1\r\n:1\r\n_\r\n"),
		cl("*1\r\n$4\r\nEVAL\r\n"), sv("!21\r\nSYNTAX invalid syntax\r\n"),
		cl("*1\r\n$4\r\nSMEMBERS\r\n"),
	}, []string{"HELLO|OK|ok", "EVAL|SYNTAX|client_error"}},
	{"a reply across segments, its nested errors not the status", 6379, []step{
		cl("*1\r\n$4\r\nEXEC\r\n"), sv("*3\r\n+OK\r\n-ERR inside\r\n$1"), sv("0\r\n0123"), sv("456789\r\n"),
		cl("*1\r\n$4\r\nPING\r\n"), sv("+PONG\r\n"),
	}, []string{"EXEC|OK|ok", "PING|OK|ok"}},
	{"pipelined: first command names, an error later shows", 6379, []step{
		cl("*3\r\n$6\r\nCONFIG\r\n$3\r\nGET\r\n$4\r\nsave\r\n*3\r\n$6\r\nCONFIG\r\n$3\r\nGET\r\n$10\r\nappendonly\r\n"),
		sv("*2\r\n$4\r\nsave\r\n$0\r\n\r\n"), sv("-ERR later\r\n"),
	}, []string{"CONFIG|ERR|client_error"}},
	{"non-standard port", 7000, []step{
		cl("*1\r\n$4\r\nPING\r\n"), sv("+PONG\r\n"),
	}, []string{"PING|OK|ok"}},
	{"reply cut by the snap length", 6379, []step{
		cl("*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"), {dir: 's', data: "$20\r\n01234567890123456789\r\n", cap: 8},
		cl("*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"), {dir: 's', data: "*2\r\n$20\r\n01234567890123456789\r\n$1\r\nx\r\n", cap: 8},
		cl("*1\r\n$4\r\nPING\r\n"), sv("-BUSY script\r\n"),
	}, []string{"GET|OK|ok", "GET|OK|ok", "PING|BUSY|server_error"}},
	{"picked up mid-stream", 6379, []step{
		sv("lue\r\n"), cl("*1\r\n$4\r\nPING\r\n"), sv("+PONG\r\n"),
	}, []string{"PING|OK|ok"}},
}

func TestRedisTransactions(t *testing.T) {
	for _, tt := range redisCases {
		t.Run(tt.name, func(t *testing.T) {
			got, c, _ := txnLog(t, tt.port, tt.segs...)
			checkLog(t, got, c, Redis, tt.want...)
		})
	}
}

func TestRedisInlineOnlyOnItsPort(t *testing.T) {
	got, c, _ := txnLog(t, 7000, cl("PING\r\n"), sv("+PONG\r\n"))
	if c.Protocol() == Redis {
		t.Errorf("inline PING on port 7000 recognised as redis: %q", got)
	}
}
