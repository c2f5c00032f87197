// Package providertest is a fake SMS provider: a real HTTP server on loopback
// speaking the webhook protocol of SPEC §6, with injectable faults and a
// record of what it accepted. Unit, end-to-end and fault tests use it to
// prove exactly-once sending; it is cheap per request so benchmarks can too.
//
// Each request is first validated (method POST, Content-Type
// application/json, bearer token when Options.Token is set, a JSON body with
// messageId and to, Idempotency-Key equal to messageId): a bad request is
// answered 401 or 400 and never faulted. Then faults apply in this order:
// Latency, Outage (503), TooManyBurst (429), then one random draw that picks
// at most one of timeout, drop, 5xx (500) or 4xx reject (400), with the given
// probabilities. A request that gets past all of them is accepted with 200 and
// {"providerMessageId": "pm-<n>"}, unless its id is in RejectIDs or RetryIDs.
//
// A body with "messages" is the batch form of SPEC §8: the same faults apply
// to the request as a whole, then each message is answered on its own in
// {"results": […]} (RejectIDs "rejected", RetryIDs "retry", the others
// "accepted" and recorded exactly as single sends are).
//
// The fakes of the real gateways (NewExotel, NewMSG91, NewKaleyra,
// NewGupshup, NewTwilio) are in the gateway*.go and <provider>.go files.
package providertest

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Faults to inject. Rates are probabilities in 0..1 drawn independently per
// request (the four rates share one draw, so their sum should stay <= 1).
type Faults struct {
	// Latency delays every request (after validation) before it is answered.
	Latency time.Duration
	// Fail5xxRate answers 500.
	Fail5xxRate float64
	// TimeoutRate holds the request unanswered until the client gives up or
	// the server is closed.
	TimeoutRate float64
	// DropRate closes the connection without an answer.
	DropRate float64
	// Reject4xxRate answers 400 {"error":"rejected","reason":"invalid number"}.
	Reject4xxRate float64
	// TooManyBurst answers 429 to the next N requests.
	TooManyBurst int
	// RetryAfter is sent (whole seconds, rounded up) as Retry-After with 429;
	// 0 sends no Retry-After.
	RetryAfter time.Duration
	// Outage answers 503 to every request.
	Outage bool
	// RejectIDs are message ids refused for good: 400 to a single send,
	// "rejected" inside a batch (the other messages of the batch are
	// accepted).
	RejectIDs []string
	// RetryIDs are message ids answered "retry" inside a batch (and 503 to a
	// single send), every time.
	RetryIDs []string
}

// Options configures Start.
type Options struct {
	// Token, if set, is required as "Authorization: Bearer <Token>" (401 otherwise).
	Token  string
	Faults Faults
	// Seed seeds the fault draws.
	Seed int64
	// Dedupe makes the server behave like a provider that deduplicates by
	// Idempotency-Key: a message id accepted before is answered 200 again
	// (with the same providerMessageId) but not counted again in Accepted;
	// such requests are counted by Duplicates.
	Dedupe bool
	// NoProviderMessageID makes accepted requests answer 202 with an empty
	// body instead of 200 with {"providerMessageId": …}.
	NoProviderMessageID bool
}

// Message is the request body of SPEC §6 as the server received it (one
// entry of "messages" in batch mode).
type Message struct {
	MessageID     string `json:"messageId"`
	To            string `json:"to"`
	From          string `json:"from"`
	Body          string `json:"body"`
	TemplateID    string `json:"templateId"`
	DLTTemplateID string `json:"dltTemplateId"`
	DLTEntityID   string `json:"dltEntityId"`
	CampaignID    string `json:"campaignId"`
	CustomerID    string `json:"customerId"`
	InitiationID  string `json:"initiationId"`
}

type entry struct {
	count int    // times accepted with 2xx (duplicates under Dedupe excluded)
	pmid  string // providerMessageId of the first acceptance
	msg   Message
}

