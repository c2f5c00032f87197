package httpapi

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
)

// Monitoring is the asynq dashboard and who may see it.
type Monitoring struct {
	Handler  http.Handler // nil: /monitoring/ answers 404
	User     string       // with Password: basic auth; both empty: open
	Password string
}

// mountMonitoring serves the dashboard under /monitoring/, behind basic auth
// when credentials are configured.
func (s *Server) mountMonitoring(e *echo.Echo, m Monitoring) {
	if m.Handler == nil {
		return
	}
	var mw []echo.MiddlewareFunc
	if m.User != "" || m.Password != "" {
		wantUser, wantPass := sha256.Sum256([]byte(m.User)), sha256.Sum256([]byte(m.Password))
		mw = append(mw, middleware.BasicAuthWithConfig(middleware.BasicAuthConfig{
			Realm: "monitoring",
			Validator: func(user, pass string, _ echo.Context) (bool, error) {
				u, p := sha256.Sum256([]byte(user)), sha256.Sum256([]byte(pass))
				okUser := subtle.ConstantTimeCompare(u[:], wantUser[:])
				okPass := subtle.ConstantTimeCompare(p[:], wantPass[:])
				return okUser&okPass == 1, nil
			},
		}))
	}
	h := echo.WrapHandler(m.Handler)
	e.Any("/monitoring", func(c echo.Context) error {
		return c.Redirect(http.StatusMovedPermanently, "/monitoring/")
	}, mw...)
	e.Any("/monitoring/*", h, mw...)
}
