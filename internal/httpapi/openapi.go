package httpapi

import (
	"bytes"
	_ "embed"
	"net/http"

	"github.com/labstack/echo/v4"
)

// openapiDoc is this API as OpenAPI 3.0.3 (SPEC §4.7).
//
//go:embed openapi.json
var openapiDoc []byte

// OpenAPI returns a copy of the OpenAPI 3 document served at
// GET /api/v1/openapi.json.
func OpenAPI() []byte { return bytes.Clone(openapiDoc) }

// openapi serves the document; it needs no token.
func (s *Server) openapi(c echo.Context) error {
	return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, openapiDoc)
}
