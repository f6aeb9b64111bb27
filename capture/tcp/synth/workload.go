package synth

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"time"

	"github.com/pastmon/pastmon/capture/packet"
)

// Workload generates realistic request/response traffic in batches: many
// clients talking to a few servers, each connection a handshake, a few
// turns (a request, the server's ACK, a response of one or more full-size
// segments acknowledged every second segment) and a clean close. Most
// connections use TCP timestamps. The zero value is not usable: set every
// field.
type Workload struct {
	Servers  int // distinct server ip:port
	Clients  int // distinct client addresses
	MaxTurns int // turns per connection, 1..MaxTurns
	Seed     uint64
	// HTTP fills the payloads with HTTP/1.1 requests and responses
	// (Content-Length bodies, one in ten a 404 or 503); else they are zeros.
	HTTP bool
	rng  *rand.Rand
	port int
}

const (
	ack    = packet.ACK
	pshAck = packet.PSH | packet.ACK
	finAck = packet.FIN | packet.ACK
)

// Batch adds conns connections starting within the second after start and
// returns the time of its last frame.
func (w *Workload) Batch(c *Capture, start time.Time, conns int) time.Time {
	if w.rng == nil {
		w.rng = rand.New(rand.NewPCG(w.Seed, 0x5eed))
	}
	last := start
	for range conns {
		w.port++
		cl := w.port % w.Clients
		client := fmt.Sprintf("10.1.%d.%d:%d", cl/250, 1+cl%250, 1024+(w.port/w.Clients)%64000)
		sv := w.rng.IntN(w.Servers)
		server := fmt.Sprintf("10.2.%d.%d:%d", sv/250, 1+sv%250, []int{80, 443, 5432, 3306, 8080}[sv%5])
		k := c.Conn(client, server)
		k.TS = w.rng.IntN(5) != 0
		k.ISN = [2]uint32{w.rng.Uint32(), w.rng.Uint32()}
		t := start.Add(time.Duration(w.rng.Int64N(int64(time.Second))))
		last = latest(last, w.session(k, t))
	}
	return last
}

func latest(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func (w *Workload) dur(lo, hi time.Duration) time.Duration {
	return lo + time.Duration(w.rng.Int64N(int64(hi-lo)+1))
}

// session plays one connection from t and returns the time of its last frame.
func (w *Workload) session(k *Conn, t time.Time) time.Time {
	cli := w.dur(200*time.Microsecond, 40*time.Millisecond) // sensor ↔ client
	srv := w.dur(20*time.Microsecond, time.Millisecond)     // sensor ↔ server
	k.Send(t, Client, packet.SYN, 0)
	t = t.Add(srv)
	k.Send(t, Server, packet.SYN|packet.ACK, 0)
	t = t.Add(cli)
	k.Send(t, Client, ack, 0)
	for range 1 + w.rng.IntN(w.MaxTurns) {
		t = t.Add(w.dur(10*time.Microsecond, 200*time.Microsecond))
		w.send(k, t, Client, w.request(80+w.rng.IntN(500)))
		think := w.dur(50*time.Microsecond, 20*time.Millisecond)
		if think > 5*time.Millisecond {
			k.Send(t.Add(srv), Server, ack, 0)
		}
		t = t.Add(srv + think)
		segs := 1 + w.rng.IntN(8)
		last := 100 + w.rng.IntN(1348)
		resp := w.response(1448*(segs-1) + last)
		for i := range segs {
			n := 1448
			if i == segs-1 {
				n = last
			}
			t = t.Add(w.dur(5*time.Microsecond, 50*time.Microsecond))
			w.send(k, t, Server, resp[:n])
			resp = resp[n:]
			if i%2 == 1 || i == segs-1 {
				k.Send(t.Add(cli), Client, ack, 0)
			}
		}
		t = t.Add(cli + w.dur(time.Millisecond, 50*time.Millisecond))
	}
	k.Send(t, Client, finAck, 0)
	t = t.Add(srv)
	k.Send(t, Server, finAck, 0)
	t = t.Add(cli)
	k.Send(t, Client, ack, 0)
	return t
}

// send sends payload (all zeros when the workload is not HTTP).
func (w *Workload) send(k *Conn, t time.Time, s Side, payload []byte) {
	if w.HTTP {
		k.SendData(t, s, pshAck, payload)
	} else {
		k.Send(t, s, pshAck, len(payload))
	}
}

// request is an HTTP request of n bytes (padded with a header), or n zeros.
func (w *Workload) request(n int) []byte {
	b := make([]byte, 0, n)
	if !w.HTTP {
		return b[:n]
	}
	paths := []string{"/api/v1/items/%d", "/api/v1/users/%d/orders", "/static/app.js", "/api/v1/search?q=%d", "/health"}
	p := paths[w.rng.IntN(len(paths))]
	if strings.Contains(p, "%d") {
		p = fmt.Sprintf(p, w.rng.IntN(100000))
	}
	b = fmt.Appendf(b, "GET %s HTTP/1.1\r\nHost: bench\r\nX-Pad: ", p)
	for len(b) < n-4 {
		b = append(b, 'p')
	}
	return append(b, "\r\n\r\n"...)[:max(n, len(b)+4)]
}

// response is an HTTP response of n bytes in all (its body fills it up).
func (w *Workload) response(n int) []byte {
	if !w.HTTP {
		return make([]byte, n)
	}
	status := "200 OK"
	switch w.rng.IntN(20) {
	case 0:
		status = "404 Not Found"
	case 1:
		status = "503 Service Unavailable"
	}
	head := fmt.Sprintf("HTTP/1.1 %s\r\nContent-Type: application/json\r\nContent-Length: ", status)
	body, d := 0, 1
	for ; d < 10; d++ { // body + its d digits (zero-padded) + the header fill n
		if body = n - len(head) - 4 - d; len(fmt.Sprint(body)) <= d {
			break
		}
	}
	b := fmt.Appendf(make([]byte, 0, n), "%s%0*d\r\n\r\n", head, d, body)
	for len(b) < n {
		b = append(b, 'x')
	}
	return b
}

// Drain hands the frames collected so far to fn in time order and forgets
// them, so that a large capture can be written batch by batch.
func (c *Capture) Drain(fn func(Frame) error) error {
	sort.SliceStable(c.Frames, func(i, j int) bool { return c.Frames[i].TS.Before(c.Frames[j].TS) })
	for _, f := range c.Frames {
		if err := fn(f); err != nil {
			return err
		}
	}
	c.Frames = c.Frames[:0]
	return nil
}
