package provider

// Exotel StatusCallback, as documented at
// developer.exotel.com/api-console/send-sms-api-console (form-encoded SmsSid,
// To, Status one of queued, sending, submitted, sent, failed_dnd, failed,
// SmsUnits, DetailedStatus, DetailedStatusCode, DateSent "YYYY-MM-DD
// HH:mm:ss", CustomField) and
// support.exotel.com/support/solutions/articles/3000112255 (detailed codes:
// 2000x delivered, 21010/21015/21020 pending, 23005 DND, others failed).

import (
	"net/http"
	"strings"
)

type exotelCallbacks struct{}

// exotelStatus maps Status, with DetailedStatusCode deciding DND.
func exotelStatus(status, detailed, code string) ReportStatus {
	if code == "23005" || strings.Contains(strings.ToUpper(detailed), "DND") {
		return ReportDND
	}
	switch strings.ToLower(strings.TrimSpace(status)) {
	case "sent", "delivered":
		return ReportDelivered
	case "failed_dnd":
		return ReportDND
	case "failed", "undelivered", "expired":
		return ReportFailed
	}
	return ReportPending
}

func (exotelCallbacks) ParseDLR(r *http.Request) ([]Report, error) {
	c, err := readCallback(r)
	if err != nil {
		return nil, err
	}
	v := c.form
	if c.json {
		items, err := jsonObjects(c.body)
		if err != nil || len(items) != 1 {
			return nil, badf("exotel status callback is one form or JSON object")
		}
		v = items[0]
	}
	sid, custom := first(v, "SmsSid", "Sid"), first(v, "CustomField")
	if sid == "" && custom == "" {
		return nil, badf("exotel status callback without SmsSid")
	}
	status, detailed, code := first(v, "Status"), first(v, "DetailedStatus"), first(v, "DetailedStatusCode")
	if status == "" {
		return nil, badf("exotel status callback without Status")
	}
	return []Report{{
		MessageID: custom, ProviderMessageID: sid,
		Status: exotelStatus(status, detailed, code), Code: firstNonEmpty(code, status), Text: detailed,
		Phone: e164(first(v, "To")), At: parseTime(first(v, "DateSent"), ist),
	}}, nil
}

// ParseInbound reads an SMS to an ExoPhone forwarded by Exotel (From, To,
// Body).
func (exotelCallbacks) ParseInbound(r *http.Request) ([]Inbound, error) {
	return parseInbound(r, []string{"From", "CallFrom"}, []string{"Body", "Content", "Message"},
		[]string{"SmsSid", "Sid"}, []string{"DateSent", "Date"}, ist)
}
