package proto

import "bytes"

// HTTP/1.0 and 1.1: the stream parser of each side walks start lines,
// header lines and bodies (Content-Length, chunked, or until the connection
// closes) by count, so that it is at the next message whenever one begins,
// pipelined or not. Only the start lines and the few headers that frame
// bodies are read; nothing is buffered across segments. A header line split
// across two segments is lost (its framing headers with it: the side then
// waits for its next run).

// httpSide is one direction's place in its stream.
type httpSide struct {
	left uint64 // bytes left of the body or chunk; the size being read in hsChunkSize
	st   uint8
	hdr  uint8 // hf* bits of the message being read
	_    [6]byte
}

// httpSide.st values.
const (
	hsStart      uint8 = iota // a message (or the CRLFs between them) begins here
	hsHeaders                 // at the start of a header line
	hsLine                    // inside a header line the last segment cut: skip to its end
	hsBody                    // left bytes of body
	hsChunkSize               // reading a chunk-size line
	hsChunkExt                // skipping the rest of a chunk-size line
	hsChunkData               // left bytes of chunk data and its CRLF
	hsTrailers                // trailer lines after the last chunk
	hsUntilClose              // a response without length: everything until FIN
	hsOpaque                  // not HTTP any more (101 Switching Protocols, CONNECT)
	hsLost                    // bytes not captured hid the framing: wait for the next run
)

// httpSide.hdr bits.
const (
	hfLength  uint8 = 1 << iota // Content-Length given (in left)
	hfChunked                   // Transfer-Encoding: chunked
	hfClose                     // Connection: close
	hfNoBody                    // the response to a HEAD, or a 1xx, 204, 304
	hfTrailer                   // hsLine is inside a trailer line
	hfUpgrade                   // 101, or 2xx to CONNECT: opaque after the headers
	hfHTTP10                    // HTTP/1.0 message
)

type httpState struct {
	side    [2]httpSide
	kinds   uint64 // requests waiting for their response, 2 bits each (hk*), oldest lowest
	pending uint8
	final   bool // the segment being parsed holds a final response or other bytes
	_       [6]byte
}

// Request kinds, for the framing of their responses.
const (
	hkPlain   = 0
	hkHead    = 1
	hkConnect = 2
	maxPend   = 32
)

