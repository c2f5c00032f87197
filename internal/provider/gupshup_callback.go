package provider

// Gupshup Enterprise delivery reports, as documented at
// docs.gupshup.io/docs/real-time-delivery-reports: a GET with externalId,
// deliveredTS (Unix ms), status SUCCESS | FAILURE | UNKNOWN, cause, phoneNo,
// errCode, noOfFrags, mask; or a POST of a JSON array of up to 20 events
// {externalId, eventType DELIVERED | FAILED…, eventTs, destAddr, srcAddr,
// cause, errCode} (the page shows it as "response=[…]", so a form field
// "response" holding the array is read too).

import (
	"net/http"
	"net/url"
	"strings"
)

type gupshupCallbacks struct{}

// gupshupStatus maps status or eventType; a DND cause makes a failure a DND
// report. UNKNOWN (no report from the operator) records nothing.
func gupshupStatus(status, cause string) ReportStatus {
	c := strings.ToUpper(cause)
	switch strings.ToUpper(strings.TrimSpace(status)) {
	case "SUCCESS", "DELIVERED":
		return ReportDelivered
	case "FAILURE", "FAILED", "UNDELIVERED", "REJECTED", "EXPIRED":
		if strings.Contains(c, "DND") || strings.Contains(c, "NCPR") || strings.Contains(c, "NDNC") {
			return ReportDND
		}
		return ReportFailed
	}
	return ReportPending
}

func (gupshupCallbacks) ParseDLR(r *http.Request) ([]Report, error) {
	c, err := readCallback(r)
	if err != nil {
		return nil, err
	}
	var items []url.Values
	switch {
	case c.json:
		items, err = jsonObjects(c.body)
	case strings.TrimSpace(c.form.Get("response")) != "":
		items, err = jsonObjects([]byte(c.form.Get("response")))
	default:
		items = []url.Values{c.form}
	}
	if err != nil {
		return nil, err
	}
	out := make([]Report, 0, len(items))
	for _, v := range items {
		id := first(v, "externalId")
		st := first(v, "status", "eventType")
		if id == "" || st == "" {
			return nil, badf("gupshup report without externalId or status")
		}
		cause := first(v, "cause")
		code := first(v, "errCode")
		out = append(out, Report{
			ProviderMessageID: id, Status: gupshupStatus(st, cause), Code: firstNonEmpty(code, st), Text: cause,
			Phone: e164(first(v, "phoneNo", "destAddr")), At: parseTime(first(v, "deliveredTS", "eventTs"), ist),
		})
	}
	return out, nil
}

// ParseInbound reads Gupshup's incoming-message forward (msisdn, content or
// keyword, timestamp).
func (gupshupCallbacks) ParseInbound(r *http.Request) ([]Inbound, error) {
	return parseInbound(r, []string{"msisdn", "phone", "from", "srcAddr"}, []string{"content", "message", "text", "keyword"},
		[]string{"externalId", "id"}, []string{"timestamp", "eventTs"}, ist)
}
