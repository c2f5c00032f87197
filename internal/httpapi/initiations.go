package httpapi

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"go.uber.org/zap"

	"github.com/campaignsms/campaignsms/internal/apperr"
	"github.com/campaignsms/campaignsms/internal/initiate"
	"github.com/campaignsms/campaignsms/internal/store"
)

type initiateResults struct {
	TotalMatched      int64                `json:"totalMatched"`
	CustomersSelected int64                `json:"customersSelected"`
	Initiated         int64                `json:"initiated"`
	Failed            int64                `json:"failed"`
	BatchesProcessed  int                  `json:"batchesProcessed"`
	Errors            []store.MessageError `json:"errors"`
}

type initiateBody struct {
	Success      bool            `json:"success"`
	Message      string          `json:"message"`
	InitiationID string          `json:"initiationId,omitempty"`
	StatusURL    string          `json:"statusUrl,omitempty"`
	Results      initiateResults `json:"results"`
}

func (s *Server) initiate(c echo.Context) error {
	body, err := readBody(c, MaxBody)
	if err != nil {
		return err
	}
	req, err := initiate.DecodeRequest(body)
	if err != nil {
		return err
	}
	key, hasKey, err := idempotencyKey(c)
	if err != nil {
		return err
	}
	org := orgOf(c)
	// A dry run is never stored under a key, so it does not take one either.
	hasKey = hasKey && !req.DryRun
	fp := fingerprint(org, c.Request().URL.Path, req.Canonical())
	var res *initiate.Result
	if hasKey {
		// The key owns the initiation id before anything is written: a
		// retry after a crash at any line finds or finishes that one
		// initiation, never a second.
		id, handled, cerr := s.claimKey(c, key, fp)
		if handled || cerr != nil {
			return cerr
		}
		res, err = s.ini.InitiateAs(c.Request().Context(), id, org, c.Param("campaignId"), req)
		if err != nil || res.InitiationID == "" {
			s.releaseKey(org, key, fp, id)
		}
	} else {
		res, err = s.ini.Initiate(c.Request().Context(), org, c.Param("campaignId"), req)
	}
	if err != nil {
		return err
	}
	status, out := initiateAnswer(res)
	if hasKey {
		raw, _ := json.Marshal(out)
		ctx, cancel := detached()
		err := s.st.StoreIdempotentAnswer(ctx, org, key, fp, res.InitiationID, status, raw)
		cancel()
		if err != nil {
			s.log.Error("store idempotent answer", zap.String("initiation", res.InitiationID), zap.Error(err))
		}
	}
	if wait, ok := preferWait(c); ok && res.InitiationID != "" {
		c.Response().Header().Set("Preference-Applied", "wait="+strconv.Itoa(int(wait/time.Second)))
		return s.waitAndReport(c, res.InitiationID, wait)
	}
	return c.JSON(status, out)
}

// initiateAnswer is SPEC §4.1's status and body for a result.
func initiateAnswer(res *initiate.Result) (int, initiateBody) {
	out := initiateBody{
		InitiationID: res.InitiationID,
		Results: initiateResults{
			TotalMatched: res.TotalMatched, CustomersSelected: res.Selected, Initiated: res.Initiated,
			Failed: res.Failed, BatchesProcessed: res.Batches, Errors: res.Errors,
		},
	}
	if out.Results.Errors == nil {
		out.Results.Errors = []store.MessageError{}
	}
	if res.InitiationID != "" {
		out.StatusURL = "/api/v1/initiations/" + res.InitiationID
	}
	switch {
	case res.Failed == 0:
		out.Success = true
		out.Message = "SMS messages initiated for " + strconv.FormatInt(res.Initiated, 10) + " customers"
		return http.StatusOK, out
	case res.Initiated > 0:
		out.Message = "SMS messages initiated for " + strconv.FormatInt(res.Initiated, 10) + " customers, " + strconv.FormatInt(res.Failed, 10) + " failed"
		return http.StatusMultiStatus, out
	default:
		out.Message = "No SMS messages could be initiated: " + strconv.FormatInt(res.Failed, 10) + " customers failed"
		return http.StatusInternalServerError, out
	}
}

// preferWait parses RFC 7240 "Prefer: wait=N"; N is clamped to 60 and a
// malformed preference is ignored.
func preferWait(c echo.Context) (time.Duration, bool) {
	for _, h := range c.Request().Header.Values("Prefer") {
		for _, pref := range strings.Split(h, ",") {
			k, v, ok := strings.Cut(strings.TrimSpace(pref), "=")
			if !ok || !strings.EqualFold(strings.TrimSpace(k), "wait") {
				continue
			}
			n, err := strconv.Atoi(strings.Trim(strings.TrimSpace(v), `"`))
			if err != nil || n < 1 {
				return 0, false
			}
			return time.Duration(min(n, 60)) * time.Second, true
		}
	}
	return 0, false
}

