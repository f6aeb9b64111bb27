package capture

import "github.com/pastmon/pastmon/capture/filter"

// newMatcher compiles a tcpdump filter expression. A frame whose link type
// the expression cannot apply to does not match.
func newMatcher(expr string) (func(link uint16, data []byte) (bool, error), error) {
	m, err := filter.NewMatcher(expr)
	if err != nil {
		return nil, err
	}
	return m.Match, nil
}
