package provider

// Exotel, as documented at developer.exotel.com/api/sms (Send SMS),
// developer.exotel.com/api/send-bulk-sms-with-dynamic-content (bulksend, at
// most 100 messages a request, "append .json" for JSON answers),
// support.exotel.com/support/solutions/articles/48282-sending-an-sms (errors
// as a RestException with Status and Message, XML by default) and
// developer.exotel.com/docs/sms-api/api-reference/status-codes (429 above 200
// requests a minute).

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// DefaultExotelBaseURL is Exotel's Singapore cluster; accounts on the Mumbai
// cluster set SMS_EXOTEL_BASE_URL=https://api.in.exotel.com.
const DefaultExotelBaseURL = "https://api.exotel.com"

// ExotelMaxBatch is bulksend's documented limit (more is an HTTP 400).
const ExotelMaxBatch = 100

// ExotelRequestRate is Exotel's published limit: 200 requests per minute.
const ExotelRequestRate = 200.0 / 60

// ExotelParams configures NewExotel.
type ExotelParams struct {
	BaseURL  string // default DefaultExotelBaseURL
	SID      string // account sid
	APIKey   string // basic auth user
	APIToken string // basic auth password
	// StatusCallback is the URL Exotel posts delivery reports to (our
	// /api/v1/webhooks/dlr/exotel, token included); empty sends none.
	StatusCallback string
	// SmsType, when set, is sent as SmsType (transactional,
	// transactional_opt_in or promotional) instead of letting Exotel match
	// the text against the templates of the account.
	SmsType string
	HTTPParams
}

type exotel struct {
	gateway
	p ExotelParams
}

// NewExotel returns Exotel's Send SMS and bulksend APIs as a BatchProvider.
// Our message id goes out as CustomField (single sends), so delivery reports
// can be matched by it as well as by SmsSid.
func NewExotel(p ExotelParams) BatchProvider {
	return &exotel{gateway: newGateway(NameExotel, p.BaseURL, DefaultExotelBaseURL, p.HTTPParams), p: p}
}

func (x *exotel) MaxBatch() int        { return ExotelMaxBatch }
func (x *exotel) RequestRate() float64 { return ExotelRequestRate }
func (x *exotel) endpoint(op string) string {
	return x.base + "/v1/Accounts/" + url.PathEscape(x.p.SID) + "/Sms/" + op + ".json"
}

func (x *exotel) header() http.Header {
	h := http.Header{}
	h.Set("Accept", "application/json")
	h.Set("Authorization", basicAuth(x.p.APIKey, x.p.APIToken))
	return h
}

// exotelSMS is the SMSMessage of an answer.
type exotelSMS struct {
	Sid                string          `json:"Sid"`
	To                 string          `json:"To"`
	Status             string          `json:"Status"`
	DetailedStatus     string          `json:"DetailedStatus"`
	DetailedStatusCode json.RawMessage `json:"DetailedStatusCode"`
}

type exotelException struct {
	Status  json.RawMessage `json:"Status" xml:"-"`
	Code    json.RawMessage `json:"Code" xml:"-"`
	Message string          `json:"Message" xml:"Message"`
	XStatus string          `json:"-" xml:"Status"`
	XCode   string          `json:"-" xml:"Code"`
}

type exotelItem struct {
	SMSMessage    *exotelSMS       `json:"SMSMessage"`
	RestException *exotelException `json:"RestException"`
}

func (x *exotel) Send(ctx context.Context, m Message) (Result, error) {
	if err := mustHave(x.name, "a message id", m.ID, "a recipient", m.To, "a sender (From)", m.From); err != nil {
		return Result{}, err
	}
	f := url.Values{}
	f.Set("From", m.From)
	f.Set("To", m.To)
	f.Set("Body", m.Body)
	setIf(f, "DltEntityId", m.DLTEntityID)
	setIf(f, "DltTemplateId", m.DLTTemplateID)
	setIf(f, "SmsType", x.p.SmsType)
	setIf(f, "StatusCallback", x.p.StatusCallback)
	f.Set("CustomField", m.ID)
	if !gsm7(m.Body) {
		f.Set("EncodingType", "unicode")
	}
	a, err := x.call(ctx, http.MethodPost, x.endpoint("send"), "application/x-www-form-urlencoded", []byte(f.Encode()), x.header())
	if err != nil {
		return Result{}, err
	}
	if a.status < 200 || a.status > 299 {
		return Result{}, x.refusal(a)
	}
	var item exotelItem
	if err := json.Unmarshal(a.body, &item); err != nil || item.SMSMessage == nil || item.SMSMessage.Sid == "" {
		if item.RestException != nil {
			return Result{}, x.exception(a, item.RestException)
		}
		return Result{}, malformed(x.name, a, err)
	}
	return Result{ProviderMessageID: item.SMSMessage.Sid, Provider: x.name}, nil
}

