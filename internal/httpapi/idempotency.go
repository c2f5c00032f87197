package httpapi

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"go.uber.org/zap"

	"github.com/campaignsms/campaignsms/internal/apperr"
	"github.com/campaignsms/campaignsms/internal/initiate"
)

// maxIdemKey is the longest Idempotency-Key accepted (SPEC §4.1).
const maxIdemKey = 255

// idempotencyKey returns the request's Idempotency-Key, if it sent one.
func idempotencyKey(c echo.Context) (string, bool, error) {
	vals, ok := c.Request().Header[http.CanonicalHeaderKey("Idempotency-Key")]
	if !ok {
		return "", false, nil
	}
	if len(vals) != 1 || vals[0] == "" || len(vals[0]) > maxIdemKey {
		return "", false, apperr.Invalid("Idempotency-Key", "must be one value of 1 to 255 characters")
	}
	return vals[0], true, nil
}

// fingerprint identifies a request: org, path and canonical JSON body.
func fingerprint(org, path string, canonical []byte) string {
	h := sha256.New()
	h.Write([]byte(org))
	h.Write([]byte{0})
	h.Write([]byte(path))
	h.Write([]byte{0})
	h.Write(canonical)
	return hex.EncodeToString(h.Sum(nil))
}

// claimKey takes the key for this request and returns the initiation id
// the request is to create, or answers from what the key holds: a replay of
// the stored answer, 409 while the first request runs, 422 when the key was
// used with another body. handled=true means the answer has been written.
func (s *Server) claimKey(c echo.Context, key, fp string) (id string, handled bool, err error) {
	rec, id, taken, err := s.st.TakeIdempotencyKey(c.Request().Context(), orgOf(c), key, fp, initiate.NewInitiationID())
	if err != nil || taken {
		return id, false, err
	}
	switch {
	case rec.Fingerprint != fp:
		return "", true, apperr.New(apperr.Unprocessable, "This Idempotency-Key was used with a different request.")
	case !rec.Done:
		return "", true, apperr.New(apperr.Conflict, "A request with this Idempotency-Key is still running.")
	}
	c.Response().Header().Set("Idempotent-Replayed", "true")
	return "", true, c.JSONBlob(rec.Status, rec.Body)
}

// detached gives writes that must outlive a client's hang-up their own deadline.
func detached() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 5*time.Second)
}

func (s *Server) releaseKey(org, key, fp, id string) {
	ctx, cancel := detached()
	defer cancel()
	if err := s.st.ReleaseIdempotencyKey(ctx, org, key, fp, id); err != nil {
		s.log.Warn("release idempotency key", zap.Error(err))
	}
}