var httpMethods = [...]string{"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "CONNECT", "TRACE"}

// looksHTTP accepts a request line of a known method (or any upper-case
// token before an origin-form URI and "HTTP/1.") from the client, and a
// status line from the server.
func looksHTTP(data []byte, client bool) Match {
	if !client {
		return matchIf(len(data) >= 12 && bytes.HasPrefix(data, []byte("HTTP/1.")) && data[8] == ' ' &&
			isDigit(data[9]) && isDigit(data[10]) && isDigit(data[11]))
	}
	sp := bytes.IndexByte(data[:min(len(data), 16)], ' ')
	if sp < 3 || sp+1 >= len(data) {
		return NoMatch
	}
	m := data[:sp]
	for _, k := range httpMethods {
		if string(m) == k {
			return matchIf(data[sp+1] == '/' || data[sp+1] == '*' || data[sp+1] == 'h' || k == "CONNECT")
		}
	}
	for _, b := range m {
		if b < 'A' || b > 'Z' {
			return NoMatch
		}
	}
	line := data
	if i := bytes.IndexByte(data, '\n'); i >= 0 {
		line = data[:i]
	}
	return matchIf(data[sp+1] == '/' && bytes.Contains(line, []byte(" HTTP/1.")))
}

func (s *httpState) client(c *Conn, t *Tables, data []byte, n int, run bool) {
	if !s.side[0].inBody(n) {
		s.walk(c, t, 0, data, n, run)
	}
}

func (s *httpState) server(c *Conn, t *Tables, data []byte, n int, run bool) (interim bool) {
	if s.side[1].inBody(n) {
		return false
	}
	s.final = false
	start := s.side[1].st == hsStart || run && resyncs(s.side[1].st)
	s.walk(c, t, 1, data, n, run)
	return start && !s.final && s.side[1].st == hsStart && c.proto == HTTP
}

// walk parses one segment of side d (0 client, 1 server).
func (s *httpState) walk(c *Conn, t *Tables, d int, data []byte, n int, run bool) {
	h := &s.side[d]
	if run && resyncs(h.st) {
		// The other side spoke: whatever this one was in the middle of is
		// over, and a run begins with a message.
		h.st, h.hdr = hsStart, 0
	}
	if h.st == hsLost {
		return
	}
	unseen := uint64(n - len(data))
	for len(data) > 0 {
		var ok bool
		data, ok = s.step(c, t, d, h, data, unseen > 0)
		if !ok {
			if h.st != hsLost {
				c.fail(t)
			}
			return
		}
	}
	s.skipUnseen(h, unseen)
}

// inBody consumes a segment of n bytes that lies wholly inside the body
// being read, the most common segment of all.
func (h *httpSide) inBody(n int) bool {
	if (h.st == hsBody || h.st == hsChunkData) && uint64(n) < h.left {
		h.left -= uint64(n)
		return true
	}
	return h.st == hsUntilClose || h.st == hsOpaque
}

// resyncs reports whether a side in state st starts over at a new run.
func resyncs(st uint8) bool {
	return st == hsLost || st == hsHeaders || st == hsLine || st == hsTrailers
}

// skipUnseen accounts for payload bytes the capture did not keep.
func (s *httpState) skipUnseen(h *httpSide, unseen uint64) {
	if unseen == 0 {
		return
	}
	switch h.st {
	case hsBody, hsChunkData:
		if unseen < h.left {
			h.left -= unseen
			return
		}
		if unseen == h.left && h.st == hsBody {
			h.st, h.left = hsStart, 0
			return
		}
	case hsUntilClose, hsOpaque:
		return
	}
	h.st = hsLost
}

// step consumes what it can of data in h's state and returns the rest; ok
// is false when the bytes are not HTTP (or when it lost its place: then
// h.st is hsLost). cut says that the capture ends inside the segment.
func (s *httpState) step(c *Conn, t *Tables, d int, h *httpSide, data []byte, cut bool) (rest []byte, ok bool) {
	switch h.st {
	case hsStart:
		for len(data) > 0 && (data[0] == '\r' || data[0] == '\n') {
			data = data[1:]
		}
		if len(data) == 0 {
			return data, true
		}
		return s.startLine(c, t, d, h, data, cut)
	case hsHeaders, hsTrailers:
		return s.headerLine(h, d, data)
	case hsLine:
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			return nil, true
		}
		h.st = hsHeaders
		if h.hdr&hfTrailer != 0 {
			h.st = hsTrailers
		}
		return data[i+1:], true
	case hsBody, hsChunkData:
		k := min(uint64(len(data)), h.left)
		h.left -= k
		if h.left == 0 {
			if h.st == hsBody {
				h.st = hsStart
			} else {
				h.st = hsChunkSize
				h.hdr &^= hfLength
			}
		}
		return data[k:], true
	case hsChunkSize:
		return h.chunkSize(data)
	case hsChunkExt:
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			return nil, true
		}
		h.st = hsChunkData
		if h.left == 2 { // the last chunk: trailers follow, not data
			h.st, h.left = hsTrailers, 0
		}
		return data[i+1:], true
	}
	return nil, true // hsUntilClose, hsOpaque
}

// chunkSize reads the hex digits of a chunk-size line.
func (h *httpSide) chunkSize(data []byte) ([]byte, bool) {
	for i, b := range data {
		v, isHex := hexVal(b)
		if !isHex {
			if i == 0 && h.hdr&hfLength == 0 {
				return data, false // no digit at all
			}
			h.left += 2 // the CRLF after the data
			h.st = hsChunkExt
			return data[i:], true
		}
		if h.left > 1<<56 {
			return data, false
		}
		h.left = h.left<<4 | uint64(v)
		h.hdr |= hfLength // a digit was read
	}
	return nil, true
}

// startLine parses a request or status line.
func (s *httpState) startLine(c *Conn, t *Tables, d int, h *httpSide, data []byte, cut bool) ([]byte, bool) {
	i := bytes.IndexByte(data, '\n')
	line, rest := data, []byte(nil)
	if i >= 0 {
		line, rest = data[:i], data[i+1:]
	}
	line = trimCR(line)
	h.hdr = 0
	ok := false
	if d == 0 {
		ok = s.request(c, t, h, line, i < 0)
	} else {
		ok = s.response(c, t, h, line)
	}
	if !ok {
		if i < 0 && cut {
			h.st = hsLost // too little captured to tell
			return nil, true
		}
		return data, false
	}
	if i < 0 {
		// The line goes on in bytes not captured or in the next segment.
		h.st = hsLine
		if cut {
			h.st = hsLost
		}
		return nil, true
	}
	h.st = hsHeaders
	return rest, true
}