// Server is a running fake provider. Its methods are safe for concurrent use.
type Server struct {
	// URL is the webhook URL to post to, e.g. "http://127.0.0.1:34567".
	URL string

	opts    Options
	hts     *httptest.Server
	closing chan struct{}
	once    sync.Once

	requests atomic.Int64
	batches  atomic.Int64
	conns    atomic.Int64
	pmSeq    atomic.Int64

	fmu    sync.Mutex // guards faults, burst, rng
	faults Faults
	burst  int
	rng    *rand.Rand

	mu         sync.Mutex // guards the record below
	accepted   map[string]*entry
	total      int
	duplicates int
	notify     chan struct{} // closed on the next new distinct id; nil if nobody waits
	closed     bool
}

// Start starts a fake provider on a loopback port. Close it when done.
func Start(opts Options) *Server {
	s := &Server{
		opts:     opts,
		closing:  make(chan struct{}),
		accepted: make(map[string]*entry),
		rng:      rand.New(rand.NewPCG(uint64(opts.Seed), uint64(opts.Seed)^0x9e3779b97f4a7c15)),
	}
	s.setFaultsLocked(opts.Faults)
	s.hts = httptest.NewUnstartedServer(http.HandlerFunc(s.serveHTTP))
	s.hts.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			s.conns.Add(1)
		}
	}
	s.hts.Start()
	s.URL = s.hts.URL
	return s
}

// Close releases held (timeout-faulted or delayed) requests, shuts the server
// down and waits for its handlers to return. It is safe to call twice.
func (s *Server) Close() {
	s.once.Do(func() {
		close(s.closing)
		s.mu.Lock()
		s.closed = true
		if s.notify != nil {
			close(s.notify)
			s.notify = nil
		}
		s.mu.Unlock()
		s.hts.CloseClientConnections()
		s.hts.Close()
	})
}

// SetFaults replaces the faults for later requests; TooManyBurst restarts
// counting from the new value.
func (s *Server) SetFaults(f Faults) {
	s.fmu.Lock()
	s.setFaultsLocked(f)
	s.fmu.Unlock()
}

func (s *Server) setFaultsLocked(f Faults) {
	s.faults = f
	s.burst = f.TooManyBurst
}

// Requests is the number of requests received, whatever their answer.
func (s *Server) Requests() int { return int(s.requests.Load()) }

// Connections is the number of TCP connections clients opened.
func (s *Server) Connections() int { return int(s.conns.Load()) }

const maxBody = 64 << 10

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

func putBuf(b *bytes.Buffer) {
	b.Reset()
	bufPool.Put(b)
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	s.requests.Add(1)
	msg, batch, status, reason := s.validate(w, r)
	if status != 0 {
		writeJSON(w, status, `{"error":"bad_request","reason":`+strconv.Quote(reason)+`}`)
		return
	}

	fault, latency, retryAfter := s.draw()
	if latency > 0 {
		t := time.NewTimer(latency)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		case <-s.closing:
			t.Stop()
			abort(w)
			return
		}
	}
	switch fault {
	case fOutage:
		writeJSON(w, http.StatusServiceUnavailable, `{"error":"unavailable","reason":"provider outage"}`)
		return
	case fTooMany:
		if retryAfter > 0 {
			secs := int64((retryAfter + time.Second - 1) / time.Second)
			w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
		}
		writeJSON(w, http.StatusTooManyRequests, `{"error":"rate_limited","reason":"too many requests"}`)
		return
	case fTimeout:
		select {
		case <-r.Context().Done():
		case <-s.closing:
			abort(w)
		}
		return
	case fDrop:
		abort(w)
		return
	case f5xx:
		writeJSON(w, http.StatusInternalServerError, `{"error":"internal","reason":"provider internal error"}`)
		return
	case fReject:
		writeJSON(w, http.StatusBadRequest, `{"error":"rejected","reason":"invalid number"}`)
		return
	}
	if batch != nil {
		s.acceptBatch(w, batch)
		return
	}
	switch s.listed(msg.MessageID) {
	case fReject:
		writeJSON(w, http.StatusBadRequest, `{"error":"rejected","reason":"invalid number"}`)
		return
	case f5xx:
		writeJSON(w, http.StatusServiceUnavailable, `{"error":"retry","reason":"try again later"}`)
		return
	}
	s.accept(w, msg)
}

