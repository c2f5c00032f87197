package httpapi

import (
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"
	"go.uber.org/zap"

	"github.com/campaignsms/campaignsms/internal/apperr"
)

// statusOf is the one table from domain error kinds to HTTP statuses.
var statusOf = map[apperr.Kind]int{
	apperr.Validation:           http.StatusBadRequest,
	apperr.Unauthorized:         http.StatusUnauthorized,
	apperr.NotFound:             http.StatusNotFound,
	apperr.MethodNotAllowed:     http.StatusMethodNotAllowed,
	apperr.Conflict:             http.StatusConflict,
	apperr.PayloadTooLarge:      http.StatusRequestEntityTooLarge,
	apperr.UnsupportedMediaType: http.StatusUnsupportedMediaType,
	apperr.Unprocessable:        http.StatusUnprocessableEntity,
	apperr.Internal:             http.StatusInternalServerError,
	apperr.Unavailable:          http.StatusServiceUnavailable,
}

// kindOfStatus translates echo's own errors (no route, wrong method) back.
var kindOfStatus = map[int]apperr.Kind{
	http.StatusNotFound:              apperr.NotFound,
	http.StatusMethodNotAllowed:      apperr.MethodNotAllowed,
	http.StatusRequestEntityTooLarge: apperr.PayloadTooLarge,
	http.StatusUnsupportedMediaType:  apperr.UnsupportedMediaType,
	http.StatusUnauthorized:          apperr.Unauthorized,
	http.StatusBadRequest:            apperr.Validation,
	http.StatusServiceUnavailable:    apperr.Unavailable,
}

type errorBody struct {
	Success bool                `json:"success"`
	Error   apperr.Kind         `json:"error"`
	Message string              `json:"message"`
	Details []apperr.FieldError `json:"details,omitempty"`
}

// errorHandler writes every error in the SPEC §3 shape; internal causes are
// logged, never shown.
func (s *Server) errorHandler(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	var (
		ae *apperr.Error
		he *echo.HTTPError
	)
	body := errorBody{Error: apperr.Internal, Message: "Something went wrong on our side; try again."}
	switch {
	case errors.As(err, &ae):
		body.Error, body.Details = ae.Kind, ae.Details
		if ae.Kind != apperr.Internal {
			body.Message = ae.Message
		}
	case errors.As(err, &he):
		if k, ok := kindOfStatus[he.Code]; ok {
			body.Error = k
			body.Message = echoMessage(he)
		}
	}
	status := statusOf[body.Error]
	if status >= 500 {
		s.log.Error("request failed", zap.String("route", c.Path()), zap.String("method", c.Request().Method), zap.Error(err))
	}
	if c.Request().Method == http.MethodHead {
		_ = c.NoContent(status)
		return
	}
	_ = c.JSON(status, body)
}

func echoMessage(he *echo.HTTPError) string {
	switch he.Code {
	case http.StatusNotFound:
		return "No such route."
	case http.StatusMethodNotAllowed:
		return "This method is not allowed on this route."
	case http.StatusRequestEntityTooLarge:
		return "The request body is too large."
	}
	if m, ok := he.Message.(string); ok {
		return m
	}
	return http.StatusText(he.Code)
}
