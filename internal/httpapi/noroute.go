package httpapi

import (
	"sort"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/campaignsms/campaignsms/internal/apperr"
)

// noRoute answers a request no route took: 405 with Allow when the path
// exists for other methods, else 404.
func (s *Server) noRoute(c echo.Context) error {
	path := c.Request().URL.Path
	var allow []string
	for _, r := range s.e.Routes() {
		if r.Method == echo.RouteNotFound || r.Method == c.Request().Method || !pathMatches(r.Path, path) {
			continue
		}
		allow = append(allow, r.Method)
	}
	if len(allow) == 0 {
		return apperr.New(apperr.NotFound, "No such route.")
	}
	sort.Strings(allow)
	c.Response().Header().Set("Allow", strings.Join(allow, ", "))
	return apperr.New(apperr.MethodNotAllowed, "%s is not allowed on this route; use %s.", c.Request().Method, strings.Join(allow, ", "))
}

// pathMatches reports whether an echo route pattern (":param" segments, a
// trailing "*") matches path.
func pathMatches(pattern, path string) bool {
	ps, xs := strings.Split(pattern, "/"), strings.Split(path, "/")
	for i, p := range ps {
		if p == "*" {
			return true
		}
		if i >= len(xs) {
			return false
		}
		if !strings.HasPrefix(p, ":") && p != xs[i] {
			return false
		}
		if strings.HasPrefix(p, ":") && xs[i] == "" {
			return false
		}
	}
	return len(ps) == len(xs)
}
