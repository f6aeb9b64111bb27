package assets

import (
	"html/template"
	"io/fs"
	"regexp"
	"strings"
	"testing"
)

func TestStaticServesFilesAndVendor(t *testing.T) {
	tests := []struct {
		name string
		want string // a substring of the file
	}{
		{"app.css", "body"},
		{"app.js", "use strict"},
		{"server.js", "uPlot"},
		{"vendor/uplot/uPlot.iife.min.js", "uPlot"},
		{"vendor/uplot/uPlot.min.css", ".uplot"},
		{"vendor/uplot/LICENSE", "MIT"},
	}
	for _, tc := range tests {
		b, err := fs.ReadFile(Static(), tc.name)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if !strings.Contains(string(b), tc.want) {
			t.Errorf("%s does not contain %q", tc.name, tc.want)
		}
	}
	for _, bad := range []string{"../templates/login.html", "/app.css", "templates/login.html", "vendor/../assets.go"} {
		if _, err := fs.ReadFile(Static(), bad); err == nil {
			t.Errorf("%s: served, want an error", bad)
		}
	}
}

// TestNoRemoteURLs keeps every page working offline: no template, script or
// stylesheet may load anything from another host.
func TestNoRemoteURLs(t *testing.T) {
	for _, root := range []fs.FS{Templates(), Static()} {
		err := fs.WalkDir(root, ".", func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || strings.HasSuffix(p, "LICENSE") || strings.HasSuffix(p, ".min.js") {
				return err
			}
			b, err := fs.ReadFile(root, p)
			if err != nil {
				return err
			}
			// An XML namespace is a name, never fetched.
			text := strings.ReplaceAll(string(b), `xmlns="http://www.w3.org/2000/svg"`, "")
			for _, s := range []string{"http://", "https://", "//cdn"} {
				if strings.Contains(text, s) {
					t.Errorf("%s refers to %q", p, s)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// TestTemplatesParse checks the templates' syntax. The web package parses
// them with its real functions at start; here each function a template
// names is a stub, learnt from the parser's own complaint, so this list
// cannot drift from web's.
func TestTemplatesParse(t *testing.T) {
	undefined := regexp.MustCompile(`function "([^"]+)" not defined`)
	funcs := template.FuncMap{}
	for range 100 {
		_, err := template.New("").Funcs(funcs).ParseFS(Templates(), "*.html")
		if err == nil {
			return
		}
		m := undefined.FindStringSubmatch(err.Error())
		if m == nil {
			t.Fatal(err)
		}
		funcs[m[1]] = func(...any) string { return "" }
	}
	t.Fatal("templates name more than 100 functions")
}