// SendBatch posts the messages to bulksend, one request per DLT entity and
// encoding (both are per request there); each message's answer is its own
// SMSMessage or RestException.
func (x *exotel) SendBatch(ctx context.Context, msgs []Message) []BatchResult {
	if out := splitOversize(ctx, x, msgs, ExotelMaxBatch); out != nil {
		return out
	}
	out := make([]BatchResult, len(msgs))
	type key struct {
		entity  string
		unicode bool
	}
	groups := map[key][]int{}
	var order []key
	for i, m := range msgs {
		if err := mustHave(x.name, "a message id", m.ID, "a recipient", m.To, "a sender (From)", m.From); err != nil {
			out[i].Err = err
			continue
		}
		k := key{m.DLTEntityID, !gsm7(m.Body)}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], i)
	}
	for _, k := range order {
		idx := groups[k]
		if len(idx) == 1 {
			res, err := x.Send(ctx, msgs[idx[0]])
			out[idx[0]] = BatchResult{Result: res, Err: err}
			continue
		}
		x.bulk(ctx, msgs, idx, k.entity, k.unicode, out)
	}
	return out
}

func (x *exotel) bulk(ctx context.Context, msgs []Message, idx []int, entity string, unicode bool, out []BatchResult) {
	f := url.Values{}
	setIf(f, "DltEntityId", entity)
	setIf(f, "StatusCallback", x.p.StatusCallback)
	if unicode {
		f.Set("EncodingType", "unicode")
	}
	for j, i := range idx {
		m := msgs[i]
		p := "Messages[" + strconv.Itoa(j) + "]"
		f.Set(p+"[To]", m.To)
		f.Set(p+"[Body]", m.Body)
		f.Set(p+"[From]", m.From)
		setIf(f, p+"[DltTemplateId]", m.DLTTemplateID)
		setIf(f, p+"[SmsType]", x.p.SmsType)
	}
	a, err := x.call(ctx, http.MethodPost, x.endpoint("bulksend"), "application/x-www-form-urlencoded", []byte(f.Encode()), x.header())
	if err == nil && (a.status < 200 || a.status > 299) {
		err = x.refusal(a)
	}
	if err != nil {
		for _, i := range idx {
			out[i].Err = err
		}
		return
	}
	var items []exotelItem
	if jerr := json.Unmarshal(a.body, &items); jerr != nil {
		for _, i := range idx {
			out[i].Err = malformed(x.name, a, jerr)
		}
		return
	}
	for j, i := range idx {
		item, ok := matchItem(items, j, len(idx), msgs[i].To)
		switch {
		case !ok:
			out[i].Err = malformed(x.name, a, nil)
		case item.RestException != nil && (item.SMSMessage == nil || item.SMSMessage.Sid == ""):
			out[i].Err = x.exception(a, item.RestException)
		case item.SMSMessage != nil && item.SMSMessage.Sid != "":
			out[i].Result = Result{ProviderMessageID: item.SMSMessage.Sid, Provider: x.name}
		default:
			out[i].Err = malformed(x.name, a, nil)
		}
	}
}

// matchItem finds the answer of the j-th of n messages: by position when the
// answer has one item per message, else by recipient.
func matchItem(items []exotelItem, j, n int, to string) (exotelItem, bool) {
	if len(items) == n {
		return items[j], true
	}
	want := digits(to)
	for _, it := range items {
		if it.SMSMessage != nil && want != "" && strings.HasSuffix(digits(it.SMSMessage.To), want[max(0, len(want)-10):]) {
			return it, true
		}
	}
	return exotelItem{}, false
}

// refusal reads a non-2xx answer: a RestException in JSON or in XML.
func (x *exotel) refusal(a answer) *Error {
	var item exotelItem
	if json.Unmarshal(a.body, &item) == nil && item.RestException != nil {
		return x.exception(a, item.RestException)
	}
	var xr struct {
		RestException exotelException `xml:"RestException"`
	}
	if b := bytes.TrimSpace(a.body); len(b) > 0 && b[0] == '<' && xml.Unmarshal(b, &xr) == nil {
		e := xr.RestException
		return statusError(x.name, a, strings.TrimSpace(e.XCode), e.Message)
	}
	return statusError(x.name, a, "", string(a.body))
}

// exception classifies a RestException: its Status is the HTTP status of
// that message (inside a 200/207 bulk answer too).
func (x *exotel) exception(a answer, e *exotelException) *Error {
	st := a.status
	if n, err := strconv.Atoi(strings.Trim(string(e.Status), `"`)); err == nil && n > 0 {
		st = n
	}
	if st >= 200 && st < 300 {
		st = http.StatusBadRequest
	}
	return statusError(x.name, answer{status: st, header: a.header}, strings.Trim(string(e.Code), `"`), e.Message)
}

func setIf(f url.Values, k, v string) {
	if v != "" {
		f.Set(k, v)
	}
}
