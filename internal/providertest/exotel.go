package providertest

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Exotel is a fake of Exotel's SMS API (developer.exotel.com/api/sms and
// /api/send-bulk-sms-with-dynamic-content): POST
// /v1/Accounts/<sid>/Sms/send and /Sms/bulksend, form-encoded, basic auth
// with the API key and token; answers in XML unless the path ends in .json;
// errors as RestException {Status, Message}.
type Exotel struct {
	gatewayFake
	SID, Key, Token string
}

// NewExotel starts an Exotel fake for account sid with credentials key:token.
func NewExotel(sid, key, token string, f GatewayFaults) *Exotel {
	x := &Exotel{SID: sid, Key: key, Token: token}
	x.start(x.serve, f)
	return x
}

type exotelSMS struct {
	XMLName            xml.Name `json:"-" xml:"SMSMessage"`
	Sid                string   `json:"Sid"`
	AccountSid         string   `json:"AccountSid"`
	From               string   `json:"From"`
	To                 string   `json:"To"`
	Body               string   `json:"Body"`
	DateCreated        string   `json:"DateCreated"`
	Status             string   `json:"Status"`
	DetailedStatus     string   `json:"DetailedStatus"`
	DetailedStatusCode int      `json:"DetailedStatusCode"`
}

func (x *Exotel) serve(w http.ResponseWriter, r *http.Request) {
	prefix := "/v1/Accounts/" + x.SID + "/Sms/"
	op, ok := strings.CutPrefix(r.URL.Path, prefix)
	asJSON := strings.HasSuffix(op, ".json")
	op = strings.TrimSuffix(op, ".json")
	if !ok || (op != "send" && op != "bulksend") {
		x.exception(w, asJSON, http.StatusNotFound, "Resource not found")
		return
	}
	if u, p, ok := r.BasicAuth(); !ok || u != x.Key || p != x.Token {
		x.requestFault() // counted like any request
		x.exception(w, asJSON, http.StatusUnauthorized, "Authentication is required to view this page.")
		return
	}
	switch f, ra := x.requestFault(); f {
	case gwOutage:
		x.exception(w, asJSON, http.StatusServiceUnavailable, "Service Unavailable")
		return
	case gw5xx:
		x.exception(w, asJSON, http.StatusInternalServerError, "Internal Server Error")
		return
	case gw429:
		retryAfterHeader(w, ra)
		x.exception(w, asJSON, http.StatusTooManyRequests, "Too Many Requests")
		return
	}
	form, bad := readForm(r)
	if bad != "" {
		x.exception(w, asJSON, http.StatusBadRequest, "Invalid Parameters: "+bad)
		return
	}
	if op == "send" {
		x.send(w, asJSON, form)
		return
	}
	x.bulksend(w, asJSON, form)
}

func (x *Exotel) check(to, from, body string) (int, string) {
	switch {
	case to == "" || from == "" || body == "":
		return http.StatusBadRequest, "Invalid Parameters: From, To and Body are mandatory"
	case utf8.RuneCountInString(body) > 2000:
		return http.StatusBadRequest, "Invalid Parameters: Body exceeds 2000 characters"
	}
	if reason, ok := x.rejected(to); ok {
		return http.StatusBadRequest, "Invalid Recipient [" + to + "]: " + reason
	}
	return 0, ""
}

func (x *Exotel) send(w http.ResponseWriter, asJSON bool, f url.Values) {
	to, from, body := f.Get("To"), f.Get("From"), f.Get("Body")
	if st, msg := x.check(to, from, body); st != 0 {
		x.exception(w, asJSON, st, msg)
		return
	}
	ids := x.record(false, exotelSid, Accepted{
		MessageID: f.Get("CustomField"), To: to, From: from, Body: body,
		TemplateID: f.Get("DltTemplateId"), EntityID: f.Get("DltEntityId"), StatusCallback: f.Get("StatusCallback"),
	})
	sms := x.sms(ids[0], from, to, body)
	if asJSON {
		b, _ := json.Marshal(map[string]exotelSMS{"SMSMessage": sms})
		write(w, http.StatusOK, "application/json", string(b))
		return
	}
	b, _ := xml.Marshal(struct {
		XMLName xml.Name `xml:"TwilioResponse"`
		SMS     exotelSMS
	}{SMS: sms})
	write(w, http.StatusOK, "application/xml", xml.Header+string(b))
}

