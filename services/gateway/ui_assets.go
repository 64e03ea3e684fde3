package gateway

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"
)

// uiFiles holds the web UI's templates and static assets, compiled into the
// binary: nothing is loaded from disk or from a CDN.
//
//go:embed ui/templates/*.html ui/static/*
var uiFiles embed.FS

// staticPrefix is where the static assets are served.
const staticPrefix = "/ui/static/"

// contentSecurityPolicy allows only this origin's own scripts, styles and API:
// no inline script, no CDN, no framing.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; " +
	"img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// staticAsset is one embedded file with its validator.
type staticAsset struct {
	body        []byte
	contentType string
	etag        string
}

// uiAssets are the parsed templates and the static files, built once by New.
type uiAssets struct {
	pages  map[string]*template.Template // by page name, e.g. "chat"
	static map[string]staticAsset        // by file name, e.g. "chat.js"
}

// navLink is one entry of the navigation bar.
type navLink struct {
	Label  string
	Href   string
	Active bool
}

// pageData is what the base layout renders.
type pageData struct {
	Title string // "" = just "Steward"
	Nav   []navLink
}

// newPageData returns the layout data of the page at href: its title and the
// navigation bar (spec §3.1) with that page marked.
func newPageData(title, href string) pageData {
	// Only pages that exist are linked; the reference's Dashboard, Config, Queue
	// and Logs pages join the bar when they are built.
	nav := []navLink{
		{Label: "Chat", Href: "/ui/chat"},
	}
	for i := range nav {
		nav[i].Active = nav[i].Href == href
	}
	return pageData{Title: title, Nav: nav}
}

// loadUIAssets reads the embedded files and parses every page with the base
// layout. The files are compiled in, so an error here is a bug in them.
func loadUIAssets() (*uiAssets, error) {
	a := &uiAssets{pages: map[string]*template.Template{}, static: map[string]staticAsset{}}
	statics, err := fs.ReadDir(uiFiles, "ui/static")
	if err != nil {
		return nil, err
	}
	for _, e := range statics {
		body, err := uiFiles.ReadFile("ui/static/" + e.Name())
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(body)
		ct := mime.TypeByExtension(path.Ext(e.Name()))
		if ct == "" {
			ct = "application/octet-stream"
		}
		a.static[e.Name()] = staticAsset{body: body, contentType: ct,
			etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
	}
	funcs := template.FuncMap{
		// asset gives a static file's URL with its content hash, so a new
		// binary's assets are never mixed with a cached old page.
		"asset": func(name string) (string, error) {
			s, ok := a.static[name]
			if !ok {
				return "", fmt.Errorf("no static asset %q", name)
			}
			return staticPrefix + name + "?v=" + strings.Trim(s.etag, `"`), nil
		},
	}
	pages, err := fs.Glob(uiFiles, "ui/templates/*.html")
	if err != nil {
		return nil, err
	}
	for _, p := range pages {
		name := strings.TrimSuffix(path.Base(p), ".html")
		if name == "base" {
			continue
		}
		t, err := template.New("base.html").Funcs(funcs).ParseFS(uiFiles, "ui/templates/base.html", p)
		if err != nil {
			return nil, err
		}
		a.pages[name] = t
	}
	return a, nil
}

// renderPage renders a page into a buffer first, so that a template error is a
// clean 500 and never half a page.
func (h *handler) renderPage(w http.ResponseWriter, r *http.Request, name string, data any) {
	t, ok := h.ui.pages[name]
	if !ok {
		h.notFound(w, r)
		return
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "base.html", data); err != nil {
		h.log.Error("Rendering a page failed", "page", name, "err", err)
		h.writeError(w, http.StatusInternalServerError, "Internal Server Error")
		return
	}
	setPageHeaders(w.Header())
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(buf.Bytes())
}

// setPageHeaders sets the security headers of every UI response.
func setPageHeaders(hd http.Header) {
	hd.Set("Content-Security-Policy", contentSecurityPolicy)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("X-Frame-Options", "DENY")
}

// serveStatic answers GET /ui/static/{name} from the embedded files, with an
// ETag so that browsers revalidate cheaply.
func (h *handler) serveStatic(w http.ResponseWriter, r *http.Request) {
	name := pathParam(r, "name")
	s, ok := h.ui.static[name]
	if !ok {
		h.notFound(w, r)
		return
	}
	setPageHeaders(w.Header())
	w.Header().Set("Content-Type", s.contentType)
	w.Header().Set("ETag", s.etag)
	w.Header().Set("Cache-Control", "no-cache")
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(s.body))
}
