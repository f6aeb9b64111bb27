package window

import "fmt"

// enumName is the name of k in names, or kind(k) when it has none.
func enumName[K ~uint8](names []string, k K, kind string) string {
	if int(k) < len(names) {
		return names[k]
	}
	return fmt.Sprintf("%s(%d)", kind, uint8(k))
}

// parseEnum looks s up in names.
func parseEnum[K ~uint8](names []string, s string) (K, bool) {
	for i, n := range names {
		if n == s {
			return K(i), true
		}
	}
	return 0, false
}
