package httpapi

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/campaignsms/campaignsms/internal/apperr"
)

// dlrProviders are the providers whose delivery reports are understood.
var dlrProviders = map[string]bool{"webhook": true}

// deliveryReport handles POST /api/v1/webhooks/dlr/:provider. Providers do
// not hold API tokens: the shared DLR_TOKEN authenticates them, and without
// one configured the route does not exist.
func (s *Server) deliveryReport(token string) echo.HandlerFunc {
	want := sha256.Sum256([]byte(token))
	return func(c echo.Context) error {
		if token == "" {
			return apperr.New(apperr.NotFound, "No such route.")
		}
		presented, _ := strings.CutPrefix(c.Request().Header.Get(echo.HeaderAuthorization), "Bearer ")
		got := sha256.Sum256([]byte(strings.TrimSpace(presented)))
		if subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
			return apperr.New(apperr.Unauthorized, "A valid delivery report token is required.")
		}
		prov := c.Param("provider")
		if !dlrProviders[prov] {
			return apperr.New(apperr.NotFound, "Unknown delivery report provider %q.", prov)
		}
		body, err := readBody(c, MaxBody)
		if err != nil {
			return err
		}
		o, err := decodeObject(body)
		if err != nil {
			return err
		}
		id, _ := o.str("messageId", true, 200)
		status, ok := o.str("status", true, 16)
		status = strings.ToLower(strings.TrimSpace(status))
		if ok && status != "delivered" && status != "failed" {
			o.fail("status", "must be delivered or failed")
		}
		errText, _ := o.str("error", false, 500)
		o.only("messageId", "status", "error")
		if err := o.err(); err != nil {
			return err
		}
		res, err := s.st.ReportDelivery(c.Request().Context(), id, status == "delivered", strings.TrimSpace(errText))
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, map[string]any{
			"success": true, "message": "Delivery report received",
			"data": map[string]any{"messageId": id, "result": res},
		})
	}
}
