package httpapi

import (
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/campaignsms/campaignsms/internal/apperr"
	"github.com/campaignsms/campaignsms/internal/customer"
	"github.com/campaignsms/campaignsms/internal/phone"
	"github.com/campaignsms/campaignsms/internal/store"
)

// messageJSON is a message as SPEC §4.6 shows it. Exactly one of loan_id and
// lead_id is set; values not known yet are null.
type messageJSON struct {
	MessageID         string     `json:"message_id"`
	InitiationID      string     `json:"initiation_id"`
	CampaignID        string     `json:"campaign_id"`
	LoanID            *string    `json:"loan_id,omitempty"`
	LeadID            *string    `json:"lead_id,omitempty"`
	To                *string    `json:"to"`
	TemplateID        string     `json:"template_id"`
	Body              *string    `json:"body"`
	Status            string     `json:"status"`
	Attempts          int        `json:"attempts"`
	ProviderMessageID *string    `json:"provider_message_id"`
	Error             *string    `json:"error"`
	ErrorCode         *string    `json:"error_code"`
	CreatedAt         time.Time  `json:"created_at"`
	SentAt            *time.Time `json:"sent_at"`
	DeliveredAt       *time.Time `json:"delivered_at"`
	// Resent: sent again after a crash; the provider may have had it twice.
	Resent bool `json:"resent"`
}

func strPtr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

func messageBody(v *store.MessageView) messageJSON {
	out := messageJSON{
		MessageID: v.ID, InitiationID: v.InitiationID, CampaignID: v.CampaignID, TemplateID: v.TemplateID,
		To: strPtr(v.To), Status: v.Status, CreatedAt: v.CreatedAt.UTC(),
	}
	id := v.CustomerID
	if v.IDField == customer.FieldLeadID {
		out.LeadID = &id
	} else {
		out.LoanID = &id
	}
	if r := v.Record; r != nil {
		out.Body, out.Attempts = strPtr(r.Body), r.Attempts
		out.ProviderMessageID = strPtr(r.ProviderMessageID)
		out.Error, out.ErrorCode = strPtr(r.Error), strPtr(r.Code)
		out.SentAt = utcPtr(r.SentAt)
		out.Resent = r.Resent
	}
	if rep := v.Report; rep != nil {
		at := rep.At
		if rep.Delivered {
			out.DeliveredAt = &at
		} else {
			msg := rep.Error
			if msg == "" {
				msg = "The provider reported the message as not delivered."
			}
			out.Error, out.ErrorCode = &msg, strPtr(store.CodeDeliveryFailed)
		}
	}
	return out
}

func (s *Server) getMessage(c echo.Context) error {
	v, err := s.st.Message(c.Request().Context(), orgOf(c), c.Param("messageId"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"success": true, "data": messageBody(v)})
}

type logsPagination struct {
	Page       int   `json:"page"`
	PerPage    int   `json:"per_page"`
	Total      int64 `json:"total"`
	TotalPages int64 `json:"total_pages"`
	HasNext    bool  `json:"has_next"`
	HasPrev    bool  `json:"has_prev"`
}

func (s *Server) listLogs(c echo.Context) error {
	page, perPage, err := pageParams(c, "per_page")
	if err != nil {
		return err
	}
	if t := strings.ToLower(strings.TrimSpace(c.QueryParam("type"))); t != "" && t != "sms" {
		return apperr.Invalid("type", "must be sms")
	}
	q := store.LogQuery{
		Org: orgOf(c), CampaignID: strings.TrimSpace(c.QueryParam("campaign_id")),
		InitiationID: strings.TrimSpace(c.QueryParam("initiation_id")),
		Offset:       int64((page - 1) * perPage), Limit: int64(perPage),
	}
	if raw := strings.TrimSpace(c.QueryParam("status")); raw != "" {
		for _, st := range strings.Split(raw, ",") {
			st = strings.ToLower(strings.TrimSpace(st))
			if !contains(store.MessageStatuses, st) {
				return apperr.Invalid("status", "must be any of "+strings.Join(store.MessageStatuses, ", ")+" (comma-separated)")
			}
			q.Statuses = append(q.Statuses, st)
		}
	}
	if raw := strings.TrimSpace(c.QueryParam("phone")); raw != "" {
		e164, err := phone.Normalize(raw)
		if err != nil {
			return apperr.Invalid("phone", "must be a valid phone number")
		}
		q.Phone = e164
	}
	views, total, err := s.st.Logs(c.Request().Context(), q)
	if err != nil {
		return err
	}
	data := make([]messageJSON, len(views))
	for i := range views {
		data[i] = messageBody(&views[i])
	}
	pages := (total + int64(perPage) - 1) / int64(perPage)
	return c.JSON(http.StatusOK, map[string]any{"success": true, "data": data, "pagination": logsPagination{
		Page: page, PerPage: perPage, Total: total, TotalPages: pages,
		HasNext: int64(page) < pages, HasPrev: page > 1,
	}})
}
