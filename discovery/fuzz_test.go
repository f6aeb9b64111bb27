package discovery

import (
	"encoding/json"
	"net/url"
	"testing"
)

// FuzzParseValue: whatever is in the key, ParseValue either fails or
// returns an absolute http(s) URL with a host, and what it returns survives
// a JSON round trip unchanged.
func FuzzParseValue(f *testing.F) {
	for _, s := range []string{
		`{"url":"http://10.0.0.5:8080","version":"1.0"}`,
		`{"url":"https://[2001:db8::1]:8443"}`,
		"http://web:8080",
		`{"url":`,
		`{"url":"ftp://x"}`,
		"",
		"\x00",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := ParseValue(b)
		if err != nil {
			return
		}
		u, err := url.Parse(v.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			t.Fatalf("ParseValue(%q) accepted URL %q", b, v.URL)
		}
		data, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		again, err := ParseValue(data)
		if err != nil || again != v {
			t.Fatalf("round trip of %+v: %+v, %v", v, again, err)
		}
	})
}
