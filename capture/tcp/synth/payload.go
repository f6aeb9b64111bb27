package synth

import "time"

// SendData is Send with the given payload bytes instead of zeros.
func (k *Conn) SendData(at time.Time, s Side, flags uint8, payload []byte) uint32 {
	k.c.payload = payload
	defer func() { k.c.payload = nil }()
	return k.Send(at, s, flags, len(payload))
}

// snap cuts a frame to the snap length.
func (c *Capture) snap(frame []byte) []byte {
	if c.Snap > 0 && len(frame) > c.Snap {
		return frame[:c.Snap]
	}
	return frame
}
