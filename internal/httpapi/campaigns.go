package httpapi

import (
	"crypto/rand"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"
	_ "time/tzdata" // timezone validation must not depend on the host's zoneinfo

	"github.com/labstack/echo/v4"

	"github.com/campaignsms/campaignsms/internal/apperr"
	"github.com/campaignsms/campaignsms/internal/customer"
	"github.com/campaignsms/campaignsms/internal/store"
)

// DefaultTimezone is a campaign's timezone when none is given.
const DefaultTimezone = "Asia/Kolkata"

// campaignFields are the writable fields, in the order updatedFields lists them.
var campaignFields = []string{
	"name", "description", "campaignType", "startDate", "endDate", "startTime", "endTime",
	"timezone", "languages", "region", "tags", "jsonData",
}

var (
	campaignTypes = []string{"emi", "edi", "lead"}
	dateRe        = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)
	clockRe       = regexp.MustCompile(`^\d{2}:\d{2}$`)
)

// campaignJSON is a campaign as the API shows it: lists never null.
func campaignJSON(c *store.Campaign) *store.Campaign {
	out := *c
	if out.Languages == nil {
		out.Languages = []string{}
	}
	if out.Tags == nil {
		out.Tags = []string{}
	}
	return &out
}

// applyCampaign validates the fields o gives and sets them on c. On an
// update, null clears an optional field. It returns the fields given.
func applyCampaign(o *object, c *store.Campaign, create bool) []string {
	var given []string
	for _, f := range campaignFields {
		if o.has(f) {
			given = append(given, f)
		}
	}
	if v, ok := o.str("name", create || o.has("name"), 200); ok {
		c.Name = strings.TrimSpace(v)
	}
	if v, ok := o.str("description", false, 2000); ok || o.null("description") {
		c.Description = v
	}
	if v, ok := o.str("campaignType", false, 16); ok || o.null("campaignType") {
		v = strings.ToLower(strings.TrimSpace(v))
		if v != "" && !contains(campaignTypes, v) {
			o.fail("campaignType", "must be one of "+strings.Join(campaignTypes, ", "))
		}
		c.CampaignType = v
	}
	for _, d := range []struct {
		name string
		dst  *string
	}{{"startDate", &c.StartDate}, {"endDate", &c.EndDate}} {
		if v, ok := o.str(d.name, false, 10); ok || o.null(d.name) {
			if _, err := time.Parse(time.DateOnly, v); v != "" && (err != nil || !dateRe.MatchString(v)) {
				o.fail(d.name, "must be a date as YYYY-MM-DD")
			}
			*d.dst = v
		}
	}
	for _, t := range []struct {
		name string
		dst  *string
	}{{"startTime", &c.StartTime}, {"endTime", &c.EndTime}} {
		if v, ok := o.str(t.name, false, 5); ok || o.null(t.name) {
			if _, err := time.Parse("15:04", v); v != "" && (err != nil || !clockRe.MatchString(v)) {
				o.fail(t.name, "must be a time as HH:MM (24-hour)")
			}
			*t.dst = v
		}
	}
	if v, ok := o.str("timezone", false, 64); ok || o.null("timezone") || create {
		v = strings.TrimSpace(v)
		if v == "" {
			v = DefaultTimezone
		}
		if _, err := time.LoadLocation(v); err != nil || v == "Local" {
			o.fail("timezone", "must be an IANA time zone such as Asia/Kolkata")
		}
		c.Timezone = v
	}
	if v, ok := o.strList("languages", 50, 50); ok || o.null("languages") {
		c.Languages = v
	}
	if v, ok := o.str("region", false, 200); ok || o.null("region") {
		c.Region = v
	}
	if v, ok := o.strList("tags", 100, 100); ok || o.null("tags") {
		c.Tags = v
	}
	if c.StartDate != "" && c.EndDate != "" && c.EndDate < c.StartDate {
		o.fail("endDate", "must not be before startDate")
	}
	return given
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// jsonData reads the optional customer records of a create or update.
func jsonData(o *object) ([]any, bool) {
	if !o.given("jsonData") {
		return nil, false
	}
	raw, ok := o.array("jsonData", false)
	if ok && len(raw) > customer.MaxRecords {
		o.fail("jsonData", fmt.Sprintf("at most %d records per request, got %d", customer.MaxRecords, len(raw)))
		return nil, false
	}
	return raw, ok
}

const idAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// randomID returns n letters and digits from crypto/rand, uniformly: bytes
// that would bias the modulo are drawn again.
func randomID(n int) string {
	const limit = 256 - 256%len(idAlphabet)
	out := make([]byte, 0, n)
	var buf [32]byte
	for len(out) < n {
		_, _ = rand.Read(buf[:])
		for _, b := range buf {
			if int(b) < limit && len(out) < n {
				out = append(out, idAlphabet[int(b)%len(idAlphabet)])
			}
		}
	}
	return string(out)
}

func (s *Server) createCampaign(c echo.Context) error {
	body, err := readBody(c, MaxBulkBody) // jsonData is a bulk import
	if err != nil {
		return err
	}
	o, err := decodeObject(body)
	if err != nil {
		return err
	}
	camp := &store.Campaign{Org: orgOf(c), Status: store.StatusActive}
	if v, ok := o.str("id", false, 64); ok {
		if !store.ValidID(v) {
			o.fail("id", "must be 1 to 64 letters, digits, '_', '-' or '.', starting with a letter or digit")
		}
		camp.ID = v
	}
	applyCampaign(o, camp, true)
	raw, hasRecords := jsonData(o)
	o.only(append([]string{"id"}, campaignFields...)...)
	if err := o.err(); err != nil {
		return err
	}
	var chk checkedRecords
	if hasRecords && len(raw) > 0 {
		if chk = checkRecords("jsonData", raw); len(chk.recs) == 0 {
			return noValidRecord(chk)
		}
	}
	if camp.ID == "" {
		camp.ID = "cmp_" + randomID(12)
	}
	_, batches, err := s.st.CreateCampaignWithCustomers(c.Request().Context(), camp, chk.recs, bulkChunk)
	if err != nil {
		return err
	}
	out := map[string]any{
		"success": true, "message": "Campaign created successfully",
		"data": map[string]any{"id": camp.ID, "name": camp.Name},
	}
	status := http.StatusCreated
	if hasRecords && len(raw) > 0 {
		res := chk.results
		res.Successful, res.Failed, res.BatchesProcessed = len(chk.recs), res.Invalid, batches
		out["results"] = res
		if res.Failed > 0 {
			status = http.StatusMultiStatus
			out["success"] = false
			out["message"] = fmt.Sprintf("Campaign created; %d customers added, %d failed", res.Successful, res.Failed)
		}
	}
	return c.JSON(status, out)
}

func (s *Server) getCampaign(c echo.Context) error {
	camp, err := s.campaignOf(c, c.Param("id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"success": true, "data": campaignJSON(camp)})
}

func (s *Server) updateCampaign(c echo.Context) error {
	o, err := readObject(c, MaxBulkBody)
	if err != nil {
		return err
	}
	id := c.Param("id")
	if v, ok := o.str("id", false, 64); ok && v != id {
		o.fail("id", "the id of a campaign cannot be changed")
	}
	if o.has("status") {
		o.fail("status", "cannot be set here; use PATCH /api/v1/campaigns/pause/{id} or /resume/{id}")
	}
	// Validate once on a scratch campaign, so a 400 comes before the 404.
	given := applyCampaign(o, &store.Campaign{}, false)
	raw, hasRecords := jsonData(o)
	o.only(append([]string{"id", "status"}, campaignFields...)...)
	if err := o.err(); err != nil {
		return err
	}
	if len(given) == 0 {
		return apperr.Invalid("body", "no field to update; give any of "+strings.Join(campaignFields, ", "))
	}
	var chk checkedRecords
	if hasRecords && len(raw) > 0 {
		if chk = checkRecords("jsonData", raw); len(chk.recs) == 0 {
			return noValidRecord(chk)
		}
	}
	ctx := c.Request().Context()
	camp, err := s.st.UpdateCampaign(ctx, orgOf(c), id, func(camp *store.Campaign) (bool, error) {
		applyCampaign(o, camp, false)
		if err := o.err(); err != nil { // endDate before a stored startDate
			return false, err
		}
		return true, nil
	})
	if err != nil {
		return err
	}
	out := map[string]any{"success": true, "message": "Campaign updated successfully", "updatedFields": given}
	status := http.StatusOK
	if len(chk.recs) > 0 {
		res := chk.results
		_, batches, err := s.st.AddCustomers(ctx, orgOf(c), id, chk.recs, bulkChunk)
		if err != nil {
			return err
		}
		res.Successful, res.Failed, res.BatchesProcessed = len(chk.recs), res.Invalid, batches
		camp.RowsLen, _ = s.st.CustomerCount(ctx, orgOf(c), id)
		out["results"] = res
		if res.Failed > 0 {
			status = http.StatusMultiStatus
			out["success"] = false
		}
	}
	out["data"] = campaignJSON(camp)
	return c.JSON(status, out)
}

func (s *Server) pauseCampaign(c echo.Context) error {
	camp, err := s.st.PauseCampaign(c.Request().Context(), orgOf(c), c.Param("id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{
		"success": true, "message": "Campaign paused",
		"data": map[string]any{"id": camp.ID, "status": camp.Status, "pausedAt": camp.PausedAt},
	})
}

func (s *Server) resumeCampaign(c echo.Context) error {
	camp, err := s.st.ResumeCampaign(c.Request().Context(), orgOf(c), c.Param("id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{
		"success": true, "message": "Campaign resumed",
		"data": map[string]any{"id": camp.ID, "status": camp.Status, "resumedAt": camp.UpdatedAt},
	})
}

func (s *Server) deleteCampaign(c echo.Context) error {
	id := c.Param("id")
	res, err := s.st.DeleteCampaign(c.Request().Context(), orgOf(c), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{
		"success": true, "message": "Campaign deleted successfully",
		"data": map[string]any{"id": id, "initiations": res.Initiations, "cancelledMessages": res.Cancelled},
	})
}

func (s *Server) listCampaigns(c echo.Context) error {
	page, limit, err := pageParams(c, "limit")
	if err != nil {
		return err
	}
	status := strings.ToLower(strings.TrimSpace(c.QueryParam("status")))
	if status != "" && status != store.StatusActive && status != store.StatusPaused {
		return apperr.Invalid("status", "must be active or paused")
	}
	ctype := strings.ToLower(strings.TrimSpace(c.QueryParam("campaign_type")))
	if ctype != "" && !contains(campaignTypes, ctype) {
		return apperr.Invalid("campaign_type", "must be one of "+strings.Join(campaignTypes, ", "))
	}
	search := strings.ToLower(strings.TrimSpace(c.QueryParam("search")))
	all, err := s.st.AllCampaigns(c.Request().Context(), orgOf(c))
	if err != nil {
		return err
	}
	matched := make([]*store.Campaign, 0, len(all))
	for _, camp := range all {
		switch {
		case status != "" && camp.Status != status:
		case ctype != "" && camp.CampaignType != ctype:
		case search != "" && !strings.Contains(strings.ToLower(camp.Name), search) &&
			!strings.Contains(strings.ToLower(camp.ID), search) &&
			!strings.Contains(strings.ToLower(camp.Description), search):
		default:
			matched = append(matched, campaignJSON(camp))
		}
	}
	from := min((page-1)*limit, len(matched))
	to := min(from+limit, len(matched))
	return c.JSON(http.StatusOK, map[string]any{
		"success": true, "data": matched[from:to], "pagination": newPagination(page, limit, int64(len(matched))),
	})
}