// abort closes the connection without an answer.
func abort(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			_ = conn.Close()
			return
		}
	}
	panic(http.ErrAbortHandler)
}

// validate checks a request: a single message (SPEC §6) or, when the body
// has "messages", a batch (SPEC §8) returned as batch.
func (s *Server) validate(w http.ResponseWriter, r *http.Request) (msg Message, batch []Message, status int, reason string) {
	if r.Method != http.MethodPost {
		return msg, nil, http.StatusBadRequest, "method must be POST"
	}
	if s.opts.Token != "" && r.Header.Get("Authorization") != "Bearer "+s.opts.Token {
		return msg, nil, http.StatusUnauthorized, "missing or wrong bearer token"
	}
	if ct := r.Header.Get("Content-Type"); len(ct) < 16 || !equalFoldASCII(ct[:16], "application/json") {
		return msg, nil, http.StatusBadRequest, "content type must be application/json"
	}
	// Read to EOF so that the server notices a client that hangs up.
	buf := bufPool.Get().(*bytes.Buffer)
	defer putBuf(buf)
	if _, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, maxBatchBody)); err != nil {
		return msg, nil, http.StatusBadRequest, "cannot read body"
	}
	if isBatchBody(buf.Bytes()) {
		batch, status, reason = validateBatch(buf.Bytes())
		return msg, batch, status, reason
	}
	if buf.Len() > maxBody {
		return msg, nil, http.StatusBadRequest, "body too large"
	}
	if err := json.Unmarshal(buf.Bytes(), &msg); err != nil {
		return msg, nil, http.StatusBadRequest, "body is not a JSON message"
	}
	switch {
	case msg.MessageID == "":
		return msg, nil, http.StatusBadRequest, "messageId is required"
	case msg.To == "":
		return msg, nil, http.StatusBadRequest, "to is required"
	case r.Header.Get("Idempotency-Key") != msg.MessageID:
		return msg, nil, http.StatusBadRequest, "Idempotency-Key must equal messageId"
	}
	return msg, nil, 0, ""
}

type fault int

const (
	fNone fault = iota
	fOutage
	fTooMany
	fTimeout
	fDrop
	f5xx
	fReject
)

func (s *Server) draw() (fault, time.Duration, time.Duration) {
	s.fmu.Lock()
	defer s.fmu.Unlock()
	f := &s.faults
	switch {
	case f.Outage:
		return fOutage, f.Latency, 0
	case s.burst > 0:
		s.burst--
		return fTooMany, f.Latency, f.RetryAfter
	}
	if f.TimeoutRate <= 0 && f.DropRate <= 0 && f.Fail5xxRate <= 0 && f.Reject4xxRate <= 0 {
		return fNone, f.Latency, 0
	}
	x := s.rng.Float64()
	for _, c := range [...]struct {
		rate float64
		f    fault
	}{{f.TimeoutRate, fTimeout}, {f.DropRate, fDrop}, {f.Fail5xxRate, f5xx}, {f.Reject4xxRate, fReject}} {
		if c.rate > 0 && x < c.rate {
			return c.f, f.Latency, 0
		}
		x -= max(c.rate, 0)
	}
	return fNone, f.Latency, 0
}

func writeJSON(w http.ResponseWriter, status int, body string) {
	h := w.Header()
	h["Content-Type"] = []string{"application/json"}
	h["Content-Length"] = []string{strconv.Itoa(len(body))}
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
}

func equalFoldASCII(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
