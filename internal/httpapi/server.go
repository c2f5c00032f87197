// Package httpapi is the HTTP front end: routes, authentication, decoding and
// the translation of domain errors. echo stays inside this package.
package httpapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"go.uber.org/zap"

	"github.com/campaignsms/campaignsms/internal/apperr"
	"github.com/campaignsms/campaignsms/internal/initiate"
	"github.com/campaignsms/campaignsms/internal/store"
)

// Body caps of SPEC §3.
const (
	MaxBody     = 1 << 20
	MaxBulkBody = 20 << 20
)

// Params configures a Server.
type Params struct {
	Store    *store.Store
	Initiate *initiate.Service
	Tokens   map[string]string // token -> org
	DLRToken string            // delivery reports' bearer token; empty: no DLR route
	Log      *zap.Logger
	// Metrics, when set, is served at /metrics and told about every request.
	Metrics Observer
	// Monitoring is the dashboard mounted at /monitoring/.
	Monitoring Monitoring
}

// Observer receives every answered request and serves the metrics page.
type Observer interface {
	ObserveHTTP(method, route string, status int, d time.Duration)
	Handler() http.Handler
}

// Server is the HTTP API.
type Server struct {
	e      *echo.Echo
	st     *store.Store
	ini    *initiate.Service
	tokens tokens
	log    *zap.Logger
	obs    Observer
}

// New builds the API with all its routes.
func New(p Params) *Server {
	if p.Log == nil {
		p.Log = zap.NewNop()
	}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	s := &Server{e: e, st: p.Store, ini: p.Initiate, tokens: newTokens(p.Tokens), log: p.Log, obs: p.Metrics}
	e.HTTPErrorHandler = s.errorHandler
	e.Use(middleware.RequestID())
	e.Use(s.accessLog)
	e.Use(middleware.RecoverWithConfig(middleware.RecoverConfig{DisableStackAll: true, LogErrorFunc: func(_ echo.Context, err error, stack []byte) error {
		p.Log.Error("panic in handler", zap.Error(err), zap.ByteString("stack", stack))
		return err
	}}))

	e.GET("/healthz", s.healthz)
	e.GET("/readyz", s.readyz)
	if p.Metrics != nil {
		e.GET("/metrics", echo.WrapHandler(p.Metrics.Handler()))
	}
	api := e.Group("/api/v1")
	v := api.Group("", s.auth)
	v.POST("/initiate/:campaignId/sms", s.initiate)
	v.GET("/initiations", s.listInitiations)
	v.GET("/initiations/:id", s.getInitiation)
	v.DELETE("/initiations/:id", s.cancelInitiation)
	v.GET("/openapi.json", s.openapi)
	s.routesManagement(v, api, p.DLRToken)
	s.mountMonitoring(e, p.Monitoring)
	// The group's auth middleware makes echo route every unknown /api/v1
	// path to a catch-all, which would answer 404 where SPEC wants 405.
	v.RouteNotFound("", s.noRoute)
	v.RouteNotFound("/*", s.noRoute)
	return s
}

// Handler returns the http.Handler of the API.
func (s *Server) Handler() http.Handler { return s.e }

// Serve serves on l until ctx ends, then shuts down gracefully.
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	srv := &http.Server{Handler: s.e, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve http: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shut down http: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve http: %w", err)
	}
	return nil
}

func (s *Server) accessLog(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		err := next(c)
		if err != nil {
			c.Error(err)
		}
		if s.obs != nil {
			s.obs.ObserveHTTP(c.Request().Method, c.Path(), c.Response().Status, time.Since(start))
		}
		s.log.Info("request",
			zap.String("method", c.Request().Method), zap.String("route", c.Path()),
			zap.Int("status", c.Response().Status), zap.Duration("latency", time.Since(start)),
			zap.String("org", orgOf(c)), zap.String("request_id", c.Response().Header().Get(echo.HeaderXRequestID)))
		return nil
	}
}

func (s *Server) healthz(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]any{"status": "ok"})
}

func (s *Server) readyz(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), 2*time.Second)
	defer cancel()
	if err := s.st.Ping(ctx); err != nil {
		return c.JSON(http.StatusServiceUnavailable, errorBody{Error: apperr.Unavailable, Message: "Redis does not answer: " + err.Error()})
	}
	return c.JSON(http.StatusOK, map[string]any{"status": "ready"})
}

// readBody reads a JSON request body of at most limit bytes, answering 415
// for a body declared as something else and 413 for one that is too large.
func readBody(c echo.Context, limit int64) ([]byte, error) {
	if ct := c.Request().Header.Get(echo.HeaderContentType); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !isJSONSuffix(mt)) {
			return nil, apperr.New(apperr.UnsupportedMediaType, "Send the body as application/json.")
		}
	}
	if c.Request().ContentLength > limit {
		return nil, apperr.New(apperr.PayloadTooLarge, "The request body is larger than %d bytes.", limit)
	}
	b, err := io.ReadAll(io.LimitReader(c.Request().Body, limit+1))
	if err != nil {
		return nil, apperr.New(apperr.Validation, "The request body could not be read.")
	}
	if int64(len(b)) > limit {
		return nil, apperr.New(apperr.PayloadTooLarge, "The request body is larger than %d bytes.", limit)
	}
	return b, nil
}

func isJSONSuffix(mt string) bool {
	return len(mt) > 5 && mt[len(mt)-5:] == "+json"
}
