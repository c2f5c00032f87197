package providertest

import (
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// maxBatchBody bounds a batch request (1000 messages of a few hundred bytes).
const maxBatchBody = 4 << 20

// MaxBatch is the most messages the fake takes in one batch request
// (SMS_WEBHOOK_BATCH's upper bound).
const MaxBatch = 1000

// BatchResult is one entry of a batch answer (SPEC §8).
type BatchResult struct {
	MessageID         string `json:"messageId"`
	Status            string `json:"status"` // accepted, rejected or retry
	ProviderMessageID string `json:"providerMessageId,omitempty"`
	Error             string `json:"error,omitempty"`
}

// validateBatch reads {"messages": [ <SPEC §6 body>, … ]}: 1 to MaxBatch
// messages, each with messageId and to, no id twice.
func validateBatch(body []byte) ([]Message, int, string) {
	var b struct {
		Messages []Message `json:"messages"`
	}
	if err := json.Unmarshal(body, &b); err != nil {
		return nil, http.StatusBadRequest, "body is not a JSON batch"
	}
	if len(b.Messages) == 0 || len(b.Messages) > MaxBatch {
		return nil, http.StatusBadRequest, "messages must hold 1 to " + strconv.Itoa(MaxBatch) + " messages"
	}
	seen := make(map[string]bool, len(b.Messages))
	for i, m := range b.Messages {
		switch {
		case m.MessageID == "":
			return nil, http.StatusBadRequest, "messages[" + strconv.Itoa(i) + "].messageId is required"
		case m.To == "":
			return nil, http.StatusBadRequest, "messages[" + strconv.Itoa(i) + "].to is required"
		case seen[m.MessageID]:
			return nil, http.StatusBadRequest, "messages[" + strconv.Itoa(i) + "].messageId repeats an earlier one"
		}
		seen[m.MessageID] = true
	}
	return b.Messages, 0, ""
}

// listed says whether a message id is in RejectIDs (fReject) or RetryIDs
// (f5xx).
func (s *Server) listed(id string) fault {
	s.fmu.Lock()
	defer s.fmu.Unlock()
	switch {
	case slices.Contains(s.faults.RejectIDs, id):
		return fReject
	case slices.Contains(s.faults.RetryIDs, id):
		return f5xx
	}
	return fNone
}

// acceptBatch answers each message of a batch on its own: listed ids are
// rejected or retried, the others accepted and recorded as single sends are.
func (s *Server) acceptBatch(w http.ResponseWriter, msgs []Message) {
	res := make([]BatchResult, len(msgs))
	for i, m := range msgs {
		res[i].MessageID = m.MessageID
		switch s.listed(m.MessageID) {
		case fReject:
			res[i].Status, res[i].Error = "rejected", "invalid number"
		case f5xx:
			res[i].Status, res[i].Error = "retry", "try again later"
		default:
			res[i].Status, res[i].ProviderMessageID = "accepted", s.record(m)
		}
	}
	s.batches.Add(1)
	body, _ := json.Marshal(struct {
		Results []BatchResult `json:"results"`
	}{res})
	writeJSON(w, http.StatusOK, string(body))
}

// Batches is the number of batch requests answered with results.
func (s *Server) Batches() int { return int(s.batches.Load()) }

// isBatchBody is true for the batch form's body.
func isBatchBody(b []byte) bool { return strings.Contains(string(b), `"messages"`) }
