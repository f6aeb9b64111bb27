package capture

import (
	"strings"
	"testing"
	"time"
)

func TestSplitArgs(t *testing.T) {
	t.Chdir(t.TempDir()) // where no file is named like a filter word (this package has a tcp/)
	path := writeFile(t, "a.pcap", writePcap(t, false, 1, testRecords(1, 1, time.Second)))
	tests := []struct {
		args   []string
		files  int
		filter string
		err    string
	}{
		{[]string{path, "-", "tcp", "and", "port", "80"}, 2, "tcp and port 80", ""},
		{[]string{path, "net", "10.0.0.0/8"}, 1, "net 10.0.0.0/8", ""},
		{[]string{path, "port", "80", path}, 1, "port 80 " + path, ""}, // after the filter starts, all is filter
		{[]string{path, "missing/b.pcap", "port", "80"}, 0, "", "no such file"},
		{[]string{"port", "80"}, 0, "", "no capture file"},
		{[]string{"nosuchcapture"}, 0, "", "no such file"},
	}
	for _, tt := range tests {
		files, filter, err := SplitArgs(tt.args)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%v: error %v, want %q", tt.args, err, tt.err)
			}
			continue
		}
		if err != nil || len(files) != tt.files || filter != tt.filter {
			t.Errorf("%v: got %v %q %v", tt.args, files, filter, err)
		}
	}
}