func (x *Exotel) bulksend(w http.ResponseWriter, asJSON bool, f url.Values) {
	if !asJSON {
		// Only the JSON form of bulk answers is modelled.
		x.exception(w, false, http.StatusBadRequest, "Invalid Parameters: use bulksend.json")
		return
	}
	n := 0
	for f.Has("Messages[" + strconv.Itoa(n) + "][To]") {
		n++
	}
	if n == 0 || n > 100 {
		x.exception(w, true, http.StatusBadRequest, "Invalid Parameters: Messages must hold 1 to 100 messages")
		return
	}
	items := make([]map[string]any, n)
	var acc []Accepted
	var at []int
	for i := range n {
		p := "Messages[" + strconv.Itoa(i) + "]"
		to, body := f.Get(p+"[To]"), f.Get(p+"[Body]")
		from := firstSet(f.Get(p+"[From]"), f.Get("From"))
		if st, msg := x.check(to, from, body); st != 0 {
			items[i] = map[string]any{"RestException": map[string]any{"Status": st, "Message": msg}}
			continue
		}
		acc = append(acc, Accepted{
			To: to, From: from, Body: body, TemplateID: f.Get(p + "[DltTemplateId]"),
			EntityID: f.Get("DltEntityId"), StatusCallback: f.Get("StatusCallback"),
		})
		at = append(at, i)
	}
	partial := len(acc) < n
	if len(acc) > 0 {
		for j, sid := range x.record(true, exotelSid, acc...) {
			a := acc[j]
			items[at[j]] = map[string]any{"SMSMessage": x.sms(sid, a.From, a.To, a.Body)}
		}
	}
	b, _ := json.Marshal(items)
	status := http.StatusOK
	if partial {
		status = http.StatusMultiStatus
	}
	write(w, status, "application/json", string(b))
}

func (x *Exotel) sms(sid, from, to, body string) exotelSMS {
	return exotelSMS{
		Sid: sid, AccountSid: x.SID, From: from, To: to, Body: body,
		DateCreated: time.Now().In(istZone).Format("2006-01-02 15:04:05"),
		Status:      "queued", DetailedStatus: "PENDING_TO_OPERATOR", DetailedStatusCode: 21010,
	}
}

func exotelSid(n int) string { return fmt.Sprintf("%032x", 0xe0e0e0+n) }

func (x *Exotel) exception(w http.ResponseWriter, asJSON bool, status int, msg string) {
	if asJSON {
		b, _ := json.Marshal(map[string]any{"RestException": map[string]any{"Status": status, "Message": msg}})
		write(w, status, "application/json", string(b))
		return
	}
	var b strings.Builder
	b.WriteString(xml.Header + "<TwilioResponse><RestException><Status>" + strconv.Itoa(status) + "</Status><Message>")
	_ = xml.EscapeText(&b, []byte(msg))
	b.WriteString("</Message></RestException></TwilioResponse>")
	write(w, status, "application/xml", b.String())
}

// StatusCallback is the form Exotel posts to the StatusCallback URL once the
// message with that Sid reached a final state.
func (x *Exotel) StatusCallback(sid string, o Outcome) Callback {
	a, _ := x.ByProviderID(sid)
	v := url.Values{}
	v.Set("SmsSid", sid)
	v.Set("To", a.To)
	v.Set("SmsUnits", "1")
	v.Set("DateSent", time.Now().In(istZone).Format("2006-01-02 15:04:05"))
	switch o {
	case Delivered:
		v.Set("Status", "sent")
		v.Set("DetailedStatus", "DELIVERED_TO_HANDSET")
		v.Set("DetailedStatusCode", "20005")
	case DND:
		v.Set("Status", "failed_dnd")
		v.Set("DetailedStatus", "FAILED_DND")
		v.Set("DetailedStatusCode", "23005")
	default:
		v.Set("Status", "failed")
		v.Set("DetailedStatus", "FAILED_SUBSCRIBER_UNAVAILABLE")
		v.Set("DetailedStatusCode", "23035")
	}
	if a.MessageID != "" {
		v.Set("CustomField", a.MessageID)
	}
	return formCallback(v)
}

// Inbound is an SMS from a customer to an ExoPhone, as Exotel forwards it.
func (x *Exotel) Inbound(from, to, text string) Callback {
	v := url.Values{}
	v.Set("SmsSid", exotelSid(1<<20))
	v.Set("From", from)
	v.Set("To", to)
	v.Set("Body", text)
	return formCallback(v)
}

var istZone = time.FixedZone("IST", 5*3600+1800)

func firstSet(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