// request names the transaction by a request line; partial means the line
// is cut short.
func (s *httpState) request(c *Conn, t *Tables, h *httpSide, line []byte, partial bool) bool {
	sp := bytes.IndexByte(line, ' ')
	if sp < 1 || sp > 20 {
		return false
	}
	method := line[:sp]
	for _, b := range method {
		if b < 'A' || b > 'Z' {
			return false
		}
	}
	uri := line[sp+1:]
	complete := !partial
	if j := bytes.IndexByte(uri, ' '); j >= 0 {
		v := uri[j+1:]
		if !bytes.HasPrefix(v, []byte("HTTP/1.")) && !(partial && bytes.HasPrefix([]byte("HTTP/1.1"), v)) {
			return false
		}
		if string(v) == "HTTP/1.0" {
			h.hdr |= hfHTTP10
		}
		uri, complete = uri[:j], true
	}
	var buf [MaxOpLen]byte
	op := append(buf[:0], method...)
	op = append(op, ' ')
	op = appendRoute(op, uri, complete)
	c.setOp(t.Ops.ID(op))
	kind := uint64(hkPlain)
	switch string(method) {
	case "HEAD":
		kind = hkHead
	case "CONNECT":
		kind = hkConnect
	}
	if s.pending < maxPend {
		s.kinds |= kind << (2 * s.pending)
		s.pending++
	}
	return true
}

// response reads a status line: a final status names the transaction's
// status and fixes how the body is framed.
func (s *httpState) response(c *Conn, t *Tables, h *httpSide, line []byte) bool {
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' ||
		!isDigit(line[9]) || !isDigit(line[10]) || !isDigit(line[11]) || (len(line) > 12 && line[12] != ' ') {
		return false
	}
	if line[7] == '0' {
		h.hdr |= hfHTTP10
	}
	code := line[9:12]
	if code[0] == '1' && string(code) != "101" {
		h.hdr |= hfNoBody
		return true
	}
	s.final = true
	kind := uint64(hkPlain)
	if s.pending > 0 {
		kind = s.kinds & 3
		s.kinds >>= 2
		s.pending--
	}
	switch {
	case string(code) == "101", kind == hkConnect && code[0] == '2':
		h.hdr |= hfUpgrade
	case kind == hkHead, string(code) == "204", string(code) == "304":
		h.hdr |= hfNoBody
	}
	r := OK
	switch code[0] {
	case '4':
		r = ClientError
	case '5', '6', '7', '8', '9':
		r = ServerError
	}
	c.setStatus(t.code(code), r)
	return true
}

// headerLine reads one header (or trailer) line; the empty line ends the
// headers and starts the body.
func (s *httpState) headerLine(h *httpSide, d int, data []byte) ([]byte, bool) {
	i := bytes.IndexByte(data, '\n')
	if i < 0 {
		if h.st == hsTrailers {
			h.hdr |= hfTrailer
		}
		h.st = hsLine
		return nil, true
	}
	if i >= 2 && h.st == hsHeaders && data[0]|0x20 != 'c' && data[0]|0x20 != 't' {
		return data[i+1:], true // not empty, and not a header that matters
	}
	line, rest := trimCR(data[:i]), data[i+1:]
	if len(line) == 0 {
		if h.st == hsTrailers {
			h.st = hsStart
			return rest, true
		}
		s.body(h, d)
		return rest, true
	}
	if h.st == hsTrailers {
		return rest, true
	}
	switch line[0] | 0x20 { // only Content-Length, Transfer-Encoding and Connection matter
	case 'c', 't':
	default:
		return rest, true
	}
	colon := bytes.IndexByte(line, ':')
	if colon <= 0 {
		return rest, true // not a header: tolerated, as servers do
	}
	name, value := line[:colon], trimOWS(line[colon+1:])
	switch {
	case equalFold(name, "content-length"):
		var v uint64
		for _, b := range value {
			if !isDigit(b) || v > 1<<56 {
				return data, false
			}
			v = v*10 + uint64(b-'0')
		}
		h.left, h.hdr = v, h.hdr|hfLength
	case equalFold(name, "transfer-encoding"):
		if hasTokenFold(value, "chunked") {
			h.hdr |= hfChunked
		}
	case equalFold(name, "connection"):
		if hasTokenFold(value, "close") {
			h.hdr |= hfClose
		}
	}
	return rest, true
}

// body decides, at the end of a message's headers, how its body is framed
// (RFC 9112, section 6.3).
func (s *httpState) body(h *httpSide, d int) {
	switch {
	case h.hdr&hfUpgrade != 0:
		h.st = hsOpaque
		s.side[d^1].st = hsOpaque
	case h.hdr&hfNoBody != 0:
		h.st = hsStart
	case h.hdr&hfChunked != 0:
		h.st, h.left = hsChunkSize, 0
		h.hdr &^= hfLength // from now on: "a chunk-size digit was read"
	case h.hdr&hfLength != 0:
		h.st = hsBody
		if h.left == 0 {
			h.st = hsStart
		}
	case d == 1:
		h.st = hsUntilClose
	default:
		h.st = hsStart // a request without length has no body
	}
}

