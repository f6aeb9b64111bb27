package proto

import "bytes"

// Redis: RESP2 and RESP3 from both sides, and inline commands from the
// client. Each side counts the elements left of its current top-level
// message (an aggregate's header adds its elements, every element takes
// one), so nesting needs no stack and a message of any depth is skipped
// exactly, across segments. A command is named by its first element (or
// first word, inline), upper case; a reply whose top level is an error
// (`-` or `!`) gives the error's first word as status, any other "OK".

type respSide struct {
	pending uint64 // elements left of the current top-level message
	left    uint32 // bytes left of a blob, its CRLF included
	num     uint32 // the number being read
	st      uint8
	typ     uint8 // type byte of the element whose header is being read
	flags   uint8 // rf*
	_       [5]byte
}

type redisState struct {
	side [2]respSide
	_    [8]byte
}

// respSide.st values.
const (
	rsStart  uint8 = iota // a type byte (or, from the client at top level, an inline command)
	rsNum                 // the digits of a length or count
	rsLine                // the rest of a simple line
	rsBlob                // left bytes of a blob
	rsInline              // the rest of an inline command line
	rsLost                // uncaptured bytes hid the framing: wait for the next run
)

// respSide.flags bits.
const (
	rfNeg     uint8 = 1 << iota // the number is negative
	rfDigit                     // a digit was read
	rfTop                       // the element is a top-level message
	rfName                      // the next blob is the command name
	rfErrBlob                   // the blob is a top-level error: its first word is the status
)

const maxRESPNum = 1 << 30

var inlineCommands = [...]string{"PING", "ECHO", "INFO", "AUTH", "HELLO", "SELECT", "QUIT", "GET", "SET",
	"INCR", "DEL", "EXISTS", "KEYS", "CONFIG", "COMMAND", "CLIENT", "MONITOR", "SUBSCRIBE", "DBSIZE"}

// looksRedis accepts a RESP array of bulk strings from the client (Strong),
// an inline command or any RESP reply type (Weak: on Redis's port only).
func looksRedis(data []byte, client bool) Match {
	if len(data) < 3 {
		return NoMatch
	}
	if client && data[0] == '*' && isDigit(data[1]) {
		i := bytes.IndexByte(data, '\n')
		if i > 0 && data[i-1] == '\r' && i+1 < len(data) && data[i+1] == '$' {
			return Strong
		}
		return Weak
	}
	if client {
		w := data
		if i := bytes.IndexAny(w, " \r\n"); i >= 0 {
			w = w[:i]
		}
		for _, c := range inlineCommands {
			if equalFoldUpper(w, c) {
				return Weak
			}
		}
		return NoMatch
	}
	switch data[0] {
	case '+', '-', ':', '$', '*', '_', ',', '#', '%', '~', '!', '=', '(', '|', '>':
		if bytes.Contains(data[:min(len(data), 64)], []byte("\r\n")) {
			return Weak
		}
	}
	return NoMatch
}

func (s *redisState) client(c *Conn, t *Tables, data []byte, n int, run bool) {
	s.walk(c, t, 0, data, n, run)
}

func (s *redisState) server(c *Conn, t *Tables, data []byte, n int, run bool) (interim bool) {
	s.walk(c, t, 1, data, n, run)
	return false
}

func (s *redisState) walk(c *Conn, t *Tables, d int, data []byte, n int, run bool) {
	r := &s.side[d]
	if r.st == rsLost {
		if !run {
			return
		}
		*r = respSide{}
	}
	unseen := uint32(min(n-len(data), maxRESPNum))
	for len(data) > 0 {
		var ok bool
		if data, ok = r.step(c, t, d, data); !ok {
			c.fail(t)
			return
		}
	}
	if unseen == 0 {
		return
	}
	if r.st == rsBlob && unseen < r.left {
		r.left -= unseen
		return
	}
	if r.st == rsBlob && unseen == r.left {
		r.left = 0
		r.done()
		return
	}
	r.st = rsLost
}

// done ends an element.
func (r *respSide) done() {
	r.st = rsStart
	if r.pending > 0 {
		r.pending--
	}
}

// step consumes what it can of data and returns the rest; ok is false when
// the bytes are not RESP.
func (r *respSide) step(c *Conn, t *Tables, d int, data []byte) ([]byte, bool) {
	switch r.st {
	case rsStart:
		return r.element(c, t, d, data)
	case rsNum:
		return r.number(data)
	case rsLine, rsInline:
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			return nil, true
		}
		r.done()
		return data[i+1:], true
	case rsBlob:
		k := min(uint32(len(data)), r.left)
		if r.flags&(rfName|rfErrBlob) != 0 {
			r.name(c, t, d, data[:min(len(data), max(0, int(r.left)-2))])
		}
		r.left -= k
		if r.left == 0 {
			r.done()
		}
		return data[k:], true
	}
	return nil, true
}

