package httpapi

import (
	"crypto/sha256"
	"crypto/subtle"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/campaignsms/campaignsms/internal/apperr"
)

type tokenEntry struct {
	sum [sha256.Size]byte
	org string
}

// tokens checks bearer tokens in constant time: every known token is
// compared, over fixed-length digests, whatever matches first.
type tokens []tokenEntry

func newTokens(m map[string]string) tokens {
	out := make(tokens, 0, len(m))
	for tok, org := range m {
		out = append(out, tokenEntry{sum: sha256.Sum256([]byte(tok)), org: org})
	}
	return out
}

func (t tokens) org(presented string) (string, bool) {
	sum := sha256.Sum256([]byte(presented))
	org := ""
	for _, e := range t {
		if subtle.ConstantTimeCompare(sum[:], e.sum[:]) == 1 {
			org = e.org
		}
	}
	return org, org != ""
}

const orgKey = "org"

// auth resolves the bearer token to its org or answers 401.
func (s *Server) auth(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Request().Header.Get(echo.HeaderAuthorization)
		tok, ok := strings.CutPrefix(h, "Bearer ")
		if !ok || tok == "" {
			return apperr.New(apperr.Unauthorized, "A valid bearer token is required.")
		}
		org, ok := s.tokens.org(strings.TrimSpace(tok))
		if !ok {
			return apperr.New(apperr.Unauthorized, "A valid bearer token is required.")
		}
		c.Set(orgKey, org)
		return next(c)
	}
}

func orgOf(c echo.Context) string {
	org, _ := c.Get(orgKey).(string)
	return org
}
