package capture

import (
	"errors"
	"os"
	"strings"

	"github.com/pastmon/pastmon/capture/filter"
)

// ErrNoFile is SplitArgs' answer when the arguments name no capture file.
var ErrNoFile = errors.New("no capture file given")

// SplitArgs separates capture files (the leading arguments that name an
// existing file, or "-") from the words of the filter expression, which run
// from the first other argument to the end.
func SplitArgs(args []string) (files []string, expr string, err error) {
	i := 0
	for ; i < len(args); i++ {
		a := args[i]
		if a == "-" {
			files = append(files, a)
			continue
		}
		_, err := os.Stat(a)
		if err == nil {
			files = append(files, a)
			continue
		}
		if looksLikePath(a) {
			return nil, "", err
		}
		break
	}
	if len(files) == 0 {
		if len(args) > 0 {
			if _, perr := filter.Parse(strings.Join(args, " ")); perr != nil {
				_, err := os.Stat(args[0]) // not a filter either: say why it is no file
				return nil, "", err
			}
		}
		return nil, "", ErrNoFile
	}
	return files, strings.Join(args[i:], " "), nil
}

// looksLikePath tells a mistyped file name from a filter word, so that it
// gets "no such file" rather than a filter syntax error.
func looksLikePath(a string) bool {
	if strings.ContainsRune(a, '/') {
		return true
	}
	for _, ext := range []string{".pcap", ".pcapng", ".cap", ".gz"} {
		if strings.HasSuffix(a, ext) {
			return true
		}
	}
	return false
}
