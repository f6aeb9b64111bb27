package proto

// maxKeyword bounds the statement keywords kept: longer words are cut, so
// that a garbage statement cannot make a long operation name.
const maxKeyword = 24

// sqlKeyword writes the first keyword of a SQL statement, upper case, into
// buf and returns it; nil when the statement does not start with a word
// (after white space, comments and opening parentheses). MySQL's
// executable comments (/*!40101 SET ... */) hold a statement and are
// entered, not skipped.
func sqlKeyword(q []byte, buf *[maxKeyword]byte) []byte {
	i := sqlSkip(q)
	n := 0
	for ; i < len(q); i++ {
		c := q[i]
		switch {
		case c >= 'a' && c <= 'z':
			c -= 'a' - 'A'
		case c >= 'A' && c <= 'Z', c == '_':
		default:
			return buf[:n:n]
		}
		if n == len(buf) {
			return buf[:n:n]
		}
		buf[n] = c
		n++
	}
	return buf[:n:n]
}

// sqlSkip returns the offset of the statement's first word.
func sqlSkip(q []byte) int {
	i := 0
	for i < len(q) {
		switch c := q[i]; {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '(' || c == ';':
			i++
		case c == '-' && i+1 < len(q) && q[i+1] == '-':
			for i < len(q) && q[i] != '\n' {
				i++
			}
		case c == '#': // MySQL line comment
			for i < len(q) && q[i] != '\n' {
				i++
			}
		case c == '/' && i+2 < len(q) && q[i+1] == '*' && q[i+2] == '!':
			i += 3
			for i < len(q) && q[i] >= '0' && q[i] <= '9' {
				i++
			}
		case c == '/' && i+1 < len(q) && q[i+1] == '*':
			i = sqlComment(q, i)
		default:
			return i
		}
	}
	return i
}

// sqlComment skips a block comment starting at q[i]; PostgreSQL nests
// them, and nesting costs MySQL nothing on real statements.
func sqlComment(q []byte, i int) int {
	depth := 0
	for i+1 < len(q) {
		switch {
		case q[i] == '/' && q[i+1] == '*':
			depth++
			i += 2
		case q[i] == '*' && q[i+1] == '/':
			depth--
			i += 2
			if depth == 0 {
				return i
			}
		default:
			i++
		}
	}
	return len(q)
}

// resumeFrame is the resume of the length-framed protocols (postgres,
// mysql): skip[dir] counts the bytes of a message begun in an earlier
// segment, and the lost bit in flags says direction dir lost its framing
// until its next run (a new turn). ok is false when nothing more of this
// segment of n bytes can be read; off is where reading goes on.
func resumeFrame(skip *[2]uint32, flags *uint8, lost uint8, dir, n int, run bool) (off int, ok bool) {
	if *flags&lost != 0 {
		if !run {
			return 0, false
		}
		*flags &^= lost
		skip[dir] = 0
	}
	if left := int(skip[dir]); left > 0 {
		if left >= n {
			skip[dir] -= uint32(n)
			return 0, false
		}
		skip[dir] = 0
		off = left
	}
	return off, off < n
}