func (s *Server) waitAndReport(c echo.Context, id string, d time.Duration) error {
	ctx := c.Request().Context()
	if _, err := s.ini.Wait(ctx, id, d); err != nil {
		if ctx.Err() != nil {
			return nil // the client hung up; the initiation goes on
		}
		return err
	}
	st, err := s.ini.Status(ctx, orgOf(c), id)
	if err != nil {
		return err
	}
	code := http.StatusAccepted
	switch {
	case st.Pending() > 0:
	case st.Counters.Failed == 0:
		code = http.StatusOK
	case st.Counters.Sent == 0:
		code = http.StatusInternalServerError
	default:
		code = http.StatusMultiStatus
	}
	return c.JSON(code, statusBody(st))
}

type statusResults struct {
	TotalMatched      int64                `json:"totalMatched"`
	CustomersSelected int64                `json:"customersSelected"`
	Initiated         int64                `json:"initiated"`
	Sent              int64                `json:"sent"`
	Delivered         int64                `json:"delivered"`
	Failed            int64                `json:"failed"`
	Skipped           int64                `json:"skipped"`
	Cancelled         int64                `json:"cancelled"`
	Pending           int64                `json:"pending"`
	BatchesProcessed  int64                `json:"batchesProcessed"`
	BatchesTotal      int                  `json:"batchesTotal"`
	Errors            []store.MessageError `json:"errors"`
}

type statusJSON struct {
	Success      bool          `json:"success"`
	InitiationID string        `json:"initiationId"`
	CampaignID   string        `json:"campaignId"`
	TemplateID   string        `json:"templateId"`
	State        string        `json:"state"`
	CreatedAt    time.Time     `json:"createdAt"`
	CompletedAt  *time.Time    `json:"completedAt"`
	Message      string        `json:"message"`
	Results      statusResults `json:"results"`
}

func statusBody(st *initiate.Status) statusJSON {
	c, ini := st.Counters, st.Initiation
	errs := st.Errors
	if errs == nil {
		errs = []store.MessageError{}
	}
	return statusJSON{
		Success: c.Failed == 0, InitiationID: ini.ID, CampaignID: ini.CampaignID, TemplateID: ini.TemplateID,
		State: st.State, CreatedAt: ini.CreatedAt.UTC(), CompletedAt: c.CompletedAt, Message: st.Message(),
		Results: statusResults{
			TotalMatched: ini.TotalMatched, CustomersSelected: c.Selected, Initiated: c.Initiated,
			Sent: c.Sent, Delivered: c.Delivered, Failed: c.Failed, Skipped: c.Skipped,
			Cancelled: c.Cancelled, Pending: st.Pending(), BatchesProcessed: c.BatchesDone,
			BatchesTotal: ini.Batches, Errors: errs,
		},
	}
}

func (s *Server) getInitiation(c echo.Context) error {
	st, err := s.ini.Status(c.Request().Context(), orgOf(c), c.Param("id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, statusBody(st))
}

func (s *Server) cancelInitiation(c echo.Context) error {
	st, err := s.ini.Cancel(c.Request().Context(), orgOf(c), c.Param("id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, statusBody(st))
}

type pagination struct {
	Page       int   `json:"page"`
	Limit      int   `json:"limit"`
	Total      int64 `json:"total"`
	TotalPages int64 `json:"totalPages"`
}

func newPagination(page, limit int, total int64) pagination {
	return pagination{Page: page, Limit: limit, Total: total, TotalPages: (total + int64(limit) - 1) / int64(limit)}
}

// pageParams reads ?page= and a size parameter, 400 on nonsense.
func pageParams(c echo.Context, sizeParam string) (int, int, error) {
	page, limit := 1, 10
	for _, p := range []struct {
		name string
		dst  *int
		max  int
	}{{"page", &page, 1 << 30}, {sizeParam, &limit, 100}} {
		raw := c.QueryParam(p.name)
		if raw == "" {
			continue
		}
		n, err := strconv.Atoi(raw)
		if err != nil || n < 1 || n > p.max {
			return 0, 0, apperr.Invalid(p.name, "must be a whole number from 1 to "+strconv.Itoa(p.max))
		}
		*p.dst = n
	}
	return page, limit, nil
}

func (s *Server) listInitiations(c echo.Context) error {
	page, limit, err := pageParams(c, "limit")
	if err != nil {
		return err
	}
	list, total, err := s.ini.List(c.Request().Context(), orgOf(c), c.QueryParam("campaignId"), page, limit)
	if err != nil {
		return err
	}
	data := make([]statusJSON, len(list))
	for i, st := range list {
		data[i] = statusBody(st)
	}
	return c.JSON(http.StatusOK, map[string]any{"success": true, "data": data, "pagination": newPagination(page, limit, total)})
}
