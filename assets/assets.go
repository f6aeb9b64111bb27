// Package assets embeds what the web node serves besides data: the HTML
// templates, the stylesheet, the page scripts and the vendored chart
// library (uPlot, with its licence; refreshed by vendor/refresh.sh), so the
// pages work with no internet. It holds no Go logic beyond lookup.
package assets

import (
	"embed"
	"io/fs"
	"strings"
)

//go:embed templates/*.html static vendor/uplot
var files embed.FS

// Templates holds every page template (templates/*.html).
func Templates() fs.FS {
	sub, err := fs.Sub(files, "templates")
	if err != nil {
		panic(err) // the embed pattern guarantees the directory
	}
	return sub
}

// Static is what the web node serves under /static/: the files of static/
// at its root and the vendored libraries under vendor/ (for example
// vendor/uplot/uPlot.iife.min.js).
func Static() fs.FS { return staticFS{} }

type staticFS struct{}

func (staticFS) Open(name string) (fs.File, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrInvalid}
	}
	if name == "vendor" || strings.HasPrefix(name, "vendor/") {
		return files.Open(name)
	}
	if name == "." {
		return files.Open("static")
	}
	return files.Open("static/" + name)
}
