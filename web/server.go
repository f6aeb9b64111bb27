package web

import (
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/netip"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/pastmon/pastmon/assets"
	"github.com/pastmon/pastmon/capture/window"
	"github.com/pastmon/pastmon/store"
	"github.com/pastmon/pastmon/web/promexport"
)

// Config is what a Server needs. DB is required; everything else has a
// usable zero value.
type Config struct {
	DB *store.DB
	// Token authenticates sensors on the ingest route; empty disables ingest.
	Token string
	// MetricsToken lets a scraper read /metrics without a user account.
	MetricsToken string
	// MetricsMaxServers bounds the servers /metrics exports by name
	// (default promexport.DefaultMaxServers).
	MetricsMaxServers int
	// TLS marks session cookies Secure.
	TLS     bool
	Version string
	Logger  *slog.Logger
	// Now replaces the wall clock (tests).
	Now func() time.Time
	// SessionTTL is how long a login lasts (default 12 h).
	SessionTTL time.Duration
	// LocalSensor, when set, says what keeps the web node's own sensor
	// from capturing ("" when it captures), for the empty overview.
	LocalSensor func() string
	// OnWindows, when set, is handed the windows of every batch stored
	// (not a duplicate; refused windows left out), e.g. for OTLP export.
	// It must not block.
	OnWindows func(window.SensorInfo, []window.Summary)
	// Login slows down failed logins (zero fields: DefaultLoginLimit's).
	Login LoginLimit
	// TrustedProxies are the reverse proxies whose X-Forwarded-For names
	// the client (for the login limiter and logs); others cannot.
	TrustedProxies []netip.Prefix
}

// LoginLimit shapes the login limiter: after Free failures of one user
// from one client address (PerClientFree from one address, whatever the
// names), each further failure doubles the wait before the next try, from
// Base up to Max; Max of quiet forgets them. MaxKeys bounds its memory.
type LoginLimit struct {
	Free, PerClientFree int
	Base, Max           time.Duration
	MaxKeys             int
}

// DefaultLoginLimit: 5 free tries per user and address, 30 per address,
// then 1 s, 2 s, 4 s … up to 15 minutes; 100,000 keys at most.
var DefaultLoginLimit = LoginLimit{Free: 5, PerClientFree: 30, Base: time.Second, Max: 15 * time.Minute, MaxKeys: 100000}

// Server is the web node's HTTP handler.
type Server struct {
	cfg     Config
	db      *store.DB
	log     *slog.Logger
	pages   map[string]*template.Template
	limiter *limiter
	tokens  *limiter // wrong ingest tokens, per client address
	authLog logLimit // failed logins and tokens logged
	router  chi.Router
	ingest  ingestCounters
	totals  *promexport.Totals // what /metrics exports, since start
}

// New builds the handler. It fails only if the embedded templates do not
// parse.
func New(cfg Config) (*Server, error) {
	if cfg.DB == nil {
		return nil, errors.New("web: no database")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = 12 * time.Hour
	}
	pages, err := parsePages(assets.Templates())
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, db: cfg.DB, log: cfg.Logger, pages: pages, limiter: newLimiter(cfg.Login),
		tokens: newLimiter(LoginLimit{Free: 10, PerClientFree: 10, Base: time.Second, Max: 5 * time.Minute})}
	s.ingest.byCode = map[int]uint64{}
	s.totals = promexport.New(promexport.Options{MaxServers: cfg.MetricsMaxServers}, cfg.Now)
	s.router = s.routes()
	return s, nil
}

// ServeHTTP makes Server an http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.router.ServeHTTP(w, r) }

// Router exposes the routes (for chi.Walk).
func (s *Server) Router() chi.Routes { return s.router }

func (s *Server) now() time.Time { return s.cfg.Now().UTC() }

func (s *Server) routes() chi.Router {
	r := chi.NewRouter()
	r.Use(s.recoverer, s.securityHeaders, http.NewCrossOriginProtection().Handler)
	r.NotFound(s.notFound)
	r.MethodNotAllowed(s.methodNotAllowed)

	r.Get("/healthz", s.healthz)
	r.Handle("/static/*", http.StripPrefix("/static/", staticHandler(assets.Static())))
	r.Get("/favicon.ico", favicon)
	r.Get("/login", s.loginPage)
	r.Post("/login", s.login)
	r.Post(IngestPath, s.handleIngest)
	r.Get("/metrics", s.metricsHandler())

	r.Group(func(r chi.Router) {
		r.Use(s.requireUser)
		r.Post("/logout", s.logout)
		r.Get("/password", s.passwordPage)
		r.Post("/password", s.changePassword)
		r.Group(func(r chi.Router) {
			r.Use(s.requireChanged)
			r.Get("/", s.overview)
			r.Get("/servers/{server}", s.serverPage)
			r.Get("/sensors", s.sensorsPage)
			r.Get("/users", s.usersPage)
			r.Get("/api/v1/servers", s.apiServers)
			r.Get("/api/v1/series", s.apiSeries)
			r.Get("/api/v1/heatmap", s.apiHeatmap)
			r.Get("/api/v1/operations", s.apiOperations)
			r.Get("/api/v1/sensors", s.apiSensors)
			r.Group(func(r chi.Router) {
				r.Use(requireAdmin)
				r.Post("/users", s.addUser)
				r.Post("/users/{name}/delete", s.deleteUser)
				r.Post("/users/{name}/password", s.resetPassword)
			})
		})
	})
	return r
}

// staticHandler serves embedded files without directory listings.
func staticHandler(root fs.FS) http.Handler {
	files := http.FileServerFS(root)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if st, err := fs.Stat(root, cleanStatic(r.URL.Path)); err != nil || st.IsDir() {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Cache-Control", "public, max-age=300")
		files.ServeHTTP(w, r)
	})
}

func cleanStatic(p string) string {
	for len(p) > 0 && p[0] == '/' {
		p = p[1:]
	}
	if p == "" {
		return "."
	}
	return p
}

func (s *Server) securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		if s.cfg.TLS {
			h.Set("Strict-Transport-Security", "max-age=31536000")
		}
		h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "same-origin")
		next.ServeHTTP(w, r)
	})
}

func (s *Server) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.Error("panic serving request", "method", r.Method, "path", r.URL.Path, "panic", fmt.Sprint(v))
				writeJSONError(w, http.StatusInternalServerError, "internal error")
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// healthz answers 503 while the database cannot be written (a full
// disk), saying why, so that an orchestrator or an operator notices; the
// sensors keep their data meanwhile (ingest answers 503 too).
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	if err := s.db.WriteFailure(); err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"ok": false, "version": s.cfg.Version,
			"error": "the database cannot be written (disk full?): " + err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"ok": true, "version": s.cfg.Version})
}

func (s *Server) notFound(w http.ResponseWriter, r *http.Request) {
	s.httpError(w, r, http.StatusNotFound, "No such page: "+r.URL.Path)
}

func (s *Server) methodNotAllowed(w http.ResponseWriter, r *http.Request) {
	s.httpError(w, r, http.StatusMethodNotAllowed, r.Method+" not allowed on "+r.URL.Path)
}

// favicon serves the icon browsers ask for at the root.
func favicon(w http.ResponseWriter, r *http.Request) {
	b, err := fs.ReadFile(assets.Static(), "favicon.ico")
	if err != nil {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "image/x-icon")
	w.Header().Set("Cache-Control", "public, max-age=86400")
	_, _ = w.Write(b)
}
