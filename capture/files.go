package capture

import (
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// Files reads several capture files as one stream, in the order given, and
// can show how far it is on a progress line.
type Files struct {
	names []string // still to open
	cur   Source
	done  int64 // sizes of the files finished
	total int64 // -1 when unknown (standard input)

	frames   uint64
	progress io.Writer // nil: no progress line
	label    string
	lastShow time.Time
	shown    bool
}

// OpenFiles opens the first of names (each a file as OpenFile takes it,
// "-" for standard input) and checks that the others exist; they are
// opened as the stream reaches them.
func OpenFiles(names []string) (*Files, error) {
	if len(names) == 0 {
		return nil, errors.New("no capture file")
	}
	fs := &Files{names: names}
	for _, n := range names {
		if n == "-" {
			fs.total = -1
			continue
		}
		st, err := os.Stat(n)
		if err != nil {
			return nil, err // "stat <name>: ..."
		}
		if fs.total >= 0 {
			fs.total += st.Size()
		}
	}
	if err := fs.next(); err != nil {
		return nil, err
	}
	return fs, nil
}

func (fs *Files) next() error {
	src, err := OpenFile(fs.names[0])
	if err != nil {
		return err
	}
	fs.names = fs.names[1:]
	fs.cur = src
	return nil
}

// ShowProgress makes ReadFrame write a progress line ("label: packets,
// bytes read, share of the total") to w, at most twice a second, each over
// the last with a carriage return: for a terminal. EndProgress clears it.
func (fs *Files) ShowProgress(w io.Writer, label string) { fs.progress, fs.label = w, label }

// ReadFrame reads the next frame, going on to the next file at the end of
// one; io.EOF comes at the end of the last.
func (fs *Files) ReadFrame(f *Frame) error {
	for {
		err := fs.cur.ReadFrame(f)
		if err == nil {
			if fs.frames++; fs.progress != nil && fs.frames%65536 == 0 {
				fs.showProgress()
			}
			return nil
		}
		if !errors.Is(err, io.EOF) || len(fs.names) == 0 {
			return err
		}
		if p, ok := fs.cur.(Progresser); ok {
			d, _ := p.Progress()
			fs.done += d
		}
		fs.cur.Close()
		if err := fs.next(); err != nil {
			fs.cur = errSource{err}
			return err
		}
	}
}

// Close closes the file being read.
func (fs *Files) Close() error { return fs.cur.Close() }

type errSource struct{ err error }

func (e errSource) ReadFrame(*Frame) error { return e.err }
func (e errSource) Close() error           { return nil }

func (fs *Files) showProgress() {
	if time.Since(fs.lastShow) < 500*time.Millisecond {
		return
	}
	fs.lastShow = time.Now()
	done := fs.done
	if p, ok := fs.cur.(Progresser); ok {
		d, _ := p.Progress()
		done += d
	}
	line := fmt.Sprintf("%s: %d packets, %s read", fs.label, fs.frames, HumanBytes(uint64(done)))
	if fs.total > 0 {
		line += fmt.Sprintf(" (%.0f%%)", 100*float64(done)/float64(fs.total))
	}
	fmt.Fprintf(fs.progress, "\r%-70s", line)
	fs.shown = true
}

// EndProgress clears the progress line, if one was shown.
func (fs *Files) EndProgress() {
	if fs.shown {
		fmt.Fprintf(fs.progress, "\r%-70s\r", "")
	}
}

// HumanBytes prints a byte count with three significant digits: 1.23MB.
func HumanBytes(n uint64) string {
	const unit = 1000
	if n < unit {
		return fmt.Sprintf("%dB", n)
	}
	v, suffix := float64(n), "kMGTPE"
	i := -1
	for v >= unit && i < len(suffix)-1 {
		v /= unit
		i++
	}
	return fmt.Sprintf("%.3g%cB", v, suffix[i])
}