// element starts an element at its type byte.
func (r *respSide) element(c *Conn, t *Tables, d int, data []byte) ([]byte, bool) {
	top := r.pending == 0
	if top {
		if data[0] == '\r' || data[0] == '\n' {
			return data[1:], true // an empty inline line
		}
		r.pending = 1
	}
	r.typ, r.num = data[0], 0
	r.flags &= rfName
	if r.typ != '$' {
		r.flags = 0 // only a blob names a command
	}
	if top {
		r.flags = rfTop
	}
	switch r.typ {
	case '+', ':', '_', ',', '#', '(', '-':
		r.st = rsLine
	case '$', '!', '=', '*', '%', '~', '>', '|':
		r.st = rsNum
	default:
		if !top || d == 1 {
			return data, false
		}
		r.st = rsInline
		w := data
		if i := bytes.IndexAny(w, " \t\r\n"); i >= 0 {
			w = w[:i]
		}
		commandName(c, t, w)
		return data[1:], true
	}
	if top && d == 1 {
		switch r.typ {
		case '-':
			errorStatus(c, t, data[1:])
		case '!', '>', '|': // a blob error names itself; pushes and attributes are no reply
		default:
			c.setStatus(t.Statuses.IDString("OK"), OK)
		}
	}
	return data[1:], true
}

// number reads the digits of a length or count, then acts on it.
func (r *respSide) number(data []byte) ([]byte, bool) {
	for i, b := range data {
		switch {
		case isDigit(b):
			r.num = r.num*10 + uint32(b-'0')
			r.flags |= rfDigit
			if r.num > maxRESPNum {
				return data, false
			}
		case b == '-' && r.flags&rfDigit == 0:
			r.flags |= rfNeg
		case b == '\r':
		case b == '\n':
			if r.flags&rfDigit == 0 {
				return data, false
			}
			r.header()
			return data[i+1:], true
		default:
			return data, false
		}
	}
	return nil, true
}

// header acts on a complete length or count.
func (r *respSide) header() {
	top := r.flags&rfTop != 0
	if r.flags&rfNeg != 0 { // nil
		r.flags &^= rfName
		r.done()
		return
	}
	switch r.typ {
	case '$', '!', '=':
		r.st, r.left = rsBlob, r.num+2
		if r.typ != '!' || !top {
			r.flags &^= rfErrBlob
		} else {
			r.flags |= rfErrBlob
		}
		return
	case '%', '|':
		r.pending += 2 * uint64(r.num)
	default:
		r.pending += uint64(r.num)
	}
	if r.typ == '|' {
		r.pending++ // the attributes annotate the element that follows
	}
	if top && r.typ == '*' {
		r.flags |= rfName
	}
	r.done()
}

// name reads the captured start of a blob that names something: the
// command (client) or a top-level error (server).
func (r *respSide) name(c *Conn, t *Tables, d int, b []byte) {
	if d == 0 {
		if r.flags&rfName != 0 && int(r.left) == len(b)+2 {
			commandName(c, t, b)
		}
	} else if r.flags&rfErrBlob != 0 {
		errorStatus(c, t, b)
	}
	r.flags &^= rfName | rfErrBlob
}

// commandName names the transaction by a command word, upper case.
func commandName(c *Conn, t *Tables, w []byte) {
	if len(w) == 0 || len(w) > 32 {
		return
	}
	var buf [32]byte
	for i, b := range w {
		switch {
		case b >= 'a' && b <= 'z':
			b -= 'a' - 'A'
		case b >= 'A' && b <= 'Z', isDigit(b), b == '_', b == '-', b == '|', b == '.':
		default:
			return
		}
		buf[i] = b
	}
	c.setOp(t.Ops.ID(buf[:len(w)]))
}

// errorStatus takes the first word of an error reply as the status.
func errorStatus(c *Conn, t *Tables, msg []byte) {
	w := msg
	if i := bytes.IndexAny(w, " \r\n"); i >= 0 {
		w = w[:i]
	}
	if len(w) == 0 {
		w = []byte("ERR")
	}
	r := ClientError
	switch string(w) {
	case "OOM", "BUSY", "LOADING", "MASTERDOWN", "CLUSTERDOWN", "TRYAGAIN", "MISCONF":
		r = ServerError
	}
	c.setStatus(t.Statuses.ID(w), r)
}

// equalFoldUpper compares ASCII b with upper-case s, ignoring case.
func equalFoldUpper(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		c := b[i]
		if c >= 'a' && c <= 'z' {
			c -= 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}
