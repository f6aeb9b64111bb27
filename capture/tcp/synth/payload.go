package synth

// snap cuts a frame to the snap length.
func (c *Capture) snap(frame []byte) []byte {
	if c.Snap > 0 && len(frame) > c.Snap {
		return frame[:c.Snap]
	}
	return frame
}