// appendRoute appends uri's route template: the path without query string
// (and without scheme and authority in absolute form), with each segment
// that is all digits, a UUID, or 16 or more hex digits replaced by ":id".
// A uri that is not complete (cut by the capture) keeps its complete
// segments and ends in "…". One pass over the path.
func appendRoute(dst, uri []byte, complete bool) []byte {
	if len(uri) > 0 && uri[0] != '/' {
		if i := bytes.Index(uri, []byte("://")); i > 0 && i < 8 {
			uri = uri[i+3:]
			j := bytes.IndexByte(uri, '/')
			if j < 0 {
				uri, complete = slash, true
			} else {
				uri = uri[j:]
			}
		}
	}
	if len(uri) == 0 || uri[0] != '/' {
		return appendCapped(dst, uri) // "*", or an authority (CONNECT)
	}
	from := 1
	for i := 1; ; i++ {
		for i < len(uri) && !routeEnd[uri[i]] {
			i++
		}
		if i == len(uri) && !complete {
			return appendCapped(appendCapped(dst, slash), ellipsis) // a segment cut short
		}
		seg := uri[from:i]
		if isID(seg) {
			seg = idSegment
		}
		if len(dst)+1+len(seg) > cap(dst) {
			return appendCapped(appendCapped(dst, slash), seg)
		}
		dst = append(append(dst, '/'), seg...)
		if i == len(uri) || uri[i] != '/' {
			return dst
		}
		from = i + 1
	}
}

var idSegment, slash, ellipsis = []byte(":id"), []byte("/"), []byte("…")

// routeEnd marks the bytes that end a path segment: one load per byte of
// a path instead of three comparisons.
var routeEnd = [256]bool{'/': true, '?': true, '#': true}

// appendCapped appends what fits of b in dst's capacity, never splitting
// a UTF-8 sequence.
func appendCapped(dst, b []byte) []byte {
	room := cap(dst) - len(dst)
	if len(b) > room {
		b = cut(b, room)
	}
	return append(dst, b...)
}

// isID reports whether a path segment is an identifier: all digits, a UUID,
// or 16 or more hex digits. One pass: most segments are words that fail at
// their first letters.
func isID(seg []byte) bool {
	if len(seg) == 0 {
		return false
	}
	digits, dashes := true, 0
	for i, b := range seg {
		switch {
		case b >= '0' && b <= '9':
		case b|0x20 >= 'a' && b|0x20 <= 'f':
			digits = false
		case b == '-' && len(seg) == 36 && (i == 8 || i == 13 || i == 18 || i == 23):
			digits = false
			dashes++
		default:
			return false
		}
	}
	return digits || dashes == 4 || dashes == 0 && len(seg) >= 16
}

func isDigit(b byte) bool { return b >= '0' && b <= '9' }

// trimCR drops the CR of a line's CRLF: bytes.TrimSuffix, inlined.
func trimCR(line []byte) []byte {
	if n := len(line); n > 0 && line[n-1] == '\r' {
		return line[:n-1]
	}
	return line
}

// trimOWS is bytes.TrimSpace with a fast path for the ASCII ends header
// values have.
func trimOWS(v []byte) []byte {
	for len(v) > 0 && isSpace(v[0]) {
		v = v[1:]
	}
	for len(v) > 0 && isSpace(v[len(v)-1]) {
		v = v[:len(v)-1]
	}
	if len(v) > 0 && (v[0] >= 0x80 || v[len(v)-1] >= 0x80) {
		return bytes.TrimSpace(v) // Unicode white space too
	}
	return v
}

func isSpace(b byte) bool {
	return b == ' ' || b == '\t' || b == '\r' || b == '\n' || b == '\v' || b == '\f'
}

func hexVal(b byte) (byte, bool) {
	switch {
	case b >= '0' && b <= '9':
		return b - '0', true
	case b >= 'a' && b <= 'f':
		return b - 'a' + 10, true
	case b >= 'A' && b <= 'F':
		return b - 'A' + 10, true
	}
	return 0, false
}

// equalFold compares ASCII b with lower-case s, ignoring case.
func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		c := b[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}

// hasTokenFold reports whether the comma-separated list v holds token s.
func hasTokenFold(v []byte, s string) bool {
	for len(v) > 0 {
		i := bytes.IndexByte(v, ',')
		tok := v
		if i >= 0 {
			tok, v = v[:i], v[i+1:]
		} else {
			v = nil
		}
		if equalFold(trimOWS(tok), s) {
			return true
		}
	}
	return false
}
