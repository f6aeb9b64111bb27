package window

import (
	"bytes"
	"encoding/json"
	"fmt"
)

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }

// MarshalJSON encodes the metrics as an object keyed by metric name,
// leaving out empty distributions.
func (m Metrics) MarshalJSON() ([]byte, error) {
	out := make(map[string]Dist, NumMetrics)
	for i := range m {
		if m[i].Count > 0 {
			out[Metric(i).String()] = m[i]
		}
	}
	return json.Marshal(out)
}

// UnmarshalJSON decodes an object keyed by metric name; unknown names are
// an error.
func (m *Metrics) UnmarshalJSON(b []byte) error {
	var in map[string]json.RawMessage
	if err := json.Unmarshal(b, &in); err != nil {
		return err
	}
	*m = Metrics{}
	for name, raw := range in {
		k, ok := ParseMetric(name)
		if !ok {
			return fmt.Errorf("unknown metric %q", name)
		}
		if err := json.Unmarshal(raw, &m[k]); err != nil {
			return fmt.Errorf("metric %s: %w", name, err)
		}
	}
	return nil
}
